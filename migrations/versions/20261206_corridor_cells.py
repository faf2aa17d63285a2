"""Corridor cells (origin × destination × UTC day of departure) and the triggers that mark
which cells a write touched.

Revision ID: 8b2f4d6e1a93
Revises: 7a790f28a78d
Create Date: 2026-12-06

Marks come from three tables, inside the writing transaction:
- shipments: the old and the new cell of a trip whose departure, corridor, distance,
  transit time, exporter or being a trip at all (planned and cancelled are not) changed;
- stops and stop_fees: the cell of their trip, on insert and delete, and on an update of
  what the corridor report reads (checkpoint, dwell, amounts).
Append-only, as rollup_dirty. The day is computed exactly from the UTC date, as
corridor_cells.departure_day() does. Every existing cell is marked here: the first refresh
builds the rows; until then reports read those cells from the trips.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b2f4d6e1a93"
down_revision: str | Sequence[str] | None = "7a790f28a78d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_TRIP = "status IN ('planned', 'cancelled')"

POSTGRES_DAY = "(({0}.departed_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
POSTGRES_FUNCTIONS = f"""
CREATE FUNCTION mark_corridor_trip() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NOT (
    (OLD.{NOT_TRIP}) IS DISTINCT FROM (NEW.{NOT_TRIP})
    OR OLD.departed_at IS DISTINCT FROM NEW.departed_at
    OR OLD.origin_province IS DISTINCT FROM NEW.origin_province
    OR OLD.destination_province IS DISTINCT FROM NEW.destination_province
    OR OLD.distance_km IS DISTINCT FROM NEW.distance_km
    OR OLD.transit_minutes IS DISTINCT FROM NEW.transit_minutes
    OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
  ) THEN
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.departed_at IS NOT NULL THEN
    INSERT INTO corridor_dirty (origin_province, destination_province, departure_day)
    VALUES (OLD.origin_province, OLD.destination_province, {POSTGRES_DAY.format("OLD")});
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.departed_at IS NOT NULL THEN
    INSERT INTO corridor_dirty (origin_province, destination_province, departure_day)
    VALUES (NEW.origin_province, NEW.destination_province, {POSTGRES_DAY.format("NEW")});
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION mark_corridor_of_trip_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  trip uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN
    trip := OLD.shipment_id;
  ELSE
    trip := NEW.shipment_id;
  END IF;
  INSERT INTO corridor_dirty (origin_province, destination_province, departure_day)
  SELECT s.origin_province, s.destination_province, {POSTGRES_DAY.format("s")}
  FROM shipments s WHERE s.id = trip AND s.departed_at IS NOT NULL;
  RETURN NULL;
