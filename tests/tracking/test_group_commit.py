"""Events written together (tracking/writer.py): concurrent requests share one transaction,
each still gets its own answer, and the stops written incrementally are exactly what a
from-scratch rebuild gives."""

import asyncio
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.service import authenticate_bearer
from app.shipments.models import Shipment
from app.tracking import materialize, service, statements, timeline
from app.tracking.models import TrackingEvent
from app.tracking.schemas import EventIn
from app.tracking.writer import EventWriter, _Request
from tests.factories import API, admin, make_checkpoint, make_exporter, make_shipment
from tests.live_server import live_server
from tests.tracking.helpers import FEE, event, expected_stop_rows, stored_stop_rows


def _record_batch_sizes(app: FastAPI) -> list[int]:
    writer = app.state.event_writer
    sizes: list[int] = []
    original = writer._write_together

    def spy(batch: list[Any]) -> Any:
        sizes.append(len(batch))
        return original(batch)

    writer._write_together = spy
    return sizes


Post = tuple[str, dict[str, Any], dict[str, str]]


def _post_all(base: str, posts: list[Post]) -> list[int]:
    """All at once, from a thread of its own: Playwright's sync API (the browser tests) keeps
    an event loop running in the main thread for the rest of the run."""
    with ThreadPoolExecutor(max_workers=1) as runner:
        return runner.submit(asyncio.run, _send_together(base, posts)).result()


async def _send_together(base: str, posts: list[Post]) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post(path, json=body, headers=headers) for path, body, headers in posts)
        )
    return [response.status_code for response in responses]


def test_concurrent_events_commit_together_and_each_gets_its_own_answer(
    app: FastAPI, client: TestClient
) -> None:
    boss = admin(client)
    a, b = make_exporter(client, boss), make_exporter(client, boss)
    checkpoint = make_checkpoint(client, boss)["id"]
    mine = [make_shipment(client, a)["id"] for _ in range(4)]
    theirs = make_shipment(client, b)["id"]
    valid = [
        (f"{API}/shipments/{sid}/events", event("arrived", n, checkpoint_id=checkpoint), a.headers)
        for n, sid in enumerate(mine * 10)
    ]
    refused = [
        (f"{API}/shipments/{theirs}/events", event("released", 1), a.headers),  # 404
        (f"{API}/shipments/{uuid.uuid4()}/events", event("released", 1), a.headers),  # 404
        (f"{API}/shipments/{mine[0]}/events", event("released", 1), {"Authorization": "Bearer x"}),
        (
            f"{API}/shipments/{mine[1]}/events",
            event("arrived", 1, checkpoint_id=str(uuid.uuid4())),
            a.headers,
        ),
    ]
    sizes = _record_batch_sizes(app)

    with live_server(app) as base:
        statuses = _post_all(base, valid + refused)
        # The same events again: answered 200 from what was stored; one with new content, 409.
        changed = {**valid[0][1], "occurred_at": valid[1][1]["occurred_at"]}
        replays = _post_all(base, valid[:5] + [(valid[0][0], changed, a.headers)])

    assert statuses == [201] * len(valid) + [404, 404, 401, 422]
    assert replays == [200] * 5 + [409]
    assert max(sizes) > 1, sizes  # requests really were written together
    with app.state.session_factory() as session:
        stored = session.scalars(select(TrackingEvent.event_id)).all()
        assert sorted(map(str, stored)) == sorted(body["event_id"] for _, body, _ in valid)
        for sid in mine:
            assert stored_stop_rows(session, uuid.UUID(sid)) == expected_stop_rows(
                session, uuid.UUID(sid)
            )


