"""Positions and geofences (issue 15, parts 3 and 4).

Checkpoints get a fence (`radius_m`, 300 m unless set); events keep their fix's accuracy;
stops say what the positions say of them (`position_evidence`); trackers get per-shipment
device keys and their fixes a table (`positions`); a shipment with a tracker is `tracked`.

Columns are added and dropped with plain ALTER TABLE (SQLite has both since 3.35): a batch
copy of `stops` or `shipments` would drop their report triggers on SQLite.

Revision ID: e5362881f922
Revises: c4e8a2b6d1f7
Create Date: 2026-12-06 09:22:12.256243

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "e5362881f922"
down_revision: str | Sequence[str] | None = "c4e8a2b6d1f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("checkpoints", sa.Column("radius_m", sa.Float(), server_default="300", nullable=False)),
    ("events", sa.Column("accuracy_m", sa.Float(), nullable=True)),
    ("shipments", sa.Column("tracked", sa.Boolean(), server_default=sa.false(), nullable=False)),
    (
        "stops",
        sa.Column("position_evidence", sa.String(length=16), server_default="none", nullable=False),
    ),
)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "device_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("shipment_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_device_keys_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_device_keys_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_device_keys_key_hash")),
    )
    op.create_index(
        op.f("ix_device_keys_shipment_id"), "device_keys", ["shipment_id"], unique=False
    )
    op.create_table(
        "positions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("shipment_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_positions_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("shipment_id", "recorded_at", name="uq_positions_shipment_recorded"),
    )
    for table, column in COLUMNS:
        op.add_column(table, column)


def downgrade() -> None:
    """Downgrade schema."""
    for table, column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column.name}")
    op.drop_table("positions")
    op.drop_index(op.f("ix_device_keys_shipment_id"), table_name="device_keys")
    op.drop_table("device_keys")
