"""The messages a batch of stored events owes, written in the batch's own transaction.

This is the transactional outbox: a `webhook_deliveries` row is committed together with the
event that causes it, or not at all. A crash can therefore never leave a message for an
event that was not stored, nor an event without its messages; the dispatcher sends what is
committed (app/webhooks/dispatcher.py).

What a message carries is read when it is first sent (payloads.py): the row holds only its
type, its shipment and the event that caused it, so the write path pays one query for the
organisations' endpoints and one insert, and nothing at all for organisations without one."""

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.db import utcnow
from app.tracking import statements
from app.tracking.models import NewEvent
from app.tracking.service import BatchWritten
from app.tracking.vocabulary import EventType
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEventType

_DELIVERIES = WebhookDelivery.metadata.tables[WebhookDelivery.__tablename__]

# The event types that are news in themselves. A procedure's start or end changes the stop
# but is not a message of its own (it shows in the next one's state); a note never is.
_NEWS = {
    EventType.departed: WebhookEventType.departed,
    EventType.arrived: WebhookEventType.arrived,
    EventType.held: WebhookEventType.held,
    EventType.released: WebhookEventType.released,
    EventType.turned_back: WebhookEventType.turned_back,
    EventType.delivered: WebhookEventType.delivered,
}


def message_type(event_type: str, fee_receipt: bool | None, late: bool) -> WebhookEventType | None:
    """What an event is news of, if anything. A late event (one that happened before an
    event already stored: a phone back online) has changed the trip's history: its message
    is `shipment.updated`, with the new state, rather than a replay of an old type."""
    if event_type == EventType.note:
        return None
    if late:
        return WebhookEventType.updated
    if event_type == EventType.fee_paid:
        return None if fee_receipt else WebhookEventType.fee_unreceipted
    return _NEWS.get(EventType(event_type))


def write_messages(session: Session, written: BatchWritten) -> int:
    """The messages of the events this batch stored, for the endpoints subscribed to them;
    in the caller's transaction. Returns how many were written."""
    if not written.added:
        return 0
    organizations = {keys.organization_id for keys in written.shipments.values()}
    endpoints = subscribed_endpoints(session, organizations)
    if not endpoints:
        return 0
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for shipment_id, events in written.added.items():
        wanted = endpoints.get(written.shipments[shipment_id].organization_id)
        if not wanted:
            continue
        stored_before = _latest_before(written, shipment_id, events)
        for event in events:
            late = stored_before is not None and event.occurred_at < stored_before
            kind = message_type(event.type, event.fee_receipt, late)
            if kind is None:
                continue
            rows += (
                _row(endpoint_id, shipment_id, kind, event.event_id, now)
                for endpoint_id, types in wanted
                if kind in types
            )
    statements.insert(session, _DELIVERIES, rows)
    return len(rows)


def subscribed_endpoints(
    session: Session, organizations: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, frozenset[str]]]]:
    """The enabled endpoints of these organisations, with the types each subscribes to.

    Through the DB-API, as the writer's other statements (app/tracking/statements.py): it
    runs in every group write, and SQLAlchemy's ORM-enabled select cost the writer ~700 µs of
    CPU per batch on PostgreSQL, more than the rest of the outbox (bench/RESULTS.md,
    session 11)."""
    wanted = list(set(organizations))
    connection = session.connection()
    columns = "id, organization_id, event_types FROM webhook_endpoints"
    order = "ORDER BY created_at, id"
    if connection.dialect.name == "postgresql":  # native UUIDs and JSON
        rows = connection.exec_driver_sql(
            f"SELECT {columns} WHERE enabled AND organization_id = ANY(%s) {order}", (wanted,)
        )
        found = [(e, o, types) for e, o, types in rows]
    else:  # SQLite: UUIDs as 32 hex digits, JSON as text
        marks = ", ".join("?" * len(wanted))
        rows = connection.exec_driver_sql(
            f"SELECT {columns} WHERE enabled = 1 AND organization_id IN ({marks}) {order}",
            tuple(o.hex for o in wanted),
        )
        found = [(uuid.UUID(e), uuid.UUID(o), json.loads(types)) for e, o, types in rows]
    endpoints: dict[uuid.UUID, list[tuple[uuid.UUID, frozenset[str]]]] = {}
    for endpoint_id, organization_id, types in found:
        endpoints.setdefault(organization_id, []).append((endpoint_id, frozenset(types)))
    return endpoints


def _latest_before(
    written: BatchWritten, shipment_id: uuid.UUID, added: Sequence[NewEvent]
) -> datetime | None:
    """When the latest of the events stored before this batch happened (None: there were none)."""
    projection = written.projections.get(shipment_id)
    if projection is None:
        return None
    new = {event.event_id for event in added}
    # The trip's events are in time order (timeline.py): the last one not stored by this
    # batch is the latest before it. This batch's are usually the last ones: a step or two.
    for event in reversed(projection.progress.events):
        if event.event_id not in new:
            return event.occurred_at
    return None


def _row(
    endpoint_id: uuid.UUID,
    shipment_id: uuid.UUID | None,
    kind: str,
    event_id: uuid.UUID | None,
    now: datetime,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4(),
        "endpoint_id": endpoint_id,
        "shipment_id": shipment_id,
        "type": str(kind),
        "event_id": event_id,
        "dedupe_key": dedupe_key,
        "status": DeliveryStatus.pending,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def message_rows(
    items: Iterable[tuple[uuid.UUID, uuid.UUID | None, str, str]], now: datetime
) -> list[dict[str, Any]]:
    """Rows for messages found by the dispatcher's clock: (endpoint, shipment, type, the key
    that makes each one once per endpoint)."""
    return [_row(e, s, kind, None, now, key) for e, s, kind, key in items]
