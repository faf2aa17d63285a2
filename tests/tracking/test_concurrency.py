"""A driver and the exporter post to one shipment at the same moment, over real HTTP."""

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.shipments.models import Shipment
from app.tracking import service
from app.tracking.models import Stop, TrackingEvent
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API, shipment_payload
from tests.live_server import live_server

CHECKPOINTS = 6
BASE_TIME = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def _sign_in(base: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{base}{API}/auth/token", data={"username": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _setup(base: str) -> tuple[dict[str, str], dict[str, str], str, list[str]]:
    boss = _sign_in(base, ADMIN_EMAIL, ADMIN_PASSWORD)
    checkpoints = [
        httpx.post(
            f"{base}{API}/checkpoints",
            headers=boss,
            json={"code": f"PAR-{i}", "name": f"P{i}", "province": "kirkuk", "kind": "internal"},
        ).json()["id"]
        for i in range(CHECKPOINTS)
    ]
    org = httpx.post(f"{base}{API}/organizations", json={"name": "Co"}, headers=boss).json()
    httpx.post(
        f"{base}{API}/users",
        headers=boss,
        json={
            "email": "x@example.org",
            "password": "password-1",
            "role": "exporter",
            "organization_id": org["id"],
        },
    ).raise_for_status()
    exporter = _sign_in(base, "x@example.org", "password-1")
    shipment = httpx.post(f"{base}{API}/shipments", json=shipment_payload(), headers=exporter)
    shipment_id = shipment.json()["id"]
    token = httpx.post(f"{base}{API}/shipments/{shipment_id}/driver-token", headers=exporter)
    driver = {"Authorization": f"Bearer {token.json()['token']}"}
    return exporter, driver, shipment_id, checkpoints


def _trip(checkpoints: list[str]) -> list[dict[str, object]]:
    """A whole trip: at every checkpoint arrive, hold, pay, release."""
    events: list[dict[str, object]] = []
    minute = 0

    def add(kind: str, **extra: object) -> None:
        nonlocal minute
        minute += 7
        at = (BASE_TIME + timedelta(minutes=minute)).isoformat()
        events.append({"event_id": str(uuid.uuid4()), "type": kind, "occurred_at": at, **extra})

    add("departed")
    for checkpoint in checkpoints:
        add("arrived", checkpoint_id=checkpoint)
        add("held", hold_reason="security")
        add("fee_paid", fee={"amount": "5000", "currency": "IQD", "receipt": False})
        add("released")
    add("delivered")
    return events


def test_driver_and_exporter_posting_at_once_both_land_and_stops_stay_consistent(
    app: FastAPI, engine: Engine
) -> None:
    with live_server(app) as base:
        exporter, driver, shipment_id, checkpoints = _setup(base)
        events = _trip(checkpoints)
        random.Random(7).shuffle(events)
        halves = {"driver": (driver, events[::2]), "exporter": (exporter, events[1::2])}
        statuses: dict[str, list[int]] = {}
        start = threading.Barrier(len(halves))

        def post_all(who: str) -> None:
            headers, mine = halves[who]
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                start.wait()
                statuses[who] = [
                    http.post(f"{API}/shipments/{shipment_id}/events", json=e).status_code
                    for e in mine
                ]

        threads = [threading.Thread(target=post_all, args=(who,)) for who in halves]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == {who: [201] * len(mine) for who, (_, mine) in halves.items()}
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == len(events)
        stored = _stop_rows(session, shipment_id)
        assert len(stored) == CHECKPOINTS
        assert all(row[3] == 7 * 3 for row in stored)  # arrived → released: 3 steps of 7 min
        # What is stored is exactly what a rebuild from all the events gives.
        shipment = session.get(Shipment, uuid.UUID(shipment_id))
        assert shipment is not None
        assert shipment.status == "delivered"
        service.rebuild(session, shipment)
        session.flush()
        assert _stop_rows(session, shipment_id) == stored


def _stop_rows(session: Session, shipment_id: str) -> list[tuple[object, ...]]:
    rows = session.execute(
        select(
            Stop.seq,
            Stop.checkpoint_id,
            Stop.arrived_at,
            Stop.dwell_minutes,
            Stop.hold_count,
            Stop.held_minutes,
            Stop.outcome,
        )
        .where(Stop.shipment_id == uuid.UUID(shipment_id))
        .order_by(Stop.seq)
    )
    return [tuple(row) for row in rows]
