"""Exporters' webhook endpoints and the messages owed to them (the outbox).

A message is a row of `webhook_deliveries`, written in the same transaction as the event
that causes it (app/webhooks/outbox.py): it exists if and only if its event was stored. The
dispatcher (app/webhooks/dispatcher.py) sends each one until the endpoint answers 2xx, in
order per shipment and endpoint, and records every attempt's outcome on the row."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, str_enum, utcnow
from app.tracking.models import BigId


class WebhookEventType(StrEnum):
    departed = "shipment.departed"
    arrived = "shipment.arrived"
    held = "shipment.held"
    released = "shipment.released"
    turned_back = "shipment.turned_back"
    delivered = "shipment.delivered"
    fee_unreceipted = "shipment.fee_unreceipted"
    held_too_long = "shipment.held_too_long"
    silent = "shipment.silent"
    updated = "shipment.updated"


# Sent by POST /webhooks/{id}/test whatever the endpoint subscribes to; never subscribable.
TEST_MESSAGE_TYPE = "webhook.test"

DEFAULT_HELD_MINUTES = 180
DEFAULT_SILENT_MINUTES = 360


class DeliveryStatus(StrEnum):
    pending = "pending"  # to be sent (again) at next_attempt_at
    succeeded = "succeeded"  # the endpoint answered 2xx
    failed = "failed"  # given up: every attempt failed, or the endpoint was disabled


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    held_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_HELD_MINUTES)
    silent_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_SILENT_MINUTES)
    # The signing secret (whsec_…), encrypted with a key derived from SECRET_KEY: HMAC needs
    # the secret itself, so it cannot be hashed (app/webhooks/secrets.py).
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    # After a rotation the old secret signs too (a second signature) until it expires.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(String(500))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failed attempt since the last success: three days of it disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint, and the state of its delivery."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A message found by the dispatcher's clock (a hold too long, a silence) is written
        # once per endpoint whichever dispatcher finds it first.
        UniqueConstraint("endpoint_id", "dedupe_key", name="uq_webhook_deliveries_dedupe"),
        # The dispatcher's scan: the pending messages due now. Partial: the sent ones, nearly
        # all of the table in time, are not in it.
        Index(
            "ix_webhook_deliveries_pending",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # Order per shipment and endpoint: a message waits for the earlier ones.
        Index("ix_webhook_deliveries_order", "endpoint_id", "shipment_id", "id"),
    )

    # Ascending in the order the messages were written: the order they are sent in.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The `webhook-id` a receiver deduplicates on: the same for every attempt.
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    shipment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(40))
    # The driver's or exporter's event that caused it (its event_id), if an event did.
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A dispatcher sending it holds it until then; past it, another may take it over.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The body, fixed at the first attempt: every retry sends the same bytes.
    payload: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
