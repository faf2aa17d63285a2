"""The event writer reads a tracker's fixes only for shipments that have a tracker, and then
once per write, never per event; a shipment without one costs no query more than before."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.positions.helpers import KIRKUK, device_key, ev, make_route, osmand
from tests.tracking.helpers import sync


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reading_positions(seen: list[str]) -> list[str]:
    return [s for s in seen if "FROM positions" in s]


def test_an_untracked_shipments_events_read_no_positions(
    client: TestClient, engine: Engine
) -> None:
    route = make_route(client)
    start = datetime.now(UTC) - timedelta(hours=3)
    with statements(engine) as seen:
        for minute in (0, 10, 20):
            body = ev(
                "arrived" if minute == 0 else "released" if minute == 20 else "held",
                start + timedelta(minutes=minute),
                checkpoint_id=route.a["id"],
                **({"hold_reason": "security"} if minute == 10 else {}),
            )
            assert route.post(body).status_code == 201
    assert reading_positions(seen) == []


def test_a_tracked_shipments_write_reads_its_fixes_once(client: TestClient, engine: Engine) -> None:
    route = make_route(client)
    key = device_key(client, route)
    start = datetime.now(UTC) - timedelta(hours=3)
    assert osmand(client, key, KIRKUK, start - timedelta(hours=1)).status_code == 200
    bodies = [
        ev("arrived", start, checkpoint_id=route.a["id"]),
        ev("held", start + timedelta(minutes=5), hold_reason="security"),
        ev("released", start + timedelta(minutes=30)),
    ]
    with statements(engine) as seen:
        answer = sync(client, bodies, route.driver)  # three events, one write
    assert [r["status"] for r in answer.json()["results"]] == ["created"] * 3
    assert len(reading_positions(seen)) == 1
