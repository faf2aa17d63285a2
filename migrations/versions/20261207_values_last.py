"""SQLite: the cell tables rewritten with their sorted values last. SQLite keeps a row's
columns in the order of its table, and reaches a column stored after a large value only
through that value's overflow pages: a month cell's index, holds and fees sat after its
~100 KB of dwell times (10M stops), so a report reading 800 month cells walked 80 MB of
pages it did not want (32 ms of the checkpoint report's ~140 at 10M; 2 ms with the values
last). PostgreSQL keeps large values out of line (TOAST) whatever their place: nothing to
do there. The tables created since (the network's) have their values last already.

Revision ID: d7f9b1c3e5a6
Revises: c5e7a9b1d3f4
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d7f9b1c3e5a6"
down_revision: str | Sequence[str] | None = "c5e7a9b1d3f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVIDENCE = (
    "confirmed_stops",
    "contradicted_stops",
    "anomalous_stops",
    "fee_events",
    "photographed_fees",
)
COUNTS = (
    "stops",
    "completed_stops",
    "timed_stops",
    "total_dwell_minutes",
    "held_stops",
    "turned_back_stops",
)
# The order: keys, counts, evidence, then the blobs from the most read to the largest.
DWELL = (*COUNTS, *EVIDENCE, "dwell_index", "holds", "fees", "exporters", "dwell_values")
PROCEDURES = (
    "checkpoint_id",
    "arrival_day",
    "procedure",
    "first_runs",
    "timed_runs",
    "minutes",
    "untimed_minutes",
    *EVIDENCE,
    "minute_index",
    "exporters",
    "minute_values",
)
ORDERS = {
    "day_cells": ("checkpoint_id", "arrival_day", *DWELL),
    "month_cells": ("checkpoint_id", "arrival_day", *DWELL),
    "week_cells": ("checkpoint_id", "arrival_day", *DWELL),
    "day_cell_cargo": ("checkpoint_id", "arrival_day", "hs_chapters", *DWELL),
    "month_cell_cargo": ("checkpoint_id", "arrival_day", "hs_chapters", *DWELL),
    "day_cell_procedures": PROCEDURES,
    "month_cell_procedures": PROCEDURES,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, order in ORDERS.items():
        with op.batch_alter_table(table, recreate="always", partial_reordering=[order]):
            pass


def downgrade() -> None:
    pass  # the order of columns is not part of the schema's meaning: nothing to undo
