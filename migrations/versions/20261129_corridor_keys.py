"""Reports: stops and fees carry their trip's origin and destination province and whether its
distance is known, with covering indexes for the corridor report; and shipments an index
for its trip counts and median transit.

Revision ID: c7e5a1f3d920
Revises: 9b1e4c2d7a10
Create Date: 2026-11-29 12:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "c7e5a1f3d920"
down_revision: str | Sequence[str] | None = "9b1e4c2d7a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CORRIDOR = ["origin_province", "destination_province"]
INDEXES = {
    "stops": (
        "ix_stops_by_corridor",
        [*CORRIDOR, "checkpoint_id", "trip_has_distance", "dwell_minutes", "shipment_id"],
    ),
    "stop_fees": (
        "ix_stop_fees_by_corridor",
        [*CORRIDOR, "currency", "trip_has_distance", "receipt", "amount", "shipment_id"],
    ),
}
SHIPMENTS_CORRIDOR = [
    *CORRIDOR,
    "transit_minutes",
    "status",
    "distance_km",
    "departed_at",
    "organization_id",
]


def upgrade() -> None:
    """Upgrade schema."""
    for table, (name, columns) in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("origin_province", sa.String(length=32), nullable=True))
            batch_op.add_column(
                sa.Column("destination_province", sa.String(length=32), nullable=True)
            )
            batch_op.add_column(sa.Column("trip_has_distance", sa.Boolean(), nullable=True))
        # UPDATE … FROM: PostgreSQL, and SQLite since 3.33. Provinces are stored as their
        # values (a StrEnum's names are its values), as app/tracking/materialize.py writes them.
        op.execute(
            f"UPDATE {table} SET origin_province = s.origin_province, "
            "destination_province = s.destination_province, "
            "trip_has_distance = (s.distance_km IS NOT NULL) "
            f"FROM shipments AS s WHERE s.id = {table}.shipment_id"
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index("ix_shipments_corridor", SHIPMENTS_CORRIDOR, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_corridor")
    for table, (name, _columns) in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.drop_column("trip_has_distance")
            batch_op.drop_column("destination_province")
            batch_op.drop_column("origin_province")
