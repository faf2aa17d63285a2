"""Attachments: one file of evidence on one event. Never deleted; an admin may withdraw one.

A row keeps the SHA-256 of the bytes as received (`sha256`, the idempotency key with the
event) and the SHA-256 of the bytes on disk and served (`stored_sha256`, the file's name):
photos are stored with their identifying metadata stripped, so the two differ for images
and are equal for PDFs (stored as received).
"""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, str_enum


class AttachmentKind(StrEnum):
    receipt = "receipt"
    notice = "notice"
    document = "document"
    cargo = "cargo"
    other = "other"


class MediaType(StrEnum):
    jpeg = "image/jpeg"
    png = "image/png"
    webp = "image/webp"
    pdf = "application/pdf"


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (
        # The same bytes for the same event are one attachment (a retried upload).
        UniqueConstraint("shipment_id", "event_id", "sha256", name="uq_attachments_event_sha256"),
        # The event as clients name it: its shipment and its event_id (unique together).
        ForeignKeyConstraint(
            ["shipment_id", "event_id"],
            ["events.shipment_id", "events.event_id"],
            ondelete="RESTRICT",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[AttachmentKind] = mapped_column(str_enum(AttachmentKind, "attachment_kind"))
    content_type: Mapped[MediaType] = mapped_column(str_enum(MediaType, "attachment_media_type"))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    stored_sha256: Mapped[str] = mapped_column(String(64))
    stored_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # From the photo's EXIF before it was stripped (DateTimeOriginal, the GPS block).
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    captured_lat: Mapped[float | None] = mapped_column(Float)
    captured_lon: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # driver | exporter | admin
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    withdrawn_reason: Mapped[str | None] = mapped_column(String(1000))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )


class DeviceKey(Base):
    """A tracker's key for one shipment (`trk_…`), shown once, stored as its digest (as
    driver links are); one live key per shipment, revocable, expiring."""

    __tablename__ = "device_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
