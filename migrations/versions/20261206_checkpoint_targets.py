"""A service standard per checkpoint (issue 16, targets): `target_minutes` and
`target_share`, null for the defaults (SERVICE_STANDARD_MINUTES, SERVICE_STANDARD_SHARE).

Revision ID: 36057c43be63
Revises: 58e5dbed7fdb
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "36057c43be63"
down_revision: str | Sequence[str] | None = "58e5dbed7fdb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("target_minutes", sa.Integer(), nullable=True))
    op.add_column("checkpoints", sa.Column("target_share", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("checkpoints", "target_share")
    op.drop_column("checkpoints", "target_minutes")
