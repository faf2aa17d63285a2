"""Shared pieces of the tracking API tests: event bodies, a driver's day, a shipment with a
driver link, and the problem+json check."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.shipments.models import Shipment
from app.tracking import materialize, service, timeline
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure, TrackingEvent
from tests.factories import (
    API,
    Actor,
    admin,
    make_checkpoint,
    make_exporter,
    make_shipment,
)

BAGHDAD = timezone(timedelta(hours=3))
# A fixed morning in the past, in local time (+03:00), from which every event is timed.
BASE_TIME = datetime(2026, 11, 20, 6, 0, tzinfo=BAGHDAD)
FEE = {"amount": 25000, "currency": "IQD", "receipt": False}
TABLES: dict[str, Any] = {
    "stops": Stop,
    "holds": StopHold,
    "procedures": StopProcedure,
    "fees": StopFee,
}


def at(minute: float) -> str:
    """BASE_TIME + minutes, written with the +03:00 offset a phone in Iraq would use."""
    return (BASE_TIME + timedelta(minutes=minute)).isoformat()


def utc(minute: float) -> str:
    """The same instant as `at(minute)`, as the API returns it (UTC, `Z`)."""
    return (
        (BASE_TIME + timedelta(minutes=minute)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    )


def from_now(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def event(type_: str, minute: float, **fields: Any) -> dict[str, Any]:
    """An event body with a fresh event_id, `minute` minutes after BASE_TIME."""
    return {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": at(minute), **fields}


def driver_day(a: str, b: str) -> list[dict[str, Any]]:
    """Depart, a long stop at A (document check, a fee, a hold), a short one at B, deliver."""
    return [
        event("departed", 0),
        event("arrived", 60, checkpoint_id=a),
        event("procedure_started", 65, procedure="document_check"),
        event("procedure_completed", 80, procedure="document_check"),
        event("fee_paid", 85, fee=FEE),
        event("held", 90, hold_reason="missing_document"),
        event("released", 150),
        event("arrived", 240, checkpoint_id=b),
        event("released", 255),
        event("delivered", 400),
    ]


# The shipment's status after each event of driver_day().
DAY_STATUSES = [
    "in_transit",
    "at_checkpoint",
    "at_checkpoint",
    "at_checkpoint",
    "at_checkpoint",
    "held",
    "in_transit",
    "at_checkpoint",
    "in_transit",
    "delivered",
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue_driver_token(
    client: TestClient, exporter: Actor, shipment: dict[str, Any], **body: Any
) -> dict[str, Any]:
    response = client.post(
        f"{API}/shipments/{shipment['id']}/driver-token",
        json=body or None,
        headers=exporter.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def driver_headers(client: TestClient, exporter: Actor, shipment: dict[str, Any]) -> dict[str, str]:
    return bearer(issue_driver_token(client, exporter, shipment)["token"])


@dataclass
class Trip:
    """An exporter's planned shipment over checkpoints A then B, with a driver link."""

    admin: Actor
    exporter: Actor
    shipment: dict[str, Any]
    a: str
    b: str
    driver: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.shipment["id"])


def make_trip(client: TestClient) -> Trip:
    boss = admin(client)
    a = make_checkpoint(client, boss)["id"]
    b = make_checkpoint(client, boss)["id"]
    exporter = make_exporter(client, boss)
    shipment = make_shipment(client, exporter, route=[a, b])
    return Trip(boss, exporter, shipment, a, b, driver_headers(client, exporter, shipment))


def post_event(
    client: TestClient, shipment_id: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return client.post(f"{API}/shipments/{shipment_id}/events", json=body, headers=headers)


def get_events(client: TestClient, shipment_id: str, headers: dict[str, str]) -> list[Any]:
    response = client.get(f"{API}/shipments/{shipment_id}/events", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def get_stops(client: TestClient, shipment_id: str, headers: dict[str, str]) -> list[Any]:
    response = client.get(f"{API}/shipments/{shipment_id}/stops", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def get_shipment(client: TestClient, shipment_id: str, headers: dict[str, str]) -> Any:
    response = client.get(f"{API}/shipments/{shipment_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def stored_events(engine: Engine) -> int:
    """Rows in the events table (every test has a database of its own)."""
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(TrackingEvent)) or 0)


def sync(
    client: TestClient, events: list[dict[str, Any]], headers: dict[str, str], **extra: Any
) -> httpx.Response:
    return client.post(f"{API}/sync", json={"events": events, **extra}, headers=headers)


def stored_stop_rows(session: Session, shipment_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """The shipment's stops, holds, procedures and fees as stored, in materialize's row shape."""
    expected = expected_stop_rows(session, shipment_id)
    stored: dict[str, list[dict[str, Any]]] = {}
    for name, model in TABLES.items():
        keys = sorted({key for row in expected[name] for key in row}) or ["shipment_id"]
        table = model.metadata.tables[model.__tablename__]
        rows = session.execute(
            select(*(table.c[key] for key in keys)).where(table.c.shipment_id == shipment_id)
        ).mappings()
        stored[name] = sorted((dict(row) for row in rows), key=_row_order)
    return stored


def expected_stop_rows(session: Session, shipment_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """What a from-scratch materialisation of all the shipment's stored events gives."""
    shipment = session.get_one(Shipment, shipment_id)
    events = session.execute(
        select(*service.TIMELINE_COLUMNS).where(TrackingEvent.shipment_id == shipment_id)
    ).all()
    rows = materialize.StopRows()
    built = timeline.build([timeline.Event(*row) for row in events])
    materialize.add_stops(rows, shipment_id, shipment.organization_id, built.stops)
    materialize.add_trip_facts(session, rows)  # the report keys, read afresh
    return {name: sorted(getattr(rows, name), key=_row_order) for name in TABLES}


def _row_order(row: dict[str, Any]) -> str:
    return repr(sorted(row.items()))


def insert_closed_stops(
    engine: Engine,
    holder: dict[str, Any],
    checkpoint_id: str,
    dwells: list[float],
    closed_at: datetime,
) -> None:
    """Completed stops at a checkpoint, written straight to the stops table (as the event
    writer's rows), on `holder`'s shipment; each closed at `closed_at`."""
    with Session(engine) as session, session.begin():
        first = len(session.query(Stop).filter(Stop.shipment_id == uuid.UUID(holder["id"])).all())
        session.execute(
            insert(Stop),
            [
                {
                    "id": uuid.uuid4(),
                    "shipment_id": uuid.UUID(holder["id"]),
                    "organization_id": uuid.UUID(holder["organization_id"]),
                    "checkpoint_id": uuid.UUID(checkpoint_id),
                    "seq": first + i,
                    "arrived_at": closed_at - timedelta(minutes=dwell),
                    "closed_at": closed_at,
                    "last_event_at": closed_at,
                    "outcome": "released",
                    "dwell_minutes": dwell,
                    "hold_count": 0,
                    "held_minutes": 0.0,
                    "is_current": False,
                    "anomalies": [],
                }
                for i, dwell in enumerate(dwells)
            ],
        )
