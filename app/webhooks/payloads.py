"""A message's body: `{type, timestamp, data: {shipment, current_stop, eta, event}}`.

Like project44's, a message carries the whole state, so a receiver that missed one (or
gets one twice) still ends up right: the shipment as `GET /shipments/{id}` shows it to its
exporter (without the stops' history and the event timeline, which a receiver can fetch),
its current stop, its ETA, and the event that caused the message. The state is read when
the message is first sent and the body is then kept: every retry sends the same bytes."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import privacy
from app.auth.models import Role
from app.auth.principal import Principal
from app.errors import NotFound
from app.tracking import queries
from app.tracking.models import TrackingEvent
from app.webhooks.models import WebhookDelivery


def render(
    session: Session,
    delivery: WebhookDelivery,
    organization_id: uuid.UUID,
    thresholds: privacy.Thresholds,
) -> str:
    """The body of a shipment's message, as its exporter (`organization_id`) may see it
    (its ETA by `thresholds`, as GET /shipments/{id} shows it)."""
    data: dict[str, Any] = {"shipment": None, "current_stop": None, "eta": None, "event": None}
    if delivery.shipment_id is not None:
        data.update(_state(session, delivery.shipment_id, organization_id, thresholds))
    if delivery.event_id is not None and delivery.shipment_id is not None:
        data["event"] = _event(session, delivery.shipment_id, delivery.event_id)
    body = {"type": delivery.type, "timestamp": _rfc3339(delivery.created_at), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _state(
    session: Session,
    shipment_id: uuid.UUID,
    organization_id: uuid.UUID,
    thresholds: privacy.Thresholds,
) -> dict[str, Any]:
    exporter = Principal("user", Role.exporter, None, organization_id)
    try:
        state = queries.shipment_state(
            session, principal=exporter, shipment_id=shipment_id, thresholds=thresholds
        )
    except NotFound:  # deleted since: the message still says what happened
        return {"shipment": {"id": str(shipment_id)}}
    return {
        "shipment": state.shipment.model_dump(mode="json"),
        "current_stop": state.current_stop.model_dump(mode="json") if state.current_stop else None,
        "eta": state.eta.model_dump(mode="json") if state.eta else None,
    }


def _event(session: Session, shipment_id: uuid.UUID, event_id: uuid.UUID) -> dict[str, Any] | None:
    row = session.execute(
        select(
            TrackingEvent.event_id,
            TrackingEvent.type,
            TrackingEvent.occurred_at,
            TrackingEvent.checkpoint_id,
        ).where(TrackingEvent.shipment_id == shipment_id, TrackingEvent.event_id == event_id)
    ).first()
    if row is None:
        return None
    return {
        "event_id": str(row.event_id),
        "type": str(row.type),
        "occurred_at": _rfc3339(row.occurred_at),
        "checkpoint_id": str(row.checkpoint_id) if row.checkpoint_id else None,
    }


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
