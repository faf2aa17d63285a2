"""The reports' day-cell rollups, and the triggers that log which cells a write touched.

Revision ID: b3e3f706fa9a
Revises: 366554cd7946
Create Date: 2026-12-06

The triggers append (checkpoint, day) to rollup_dirty for the old and the new cell of every
row of stops, stop_holds, stop_fees and stop_procedures that is inserted, updated or deleted, inside the
writing transaction. Append-only (no upsert): a mark never conflicts, so two writers never
wait on each other for a mark, and a refresh deletes exactly the marks it read.

Every existing cell is marked here: the first refresh builds the rollups; until then the
reports read those cells from the stops, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3e3f706fa9a"
down_revision: str | Sequence[str] | None = "366554cd7946"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("stops", "stop_holds", "stop_fees", "stop_procedures")

POSTGRES_FUNCTION = """
CREATE FUNCTION mark_rollup_cells() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.arrival_day IS NOT NULL THEN
    INSERT INTO rollup_dirty (checkpoint_id, arrival_day)
    VALUES (OLD.checkpoint_id, OLD.arrival_day);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.arrival_day IS NOT NULL AND (
    TG_OP = 'INSERT'
    OR NEW.checkpoint_id IS DISTINCT FROM OLD.checkpoint_id
    OR NEW.arrival_day IS DISTINCT FROM OLD.arrival_day
  ) THEN
    INSERT INTO rollup_dirty (checkpoint_id, arrival_day)
    VALUES (NEW.checkpoint_id, NEW.arrival_day);
  END IF;
  RETURN NULL;
END $$;
"""


def _sqlite_triggers(table: str) -> list[str]:
    mark = "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) VALUES ({0}.checkpoint_id, {0}.arrival_day);"
    return [
        f"CREATE TRIGGER {table}_mark_insert AFTER INSERT ON {table} "
        f"WHEN NEW.arrival_day IS NOT NULL BEGIN {mark.format('NEW')} END",
        f"CREATE TRIGGER {table}_mark_delete AFTER DELETE ON {table} "
        f"WHEN OLD.arrival_day IS NOT NULL BEGIN {mark.format('OLD')} END",
        f"CREATE TRIGGER {table}_mark_update_old AFTER UPDATE ON {table} "
        f"WHEN OLD.arrival_day IS NOT NULL BEGIN {mark.format('OLD')} END",
        f"CREATE TRIGGER {table}_mark_update_new AFTER UPDATE ON {table} "
        "WHEN NEW.arrival_day IS NOT NULL AND (NEW.checkpoint_id IS NOT OLD.checkpoint_id "
        f"OR NEW.arrival_day IS NOT OLD.arrival_day) BEGIN {mark.format('NEW')} END",
    ]


def _figures() -> list[sa.Column]:  # type: ignore[type-arg]
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
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "rollup_dirty",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("arrival_day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_dirty")),
    )
    op.create_index(
        "ix_rollup_dirty_cell", "rollup_dirty", ["checkpoint_id", "arrival_day"], unique=False
    )
    op.create_table(
        "day_cells",
        *_figures(),
        sa.PrimaryKeyConstraint("checkpoint_id", "arrival_day", name=op.f("pk_day_cells")),
    )
    op.create_index("ix_day_cells_by_day", "day_cells", ["arrival_day"], unique=False)
    op.create_table(
        "day_cell_cargo",
        *_figures(),
        sa.Column("hs_chapters", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint(
            "checkpoint_id", "arrival_day", "hs_chapters", name=op.f("pk_day_cell_cargo")
        ),
    )
    op.create_table(
        "day_cell_procedures",
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
            "checkpoint_id", "arrival_day", "procedure", name=op.f("pk_day_cell_procedures")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_mark_rollup_cells AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION mark_rollup_cells()"
            )
    else:
        for table in TABLES:
            for statement in _sqlite_triggers(table):
                op.execute(statement)
    op.execute(
        "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) SELECT DISTINCT checkpoint_id, "
        "arrival_day FROM stops WHERE arrival_day IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_mark_rollup_cells ON {table}")
        op.execute("DROP FUNCTION mark_rollup_cells()")
    else:
        for table in TABLES:
            for kind in ("insert", "delete", "update_old", "update_new"):
                op.execute(f"DROP TRIGGER {table}_mark_{kind}")
    op.drop_table("day_cell_procedures")
    op.drop_table("day_cell_cargo")
    op.drop_index("ix_day_cells_by_day", table_name="day_cells")
    op.drop_table("day_cells")
    op.drop_index("ix_rollup_dirty_cell", table_name="rollup_dirty")
    op.drop_table("rollup_dirty")
