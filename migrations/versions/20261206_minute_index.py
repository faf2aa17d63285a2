"""Each procedure cell's minute index (value_index.py), as the day and month cells' dwell
index (e1a7c3d5b902): a sample of its sorted minutes every 64 values with the sums before
them, filled here for existing rows; minute_values EXTERNAL on PostgreSQL.

Revision ID: f2b8d4e6a1c3
Revises: e1a7c3d5b902
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "f2b8d4e6a1c3"
down_revision: str | Sequence[str] | None = "e1a7c3d5b902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("day_cell_procedures", "month_cell_procedures")
KEY = ("checkpoint_id", "arrival_day", "procedure")
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
    for table in TABLES:
        # A plain ADD COLUMN (no table rewrite on SQLite), its default only for the rows there.
        op.add_column(
            table, sa.Column("minute_index", sa.LargeBinary(), nullable=False, server_default=empty)
        )
        _backfill(bind, table)
        if bind.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN minute_index DROP DEFAULT")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN minute_values SET STORAGE EXTERNAL")
        # (SQLite keeps the default: dropping it would copy the whole table.)


def _backfill(bind: sa.Connection, table: str) -> None:
    bounds = sa.text(f"SELECT min(arrival_day), max(arrival_day) FROM {table}")
    first, last = bind.execute(bounds).one()
    if first is None:
        return
    match = " AND ".join(f"{name} = :{name}" for name in KEY)
    update = sa.text(f"UPDATE {table} SET minute_index = :minute_index WHERE {match}")
    for start in range(first, last + 1, DAYS_PER_ROUND):
        rows = bind.execute(
            sa.text(
                f"SELECT {', '.join(KEY)}, minute_values FROM {table}"
                " WHERE arrival_day >= :start AND arrival_day < :end"
            ),
            {"start": start, "end": start + DAYS_PER_ROUND},
        ).all()
        if rows:
            bind.execute(
                update,
                [
                    {
                        **dict(zip(KEY, row[:-1], strict=True)),
                        "minute_index": index_of(bytes(row[-1])),
                    }
                    for row in rows
                ],
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN minute_values SET STORAGE EXTENDED")
        with op.batch_alter_table(table) as batch:
            batch.drop_column("minute_index")