def test_stops_rewritten_incrementally_equal_a_full_rebuild_after_every_event(
    client: TestClient, app: FastAPI
) -> None:
    """Late and out-of-order events move stops, renumber them and change the current one:
    after each, the stored rows are what materialising all events from scratch gives."""
    boss = admin(client)
    exporter = make_exporter(client, boss)
    a, b, c = (make_checkpoint(client, boss)["id"] for _ in range(3))
    shipment = make_shipment(client, exporter)["id"]
    trip = [
        event("departed", 0),
        event("arrived", 60, checkpoint_id=a),
        event("procedure_started", 65, procedure="document_check"),
        event("fee_paid", 70, fee=FEE),
        event("held", 75, hold_reason="missing_document"),
        event("released", 150),
        event("arrived", 240, checkpoint_id=b),
        event("procedure_started", 245, procedure="xray_scan"),
        event("procedure_completed", 260, procedure="xray_scan"),
        event("released", 270),
        event("arrived", 300, checkpoint_id=c),
        event("fee_paid", 300, fee={**FEE, "receipt": True}),
        event("released", 330),
        event("delivered", 500),
    ]
    random.Random(5).shuffle(trip)
    for body in trip:
        response = client.post(
            f"{API}/shipments/{shipment}/events", json=body, headers=exporter.headers
        )
        assert response.status_code == 201, response.text
        with app.state.session_factory() as session:
            stored = stored_stop_rows(session, uuid.UUID(shipment))
            assert stored == expected_stop_rows(session, uuid.UUID(shipment))
    assert len(stored["stops"]) == 3
    assert len(stored["fees"]) == 2


def test_the_writer_rereads_a_shipment_that_another_path_changed(
    client: TestClient, app: FastAPI
) -> None:
    """The writer keeps each trip's events in memory between events; when /sync (or another
    worker) adds events, the shipment's events_version moves on and the writer reads the
    trip back instead of using what it kept."""
    boss = admin(client)
    exporter = make_exporter(client, boss)
    a, b = (make_checkpoint(client, boss)["id"] for _ in range(2))
    shipment = make_shipment(client, exporter)["id"]
    post = f"{API}/shipments/{shipment}/events"

    def send(body: dict[str, Any]) -> None:
        response = client.post(post, json=body, headers=exporter.headers)
        assert response.status_code == 201, response.text

    send(event("arrived", 0, checkpoint_id=a))
    send(event("held", 10, hold_reason="missing_document"))
    assert uuid.UUID(shipment) in app.state.event_writer._projections._items
    synced = client.post(
        f"{API}/sync",
        json={
            "shipment_id": shipment,
            "events": [event("released", 50), event("arrived", 90, checkpoint_id=b)],
        },
        headers=exporter.headers,
    )
    assert synced.json()["created"] == 2
    send(event("fee_paid", 95, fee=FEE))  # at B: only right if the synced arrival is known

    with app.state.session_factory() as session:
        stored = stored_stop_rows(session, uuid.UUID(shipment))
        assert stored == expected_stop_rows(session, uuid.UUID(shipment))
    assert len(stored["stops"]) == 2
    assert [fee["checkpoint_id"] for fee in stored["fees"]] == [uuid.UUID(b)]


