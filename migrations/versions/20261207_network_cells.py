"""The network's weeks and months of cargo: per UTC week, every checkpoint's week cell
merged into one row, and per UTC month and set of HS chapters, every checkpoint's month
cargo cell (checkpoint_id: the nil UUID), for an admin's weekly trend and commodity report
over the whole network (rollups.py, WEEK.networks, MONTH.networks). Not filled here: the
refreshes write the settled periods without rows a few at a time, the latest first
(rollups.pool_ended), and until then the reports read those periods from their
checkpoints' cells.

Revision ID: c5e7a9b1d3f4
Revises: b4d6f8a0c2e3
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5e7a9b1d3f4"
down_revision: str | Sequence[str] | None = "b4d6f8a0c2e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVIDENCE = (
    "confirmed_stops",
    "contradicted_stops",
    "anomalous_stops",
    "fee_events",
    "photographed_fees",
)


def upgrade() -> None:
    for table, chapters in (("week_network_cells", False), ("month_network_cargo", True)):
        op.create_table(
            table,
            sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
            sa.Column("arrival_day", sa.Integer(), nullable=False),
            *(
                [sa.Column("hs_chapters", sa.String(length=300), nullable=False)]
                if chapters
                else []
            ),
            sa.Column("stops", sa.Integer(), nullable=False),
            sa.Column("completed_stops", sa.Integer(), nullable=False),
            sa.Column("timed_stops", sa.Integer(), nullable=False),
            sa.Column("total_dwell_minutes", sa.Float(), nullable=False),
            sa.Column("held_stops", sa.Integer(), nullable=False),
            sa.Column("turned_back_stops", sa.Integer(), nullable=False),
            sa.Column("holds", sa.LargeBinary(), nullable=False),
            sa.Column("fees", sa.LargeBinary(), nullable=False),
            sa.Column("exporters", sa.LargeBinary(), nullable=False),
            *(
                sa.Column(name, sa.Integer(), server_default="0", nullable=False)
                for name in EVIDENCE
            ),
            # The values last: SQLite keeps a row's columns in order, and reaches a column
            # after a large value only through its overflow pages (~1 MB a week at 10M).
            sa.Column("dwell_index", sa.LargeBinary(), nullable=False),
            sa.Column("dwell_values", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint(
                "checkpoint_id",
                "arrival_day",
                *(["hs_chapters"] if chapters else []),
                name=op.f(f"pk_{table}"),
            ),
        )
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN dwell_values SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("month_network_cargo")
    op.drop_table("week_network_cells")
