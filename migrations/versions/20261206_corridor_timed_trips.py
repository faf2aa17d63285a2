"""The CAREC CPMM figures in corridor cells (issue 17, part 4): per cell, its "timed" trips
(delivered, over a known distance), their kilometres, transit minutes and stops' dwell
minutes, and the fees paid on them per currency — the sums behind `speed_with_delay_kmh`,
`speed_without_delay_kmh`, `time_at_checkpoints_share` and `cost_per_trip`.

Revision ID: d4e6f8a0b2c5
Revises: 8bc1ed9907e4
Create Date: 2026-12-06

No trigger changes: what these sums read (a trip's transit time and distance, a stop's
dwell, a fee's amount and currency, a stop or fee written or deleted) marks the cell
already (20261206_corridor_cells). Every existing corridor cell is marked here: the first
refresh fills the sums; until then the reports read those cells from the trips.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e6f8a0b2c5"
down_revision: str | Sequence[str] | None = "8bc1ed9907e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBERS = (
    ("timed_trips", sa.Integer()),
    ("timed_km", sa.Float()),
    ("timed_transit_minutes", sa.Float()),
    ("timed_checkpoint_minutes", sa.Float()),
)
POSTGRES_DAY = "((departed_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
SQLITE_DAY = "CAST(julianday(date(departed_at)) - 2440587.5 AS INTEGER)"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, type_ in NUMBERS:
        op.add_column("corridor_cells", sa.Column(name, type_, server_default="0", nullable=False))
    # An empty blob for the rows there are (SQLite's blob literal; PostgreSQL's bytea).
    empty = sa.text("'\\x'::bytea") if postgres else sa.text("X''")
    op.add_column(
        "corridor_cells",
        sa.Column("timed_fees", sa.LargeBinary(), server_default=empty, nullable=False),
    )
    day = POSTGRES_DAY if postgres else SQLITE_DAY
    op.execute(
        "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
        f"SELECT DISTINCT origin_province, destination_province, {day} "
        "FROM shipments WHERE departed_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("corridor_cells", "timed_fees")
    for name, _ in reversed(NUMBERS):
        op.drop_column("corridor_cells", name)
