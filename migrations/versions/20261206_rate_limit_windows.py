"""The login throttle's windows in the database, shared by every worker when there is no
Redis (auth/throttle_storage.py): one row per key, deleted once it has expired.

Revision ID: 366554cd7946
Revises: 3f8a6c2e1b47
Create Date: 2026-12-06 02:52:55.376284

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "366554cd7946"
down_revision: str | Sequence[str] | None = "3f8a6c2e1b47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("hits", sa.JSON(), nullable=False),
        sa.Column("counter", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_windows")),
    )
    with op.batch_alter_table("rate_limit_windows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rate_limit_windows_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("rate_limit_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_windows_expires_at"))

    op.drop_table("rate_limit_windows")
