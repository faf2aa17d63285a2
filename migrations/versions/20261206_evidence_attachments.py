"""Evidence attachments on events (issue 15).

One file of evidence (photo or PDF) on one event, named on disk by its SHA-256; never
deleted, withdrawn by an admin with a reason.

Revision ID: 7a790f28a78d
Revises: 5d1c9e7a2f60
Create Date: 2026-12-06 06:18:32.354550

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7a790f28a78d"
down_revision: str | Sequence[str] | None = "5d1c9e7a2f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("shipment_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            _enum("attachment_kind", "receipt", "notice", "document", "cargo", "other"),
            nullable=False,
        ),
        sa.Column(
            "content_type",
            _enum("attachment_media_type", "jpeg", "png", "webp", "pdf"),
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("stored_sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_lat", sa.Float(), nullable=True),
        sa.Column("captured_lon", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("withdrawn_reason", sa.String(length=1000), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_attachments_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id", "event_id"],
            ["events.shipment_id", "events.event_id"],
            name=op.f("fk_attachments_shipment_id_events"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by"],
            ["users.id"],
            name=op.f("fk_attachments_withdrawn_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint(
            "shipment_id", "event_id", "sha256", name="uq_attachments_event_sha256"
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("attachments")
