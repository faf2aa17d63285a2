"""Month cells: a checkpoint's day cells of one UTC calendar month merged into one row, for
an admin's questions over whole months (rollups.py).

Revision ID: c4e8a2b6d1f7
Revises: 8b2f4d6e1a93
Create Date: 2026-12-06

Every existing day cell is marked here: the first refresh builds the month rows with the
day rows; until then the reports read those cells from the stops.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4e8a2b6d1f7"
down_revision: str | Sequence[str] | None = "8b2f4d6e1a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _cell_figures() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("arrival_day", sa.Integer(), nullable=False),
        sa.Column("stops", sa.Integer(), nullable=False),
        sa.Column("completed_stops", sa.Integer(), nullable=False),
        sa.Column("timed_stops", sa.Integer(), nullable=False),
        sa.Column("total_dwell_minutes", sa.Float(), nullable=False),
        sa.Column("held_stops", sa.Integer(), nullable=False),
        sa.Column("turned_back_stops", sa.Integer(), nullable=False),
        sa.Column("dwell_values", sa.LargeBinary(), nullable=False),
        sa.Column("holds", sa.LargeBinary(), nullable=False),
        sa.Column("fees", sa.LargeBinary(), nullable=False),
        sa.Column("exporters", sa.LargeBinary(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "month_cells",
        *_cell_figures(),
        sa.PrimaryKeyConstraint("checkpoint_id", "arrival_day", name=op.f("pk_month_cells")),
    )
    op.create_table(
        "month_cell_cargo",
        *_cell_figures(),
        sa.Column("hs_chapters", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint(
            "checkpoint_id", "arrival_day", "hs_chapters", name=op.f("pk_month_cell_cargo")
        ),
    )
    op.create_table(
        "month_cell_procedures",
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("arrival_day", sa.Integer(), nullable=False),
        sa.Column("procedure", sa.String(length=32), nullable=False),
        sa.Column("first_runs", sa.Integer(), nullable=False),
        sa.Column("timed_runs", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("untimed_minutes", sa.Float(), nullable=False),
        sa.Column("minute_values", sa.LargeBinary(), nullable=False),
        sa.Column("exporters", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "checkpoint_id", "arrival_day", "procedure", name=op.f("pk_month_cell_procedures")
        ),
    )
    op.execute(
        "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) "
        "SELECT checkpoint_id, arrival_day FROM day_cells"
    )


def downgrade() -> None:
    op.drop_table("month_cell_procedures")
    op.drop_table("month_cell_cargo")
    op.drop_table("month_cells")
