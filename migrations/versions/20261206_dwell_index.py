"""Each cell's dwell index (value_index.py): a sample of its sorted dwell times every 64
values, with the sums before them, so that a report reads only the slices of dwell_values
its percentiles need. Existing rows get theirs here, from their dwell_values.

On PostgreSQL dwell_values is stored EXTERNAL (out of line, uncompressed), so that
`substr()` fetches only the chunks a slice covers rather than the whole value.

Revision ID: e1a7c3d5b902
Revises: e5362881f922
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "e1a7c3d5b902"
down_revision: str | Sequence[str] | None = "e5362881f922"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {
    "day_cells": ("checkpoint_id", "arrival_day"),
    "day_cell_cargo": ("checkpoint_id", "arrival_day", "hs_chapters"),
    "month_cells": ("checkpoint_id", "arrival_day"),
    "month_cell_cargo": ("checkpoint_id", "arrival_day", "hs_chapters"),
}
STRIDE = 64  # value_index.STRIDE when this migration was written
DAYS_PER_ROUND = 31


def index_of(packed: bytes) -> bytes:
    """value_index.index_of as of this revision (a migration keeps its own copy)."""
    values = np.frombuffer(packed, "<f8")
    before = np.concatenate(([0.0], np.cumsum(values)))
    at = np.arange(0, len(values), STRIDE)
    return np.concatenate((values[at], before[at], before[-1:])).astype("<f8").tobytes()


def upgrade() -> None:
    bind = op.get_bind()
    empty = sa.text("''::bytea" if bind.dialect.name == "postgresql" else "X''")
    for table, key in TABLES.items():
        # A plain ADD COLUMN (no table rewrite on SQLite), its default only for the rows there.
        op.add_column(
            table, sa.Column("dwell_index", sa.LargeBinary(), nullable=False, server_default=empty)
        )
        _backfill(bind, table, key)
        if bind.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN dwell_index DROP DEFAULT")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN dwell_values SET STORAGE EXTERNAL")
        # (SQLite keeps the default: dropping it would copy the whole table.)


def _backfill(bind: sa.Connection, table: str, key: tuple[str, ...]) -> None:
    first, last = bind.execute(
        sa.text(f"SELECT min(arrival_day), max(arrival_day) FROM {table}")
    ).one()
    if first is None:
        return
    columns = ", ".join(key)
    match = " AND ".join(f"{name} = :{name}" for name in key)
    update = sa.text(f"UPDATE {table} SET dwell_index = :dwell_index WHERE {match}")
    for start in range(first, last + 1, DAYS_PER_ROUND):
        rows = bind.execute(
            sa.text(
                f"SELECT {columns}, dwell_values FROM {table}"
                " WHERE arrival_day >= :start AND arrival_day < :end"
            ),
            {"start": start, "end": start + DAYS_PER_ROUND},
        ).all()
        if rows:
            bind.execute(
                update,
                [
                    {
                        **dict(zip(key, row[:-1], strict=True)),
                        "dwell_index": index_of(bytes(row[-1])),
                    }
                    for row in rows
                ],
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN dwell_values SET STORAGE EXTENDED")
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dwell_index")
