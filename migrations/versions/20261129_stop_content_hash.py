"""Stops carry a digest of their content, so a rebuild rewrites only the stops that changed.

Existing stops get none (NULL): each is rewritten once, at its shipment's next event.

Revision ID: 42c62aff79ae
Revises: 685f6f41eb57
Create Date: 2026-11-29 08:31:54.435205

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "42c62aff79ae"
down_revision: str | Sequence[str] | None = "685f6f41eb57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("stops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("stops", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
