"""Shipments count their event-adding transactions (events_version), so the event writer
can tell whether its cached projection of a shipment's events is still current.

Revision ID: 6640d713652a
Revises: 42c62aff79ae
Create Date: 2026-11-29 09:16:33.379586

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "6640d713652a"
down_revision: str | Sequence[str] | None = "42c62aff79ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("events_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_column("events_version")
