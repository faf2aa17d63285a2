"""Reports: stops (and their holds, procedures and fees) carry their arrival day and their
shipment's HS chapters, with covering indexes; procedure rows number their runs.

Revision ID: 9b1e4c2d7a10
Revises: 6640d713652a
Create Date: 2026-11-29 11:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "9b1e4c2d7a10"
down_revision: str | Sequence[str] | None = "6640d713652a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("stops", "stop_holds", "stop_procedures", "stop_fees")
ROLLUP_COLUMNS = ["dwell_minutes", "outcome", "hold_count", "organization_id"]
PROCEDURE_REPORT = [
    "procedure",
    "minutes",
    "run_number",
    "organization_id",
    "checkpoint_id",
    "arrived_at",
]


def upgrade() -> None:
    """Upgrade schema."""
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("arrival_day", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("hs_chapters", sa.String(length=300), nullable=True))
        _fill_keys(table)
    with op.batch_alter_table("stop_procedures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_number", sa.Integer(), nullable=True))
    _number_runs()
    with op.batch_alter_table("stop_procedures", schema=None) as batch_op:
        batch_op.alter_column("run_number", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ix_stop_procedures_report")
        batch_op.create_index("ix_stop_procedures_report", PROCEDURE_REPORT, unique=False)

    with op.batch_alter_table("stops", schema=None) as batch_op:
        for key, name in (("arrival_day", "by_day"), ("hs_chapters", "by_chapters")):
            batch_op.create_index(f"ix_stops_{name}", [key, *ROLLUP_COLUMNS], unique=False)
    for key, name in (("arrival_day", "by_day"), ("hs_chapters", "by_chapters")):
        with op.batch_alter_table("stop_holds", schema=None) as batch_op:
            batch_op.create_index(f"ix_stop_holds_{name}", [key, "reason"], unique=False)
        with op.batch_alter_table("stop_fees", schema=None) as batch_op:
            batch_op.create_index(
                f"ix_stop_fees_{name}", [key, "currency", "receipt", "amount"], unique=False
            )


def _fill_keys(table: str) -> None:
    """The UTC day of arrival (days since 1970-01-01) and the shipment's distinct chapters,
    sorted and comma-separated, as app/tracking/materialize.py writes them."""
    if op.get_bind().dialect.name == "sqlite":
        # arrived_at is stored as 'YYYY-MM-DD HH:MM:SS…' in UTC
        day = "CAST(julianday(substr(arrived_at, 1, 10)) - 2440587.5 AS INTEGER)"
        chapters = (
            "(SELECT group_concat(hs_chapter, ',') FROM (SELECT DISTINCT c.hs_chapter "
            f"FROM cargo_lines c WHERE c.shipment_id = {table}.shipment_id "
            "ORDER BY c.hs_chapter))"
        )
    else:
        day = "(timezone('UTC', arrived_at)::date - DATE '1970-01-01')"
        chapters = (
            "(SELECT string_agg(DISTINCT c.hs_chapter, ',' ORDER BY c.hs_chapter) "
            f"FROM cargo_lines c WHERE c.shipment_id = {table}.shipment_id)"
        )
    op.execute(f"UPDATE {table} SET arrival_day = {day}, hs_chapters = {chapters}")


def _number_runs() -> None:
    op.execute(
        "UPDATE stop_procedures SET run_number = (SELECT numbered.n FROM (SELECT id, "
        "row_number() OVER (PARTITION BY stop_id, procedure ORDER BY id) AS n "
        "FROM stop_procedures) AS numbered WHERE numbered.id = stop_procedures.id)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    for name in ("by_day", "by_chapters"):
        with op.batch_alter_table("stop_fees", schema=None) as batch_op:
            batch_op.drop_index(f"ix_stop_fees_{name}")
        with op.batch_alter_table("stop_holds", schema=None) as batch_op:
            batch_op.drop_index(f"ix_stop_holds_{name}")
        with op.batch_alter_table("stops", schema=None) as batch_op:
            batch_op.drop_index(f"ix_stops_{name}")
    with op.batch_alter_table("stop_procedures", schema=None) as batch_op:
        batch_op.drop_index("ix_stop_procedures_report")
        batch_op.create_index("ix_stop_procedures_report", ["procedure", "minutes"], unique=False)
        batch_op.drop_column("run_number")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("hs_chapters")
            batch_op.drop_column("arrival_day")
