"""PostgreSQL: a corridor cell's packed records kept in its row, uncompressed. An admin's
corridor report adds up every cell of its window in one aggregate (14,400 cells at 1M stops
and at 10M alike: 24 corridors × 600 days). At 10M stops a cell's row grows past 2 KB
(1.3 KB of stop records, ~1.1 KB of transit times, ~0.5 KB of exporters), the point where
PostgreSQL starts to compress its largest values and move them into the TOAST table: every
cell's transit times came back through pglz and its stop records through a TOAST index
look-up, and the aggregate took 178–217 ms against 110–130 ms for the same rows kept inline
uncompressed (EXPLAIN ANALYZE, 10M benchmark; 75 ms at 1M, where the rows fit).
Sorted floats and random ids hardly compress (15.5 MB of transit times to 9.6), so nothing
is lost by storing them plain. `toast_tuple_target` 8160: a row is toasted only past a
page's worth; a larger one moves its values out of line, still uncompressed (EXTERNAL).

The values already stored are written again (`|| ''` makes a new value), so that they are
stored by the new rule. SQLite stores a row's values as they are: nothing to do there.

Revision ID: e8a0c2d4f6b7
Revises: d7f9b1c3e5a6
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e8a0c2d4f6b7"
down_revision: str | Sequence[str] | None = "d7f9b1c3e5a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PACKED = ("transit", "stops", "fees", "exporters", "timed_fees")
ROW_TARGET = 8160  # PostgreSQL's largest: a heap page less its header


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE corridor_cells SET (toast_tuple_target = {ROW_TARGET})")
    storage = ", ".join(f"ALTER COLUMN {column} SET STORAGE EXTERNAL" for column in PACKED)
    op.execute(f"ALTER TABLE corridor_cells {storage}")
    rewrite = ", ".join(f"{column} = {column} || ''::bytea" for column in PACKED)
    op.execute(f"UPDATE corridor_cells SET {rewrite}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE corridor_cells RESET (toast_tuple_target)")
    storage = ", ".join(f"ALTER COLUMN {column} SET STORAGE EXTENDED" for column in PACKED)
    op.execute(f"ALTER TABLE corridor_cells {storage}")