def test_a_writer_catches_up_with_another_workers_events(
    client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's writer adds events between this writer's: this one's kept projection
    is outdated, and it goes on from it with the events it had not seen (or replays the trip
    when one of them is earlier), rewriting only what changed. After each event the stored
    rows are what materialising all events from scratch gives, including after a write of
    its own that rolled back and an event the other worker then stored."""
    boss = admin(client)
    exporter = make_exporter(client, boss)
    a, b, c = (make_checkpoint(client, boss)["id"] for _ in range(3))
    shipment = make_shipment(client, exporter)["id"]
    other = EventWriter(app.state.session_factory, app.state.settings)
    with app.state.session_factory() as session:
        token = exporter.headers["Authorization"].split()[1]
        principal = authenticate_bearer(session, settings=app.state.settings, token=token)
    assert principal is not None

    def here(body: dict[str, Any]) -> None:
        response = client.post(
            f"{API}/shipments/{shipment}/events", json=body, headers=exporter.headers
        )
        assert response.status_code == 201, response.text
        check()

    def there(body: dict[str, Any]) -> None:
        request = _Request(principal, uuid.UUID(shipment), [EventIn.model_validate(body)])
        [outcome] = other._write([request])
        assert not isinstance(outcome, BaseException), outcome
        assert all(not isinstance(o, BaseException) for o in outcome), outcome
        check()

    def check() -> None:
        with app.state.session_factory() as session:
            stored = stored_stop_rows(session, uuid.UUID(shipment))
            assert stored == expected_stop_rows(session, uuid.UUID(shipment))

    here(event("arrived", 0, checkpoint_id=a))
    here(event("procedure_started", 5, procedure="document_check"))
    there(event("procedure_completed", 20, procedure="document_check"))  # later: goes on
    here(event("fee_paid", 25, fee=FEE))
    there(event("released", 40))
    there(event("arrived", 60, checkpoint_id=b))
    here(event("held", 70, hold_reason="missing_document"))
    there(event("note", 30, note="late"))  # earlier than this writer's last: a replay
    here(event("released", 90))

    # This writer's write fails after its timeline went on (its projection is not kept);
    # the other worker then stores that very event, and this writer must count it.
    replace = materialize.replace_stops

    def replace_then_fail(*args: Any, **kwargs: Any) -> Any:
        replace(*args, **kwargs)
        raise RuntimeError("injected")

    arrival = event("arrived", 120, checkpoint_id=c)
    monkeypatch.setattr(materialize, "replace_stops", replace_then_fail)
    with TestClient(app, raise_server_exceptions=False) as failing:
        response = failing.post(
            f"{API}/shipments/{shipment}/events", json=arrival, headers=exporter.headers
        )
    assert response.status_code == 500
    monkeypatch.setattr(materialize, "replace_stops", replace)
    there(arrival)
    here(event("fee_paid", 130, fee={**FEE, "receipt": True}))
    here(event("released", 150))

    with app.state.session_factory() as session:
        stored = stored_stop_rows(session, uuid.UUID(shipment))
    assert [stop["checkpoint_id"] for stop in stored["stops"]] == [uuid.UUID(x) for x in (a, b, c)]
    assert len(stored["fees"]) == 2
    other.close()


def test_stops_updated_in_place_equal_a_full_rebuild_after_every_event(
    client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events in order change the open stop a little at a time: on SQLite the writer
    updates its changed columns and its holds, procedures and fees in place
    (materialize._InPlace) and only the shipment's columns that changed. After each event
    the stored rows, the procedures in the order the API gives them, and the shipment's
    derived fields are what materialising all events from scratch gives."""
    boss = admin(client)
    exporter = make_exporter(client, boss)
    a, b = (make_checkpoint(client, boss)["id"] for _ in range(2))
    shipment = make_shipment(client, exporter)["id"]
    sid = uuid.UUID(shipment)
    updated: list[str] = []
    update = statements.update

    def spy(session: Any, table: Any, rows: Any, key: Any) -> None:
        updated.append(table.name)
        update(session, table, rows, key)

    monkeypatch.setattr(statements, "update", spy)
    trip = [
        event("departed", 0),
        event("arrived", 60, checkpoint_id=a),
        event("procedure_started", 65, procedure="document_check"),
        event("held", 70, hold_reason="missing_document"),
        event("procedure_completed", 80, procedure="document_check"),
        event("procedure_started", 85, procedure="xray_scan"),
        event("procedure_started", 90, procedure="document_check"),  # its second run
        event("fee_paid", 95, fee=FEE),
        event("held", 100, hold_reason="security"),  # ends the first hold
        event("procedure_completed", 110, procedure="document_check"),
        event("released", 150),  # ends the hold; xray_scan never completed
        event("arrived", 240, checkpoint_id=b),
        event("fee_paid", 245, fee={**FEE, "receipt": True}),
        event("released", 270),
        event("delivered", 500),
    ]
    for body in trip:
        response = client.post(
            f"{API}/shipments/{shipment}/events", json=body, headers=exporter.headers
        )
        assert response.status_code == 201, response.text
        with app.state.session_factory() as session:
            assert stored_stop_rows(session, sid) == expected_stop_rows(session, sid)
            stored = session.get_one(Shipment, sid)
            events = session.execute(
                select(*service.TIMELINE_COLUMNS).where(TrackingEvent.shipment_id == sid)
            ).all()
            built = timeline.build([timeline.Event(*row) for row in events])
            fields = materialize.shipment_fields(built)
            assert {key: getattr(stored, key) for key in fields} == fields
            assert stored.events_version == trip.index(body) + 1
    stops = client.get(f"{API}/shipments/{shipment}/stops", headers=exporter.headers).json()
    assert [p["procedure"] for p in stops["items"][0]["procedures"]] == [
        "document_check",
        "xray_scan",
        "document_check",
    ]
    if app.state.engine.dialect.name == "sqlite":
        assert {"stops", "stop_procedures", "stop_holds"} <= set(updated)
