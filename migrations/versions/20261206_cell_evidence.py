"""Evidence counts in every cell (issue 15, part 5): per day, month, week, cargo, procedure
and corridor cell, its stops confirmed and contradicted by their position, its stops with
an anomaly, its fee events and those with a receipt attached (not withdrawn).

Revision ID: c5d7e9f1a3b6
Revises: a9c3e5f7b204
Create Date: 2026-12-06

Marks, inside the writing transaction as before:
- an attachment added or withdrawn marks the day cell of the fee it documents and its
  trip's corridor cell (a receipt changes `fee_receipt_photo_share`);
- a stop whose position evidence or anomalies change marks its trip's corridor cell too
  (day cells are marked on every update of a stop already).

Every existing day and corridor cell is marked here: the first refresh fills the counts
(month and week rows are recomputed with their days); until then the reports read those
cells from the stops.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5d7e9f1a3b6"
down_revision: str | Sequence[str] | None = "a9c3e5f7b204"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "day_cells",
    "day_cell_cargo",
    "month_cells",
    "month_cell_cargo",
    "week_cells",
    "day_cell_procedures",
    "month_cell_procedures",
    "corridor_cells",
)
COLUMNS = (
    "confirmed_stops",
    "contradicted_stops",
    "anomalous_stops",
    "fee_events",
    "photographed_fees",
)
# What a stop update must change to matter to the corridor report (20261206_corridor_cells,
# with the evidence now).
STOP_CHANGED = ("checkpoint_id", "dwell_minutes", "trip_has_distance", "shipment_id")
EVIDENCE_CHANGED = ("position_evidence",)

POSTGRES_DAY = "(({0}.departed_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
SQLITE_DAY = "CAST(julianday(date({0}.departed_at)) - 2440587.5 AS INTEGER)"

MARK_FEE_CELLS = (
    "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) "
    "SELECT f.checkpoint_id, f.arrival_day FROM stop_fees f "
    "WHERE f.shipment_id = NEW.shipment_id AND f.event_id = NEW.event_id "
    "AND f.arrival_day IS NOT NULL;"
)


def _mark_corridor(day: str) -> str:
    return (
        "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
        f"SELECT s.origin_province, s.destination_province, {day.format('s')} "
        "FROM shipments s WHERE s.id = NEW.shipment_id AND s.departed_at IS NOT NULL;"
    )


POSTGRES_FUNCTION = f"""
CREATE FUNCTION mark_cells_of_attachment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.withdrawn IS NOT DISTINCT FROM NEW.withdrawn
     AND OLD.kind IS NOT DISTINCT FROM NEW.kind THEN
    RETURN NULL;
  END IF;
  {MARK_FEE_CELLS}
  {_mark_corridor(POSTGRES_DAY)}
  RETURN NULL;
END $$;
"""


def _postgres_stop_trigger(columns: Sequence[str]) -> str:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    # json has no equality: anomalies are compared as text.
    changed += " OR OLD.anomalies::text IS DISTINCT FROM NEW.anomalies::text"
    return (
        "CREATE TRIGGER stops_mark_corridor_update AFTER UPDATE ON stops "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION mark_corridor_of_trip_row()"
    )


def _sqlite_stop_trigger(columns: Sequence[str]) -> str:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in (*columns, "anomalies"))

    def mark(row: str) -> str:
        return (
            "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
            f"SELECT s.origin_province, s.destination_province, {SQLITE_DAY.format('s')} "
            f"FROM shipments s WHERE s.id = {row}.shipment_id AND s.departed_at IS NOT NULL;"
        )

    return (
        "CREATE TRIGGER stops_corridor_update AFTER UPDATE ON stops "
        f"WHEN {changed} BEGIN {mark('OLD')} {mark('NEW')} END"
    )


def upgrade() -> None:
    for table in TABLES:
        for column in COLUMNS:
            op.add_column(
                table, sa.Column(column, sa.Integer(), server_default="0", nullable=False)
            )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER attachments_mark_cells AFTER INSERT OR UPDATE ON attachments "
            "FOR EACH ROW EXECUTE FUNCTION mark_cells_of_attachment()"
        )
        op.execute("DROP TRIGGER stops_mark_corridor_update ON stops")
        op.execute(_postgres_stop_trigger((*STOP_CHANGED, *EVIDENCE_CHANGED)))
        day = POSTGRES_DAY
    else:
        marks = f"{MARK_FEE_CELLS} {_mark_corridor(SQLITE_DAY)}"
        op.execute(
            f"CREATE TRIGGER attachments_mark_insert AFTER INSERT ON attachments BEGIN {marks} END"
        )
        op.execute(
            "CREATE TRIGGER attachments_mark_update AFTER UPDATE ON attachments "
            "WHEN OLD.withdrawn IS NOT NEW.withdrawn OR OLD.kind IS NOT NEW.kind "
            f"BEGIN {marks} END"
        )
        op.execute("DROP TRIGGER stops_corridor_update")
        op.execute(_sqlite_stop_trigger((*STOP_CHANGED, *EVIDENCE_CHANGED)))
        day = SQLITE_DAY
    op.execute(
        "INSERT INTO rollup_dirty (checkpoint_id, arrival_day) "
        "SELECT checkpoint_id, arrival_day FROM day_cells"
    )
    op.execute(
        "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
        f"SELECT DISTINCT origin_province, destination_province, {day.format('shipments')} "
        "FROM shipments WHERE departed_at IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER attachments_mark_cells ON attachments")
        op.execute("DROP FUNCTION mark_cells_of_attachment()")
        op.execute("DROP TRIGGER stops_mark_corridor_update ON stops")
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in STOP_CHANGED)
        op.execute(
            "CREATE TRIGGER stops_mark_corridor_update AFTER UPDATE ON stops "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION mark_corridor_of_trip_row()"
        )
    else:
        op.execute("DROP TRIGGER attachments_mark_insert")
        op.execute("DROP TRIGGER attachments_mark_update")
        op.execute("DROP TRIGGER stops_corridor_update")
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in STOP_CHANGED)
        mark = (
            "INSERT INTO corridor_dirty (origin_province, destination_province, departure_day) "
            f"SELECT s.origin_province, s.destination_province, {SQLITE_DAY.format('s')} "
            "FROM shipments s WHERE s.id = {0}.shipment_id AND s.departed_at IS NOT NULL;"
        )
        op.execute(
            "CREATE TRIGGER stops_corridor_update AFTER UPDATE ON stops "
            f"WHEN {changed} BEGIN {mark.format('OLD')} {mark.format('NEW')} END"
        )
    for table in TABLES:
        for column in reversed(COLUMNS):
            op.drop_column(table, column)
