"""An event's content hash is the SHA-256 of its canonical JSON (sorted keys, no spaces): the
hashes stored since v1 must keep matching the events they were made from, so a phone's
retry of an old event is still recognised as the same one."""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from app.tracking import service, timeline
from app.tracking.schemas import EventIn


def canonical_hash(body: dict[str, Any]) -> str:
    """The hash as first defined: json.dumps(sort_keys=True) of the event's meaning."""
    fee = body.get("fee")
    location = body.get("location")
    occurred = datetime.fromisoformat(body["occurred_at"]).astimezone(UTC)
    canonical = {
        "type": body["type"],
        "occurred_at": occurred.isoformat(),
        "checkpoint_id": body.get("checkpoint_id"),
        "procedure": body.get("procedure"),
        "hold_reason": body.get("hold_reason"),
        "fee": (
            [
                str(Decimal(str(fee["amount"])).quantize(Decimal("0.01"))),
                fee["currency"],
                fee["receipt"],
            ]
            if fee
            else None
        ),
        "note": body.get("note"),
        "location": (
            [location["lat"], location["lon"]]
            + ([location["accuracy_m"]] if location.get("accuracy_m") is not None else [])
            if location
            else None
        ),
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


CHECKPOINT = str(uuid.UUID(int=7))
BODIES = [
    {"type": "arrived", "occurred_at": "2026-01-01T00:07:00+03:00", "checkpoint_id": CHECKPOINT},
    {"type": "procedure_started", "occurred_at": "2026-01-01T00:07:00Z", "procedure": "xray_scan"},
    {"type": "held", "occurred_at": "2026-01-01T00:07:00.250Z", "hold_reason": "security"},
    {
        "type": "fee_paid",
        "occurred_at": "2026-02-28T23:59:59Z",
        "fee": {"amount": 25000, "currency": "IQD", "receipt": True},
    },
    {
        "type": "fee_paid",
        "occurred_at": "2026-02-28T23:59:59Z",
        "fee": {"amount": "12.5", "currency": "USD", "receipt": False},
        "note": 'paid in cash, "no change" — ٣ دينار',
    },
    {
        "type": "released",
        "occurred_at": "2026-03-01T10:00:00-05:00",
        "location": {"lat": 35.4, "lon": 44.3, "accuracy_m": 18.0},
    },
    {
        "type": "note",
        "occurred_at": "2026-03-01T10:00:00Z",
        "note": "x",
        "location": {"lat": 1.5, "lon": 2.25},
    },
]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: body["type"])
def test_an_events_hash_is_that_of_its_canonical_json(body: dict[str, Any]) -> None:
    data = EventIn.model_validate({"event_id": str(uuid.uuid4()), **body})
    assert service.content_hash(data) == canonical_hash(body)


def test_a_stored_event_hashes_as_the_request_did() -> None:
    """The demo generator hashes events it makes (timeline.Event) with event_hash: the same
    hash as the request's for the same meaning."""
    body = BODIES[3]
    data = EventIn.model_validate({"event_id": str(uuid.uuid4()), **body})
    event = timeline.Event(
        data.event_id,
        data.type,
        data.occurred_at.astimezone(timezone(timedelta(hours=3))),
        fee_amount=Decimal("25000.00"),
        fee_currency="IQD",
        fee_receipt=True,
    )
    assert service.event_hash(event, note=None, location=None) == service.content_hash(data)
