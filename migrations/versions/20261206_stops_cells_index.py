"""An index in the order of advocates' protected cells (checkpoint × UTC day, exporter).

Revision ID: 3f8a6c2e1b47
Revises: c7e5a1f3d920
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3f8a6c2e1b47"
down_revision: str | Sequence[str] | None = "c7e5a1f3d920"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_stops_cells",
        "stops",
        [
            "checkpoint_id",
            "arrival_day",
            "organization_id",
            "outcome",
            "dwell_minutes",
            "hold_count",
        ],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_stops_cells", table_name="stops")