END $$;
"""
# What a stop or fee update must change to matter to the corridor report.
CHANGED = {
    "stops": ("checkpoint_id", "dwell_minutes", "trip_has_distance", "shipment_id"),
    "stop_fees": ("currency", "amount", "receipt", "trip_has_distance", "shipment_id"),
}

SQLITE_DAY = "CAST(julianday(date({0}.departed_at)) - 2440587.5 AS INTEGER)"


def _sqlite_triggers() -> list[str]:
    trip_changed = " OR ".join(
        [f"(OLD.{NOT_TRIP}) IS NOT (NEW.{NOT_TRIP})"]
        + [
            f"OLD.{c} IS NOT NEW.{c}"
            for c in (
                "departed_at",
                "origin_province",
                "destination_province",
                "distance_km",
                "transit_minutes",
                "organization_id",
            )
        ]
    )

    def mark(row: str) -> str:
        return (
            "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
            f"VALUES ({row}.origin_province, {row}.destination_province, "
            f"{SQLITE_DAY.format(row)});"
        )

    statements = [
        "CREATE TRIGGER shipments_corridor_insert AFTER INSERT ON shipments "
        f"WHEN NEW.departed_at IS NOT NULL BEGIN {mark('NEW')} END",
        "CREATE TRIGGER shipments_corridor_delete AFTER DELETE ON shipments "
        f"WHEN OLD.departed_at IS NOT NULL BEGIN {mark('OLD')} END",
        "CREATE TRIGGER shipments_corridor_update_old AFTER UPDATE ON shipments "
        f"WHEN OLD.departed_at IS NOT NULL AND ({trip_changed}) BEGIN {mark('OLD')} END",
        "CREATE TRIGGER shipments_corridor_update_new AFTER UPDATE ON shipments "
        f"WHEN NEW.departed_at IS NOT NULL AND ({trip_changed}) BEGIN {mark('NEW')} END",
    ]

    def mark_trip(row: str) -> str:
        return (
            "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
            f"SELECT s.origin_province, s.destination_province, {SQLITE_DAY.format('s')} "
            f"FROM shipments s WHERE s.id = {row}.shipment_id AND s.departed_at IS NOT NULL;"
        )

    for table, columns in CHANGED.items():
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
        statements += [
            f"CREATE TRIGGER {table}_corridor_insert AFTER INSERT ON {table} "
            f"BEGIN {mark_trip('NEW')} END",
            f"CREATE TRIGGER {table}_corridor_delete AFTER DELETE ON {table} "
            f"BEGIN {mark_trip('OLD')} END",
            f"CREATE TRIGGER {table}_corridor_update AFTER UPDATE ON {table} "
            f"WHEN {changed} BEGIN {mark_trip('OLD')} {mark_trip('NEW')} END",
        ]
    return statements


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "corridor_dirty",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("origin_province", sa.String(length=32), nullable=False),
        sa.Column("destination_province", sa.String(length=32), nullable=False),
        sa.Column("departure_day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corridor_dirty")),
    )
    op.create_index(
        "ix_corridor_dirty_cell",
        "corridor_dirty",
        ["origin_province", "destination_province", "departure_day"],
        unique=False,
    )
    op.create_table(
        "corridor_cells",
        sa.Column("origin_province", sa.String(length=32), nullable=False),
        sa.Column("destination_province", sa.String(length=32), nullable=False),
        sa.Column("departure_day", sa.Integer(), nullable=False),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("with_distance", sa.Integer(), nullable=False),
        sa.Column("km", sa.Float(), nullable=False),
        sa.Column("transit", sa.LargeBinary(), nullable=False),
        sa.Column("stops", sa.LargeBinary(), nullable=False),
        sa.Column("fees", sa.LargeBinary(), nullable=False),
        sa.Column("exporters", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "origin_province",
            "destination_province",
            "departure_day",
            name=op.f("pk_corridor_cells"),
        ),
    )
    op.create_index("ix_corridor_cells_by_day", "corridor_cells", ["departure_day"], unique=False)
    op.create_index("ix_shipments_departed", "shipments", ["departed_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTIONS)
        op.execute(
            "CREATE TRIGGER shipments_mark_corridor AFTER INSERT OR UPDATE OR DELETE "
            "ON shipments FOR EACH ROW EXECUTE FUNCTION mark_corridor_trip()"
        )
        for table, columns in CHANGED.items():
            changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
            op.execute(
                f"CREATE TRIGGER {table}_mark_corridor AFTER INSERT OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION mark_corridor_of_trip_row()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_mark_corridor_update AFTER UPDATE ON {table} "
                f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION mark_corridor_of_trip_row()"
            )
        day = POSTGRES_DAY.format("shipments")
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)
        day = SQLITE_DAY.format("shipments")
    op.execute(
        "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
        f"SELECT DISTINCT origin_province, destination_province, {day} FROM shipments "
        "WHERE departed_at IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER shipments_mark_corridor ON shipments")
        for table in CHANGED:
            op.execute(f"DROP TRIGGER {table}_mark_corridor ON {table}")
            op.execute(f"DROP TRIGGER {table}_mark_corridor_update ON {table}")
        op.execute("DROP FUNCTION mark_corridor_of_trip_row()")
        op.execute("DROP FUNCTION mark_corridor_trip()")
    else:
        for kind in ("insert", "delete", "update_old", "update_new"):
            op.execute(f"DROP TRIGGER shipments_corridor_{kind}")
        for table in CHANGED:
            for kind in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_corridor_{kind}")
    op.drop_index("ix_shipments_departed", table_name="shipments")
    op.drop_index("ix_corridor_cells_by_day", table_name="corridor_cells")
    op.drop_table("corridor_cells")
    op.drop_index("ix_corridor_dirty_cell", table_name="corridor_dirty")
    op.drop_table("corridor_dirty")
