"""Week cells: a checkpoint's day cells of one UTC week (Monday to Sunday) merged into one
row, with its dwell index, for an admin's weekly trends (rollups.py, WEEK).

Revision ID: a9c3e5f7b204
Revises: f2b8d4e6a1c3
Create Date: 2026-12-06

Every existing day cell is marked here, as for the month cells (c4e8a2b6d1f7): the first
refresh builds the week rows with the day rows; until then the reports read those cells
from the stops.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a9c3e5f7b204"
down_revision: str | Sequence[str] | None = "f2b8d4e6a1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "week_cells",
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("arrival_day", sa.Integer(), nullable=False),
        sa.Column("stops", sa.Integer(), nullable=False),
        sa.Column("completed_stops", sa.Integer(), nullable=False),
        sa.Column("timed_stops", sa.Integer(), nullable=False),
        sa.Column("total_dwell_minutes", sa.Float(), nullable=False),
        sa.Column("held_stops", sa.Integer(), nullable=False),
        sa.Column("turned_back_stops", sa.Integer(), nullable=False),
        sa.Column("dwell_values", sa.LargeBinary(), nullable=False),
        sa.Column("dwell_index", sa.LargeBinary(), nullable=False),
        sa.Column("holds", sa.LargeBinary(), nullable=False),
        sa.Column("fees", sa.LargeBinary(), nullable=False),
        sa.Column("exporters", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("checkpoint_id", "arrival_day", name=op.f("pk_week_cells")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE week_cells ALTER COLUMN dwell_values SET STORAGE EXTERNAL")
    op.execute(
        "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) "
        "SELECT checkpoint_id, arrival_day FROM day_cells"
    )


def downgrade() -> None:
    op.drop_table("week_cells")
