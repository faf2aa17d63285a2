import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.webhooks.models import (
    DEFAULT_HELD_MINUTES,
    DEFAULT_SILENT_MINUTES,
    TEST_MESSAGE_TYPE,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEventType,
)

# A week: a longer hold or silence is not news any more, and a minute is the clock's tick.
MAX_MINUTES = 7 * 24 * 60
MAX_EVENT_TYPES = len(WebhookEventType)


def message_id_header(message_id: uuid.UUID) -> str:
    """The `webhook-id` of a message (`msg_` + 32 hex digits): the same at every attempt,
    so a receiver deduplicates on it. The API shows deliveries' `message_id` this way too."""
    return f"msg_{message_id.hex}"


def _known_event_types(value: Any) -> Any:
    """Names the unknown type (pydantic's enum error names only its position)."""
    if not isinstance(value, list):
        return value
    known = {t.value for t in WebhookEventType}
    for item in value:
        if item == TEST_MESSAGE_TYPE:
            raise ValueError(f"{TEST_MESSAGE_TYPE} is sent by POST /webhooks/{{id}}/test only")
        if isinstance(item, str) and item not in known:
            raise ValueError(f"unknown event type {item!r}; known: {', '.join(sorted(known))}")
    return value


def _each_once(value: list[WebhookEventType] | None) -> list[WebhookEventType] | None:
    """Each type once, in the order given (after validation: only enum members are left)."""
    return list(dict.fromkeys(value)) if value is not None else None


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="https:// (http:// too outside production); a public address.")
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=MAX_EVENT_TYPES)
    description: str | None = Field(default=None, max_length=500)
    held_minutes: int = Field(
        default=DEFAULT_HELD_MINUTES,
        ge=1,
        le=MAX_MINUTES,
        description="shipment.held_too_long after a hold open this long.",
    )
    silent_minutes: int = Field(
        default=DEFAULT_SILENT_MINUTES,
        ge=1,
        le=MAX_MINUTES,
        description="shipment.silent after this long on the road without an event.",
    )
    organization_id: uuid.UUID | None = Field(
        default=None,
        description="Admins: the organisation the endpoint is for (required). Exporters "
        "register for their own organisation (another one's id is a 403).",
    )

    _types = field_validator("event_types", mode="before")(_known_event_types)
    _once = field_validator("event_types")(_each_once)


class WebhookUpdate(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    event_types: list[WebhookEventType] | None = Field(
        default=None, min_length=1, max_length=MAX_EVENT_TYPES
    )
    description: str | None = Field(default=None, max_length=500)
    held_minutes: int | None = Field(default=None, ge=1, le=MAX_MINUTES)
    silent_minutes: int | None = Field(default=None, ge=1, le=MAX_MINUTES)
    enabled: bool | None = Field(
        default=None,
        description="false disables the endpoint (nothing is sent to it); true enables it "
        "again and clears why it was disabled.",
    )

    _types = field_validator("event_types", mode="before")(_known_event_types)
    _once = field_validator("event_types")(_each_once)

    @model_validator(mode="after")
    def _no_null_but_description(self) -> "WebhookUpdate":
        nulls = [
            name for name in self.model_fields_set - {"description"} if getattr(self, name) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null")
        return self


class WebhookRead(BaseModel):
    """An endpoint; never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    held_minutes: int
    silent_minutes: int
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled, while it is.")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last success."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation, the old secret signs too (a second signature) until then."
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookRead):
    secret: str = Field(
        description="The signing secret (whsec_…), shown only when it is made: at "
        "registration and at rotation. Verify each message with a Standard Webhooks library."
    )


class DeliveryRead(BaseModel):
    id: int
    message_id: str = Field(description="The message's `webhook-id` (msg_…).")
    type: str
    shipment_id: uuid.UUID | None
    event_id: uuid.UUID | None = Field(description="The event that caused it, if one did.")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="While pending: when it is sent next.")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    succeeded_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> "DeliveryRead":
        pending = delivery.status == DeliveryStatus.pending
        return cls(
            id=delivery.id,
            message_id=message_id_header(delivery.message_id),
            type=delivery.type,
            shipment_id=delivery.shipment_id,
            event_id=delivery.event_id,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            last_attempt_at=delivery.last_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            succeeded_at=delivery.succeeded_at,
            created_at=delivery.created_at,
        )
