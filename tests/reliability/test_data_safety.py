"""Data safety: a request that fails half-way leaves the database exactly as it was (every
write is one transaction), and nothing ever deletes an event — cancelling keeps history."""

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

import app.auth.service
import app.shipments.service
import app.tracking.driver_tokens
import app.tracking.materialize
from app.db import Base
from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_shipment,
    shipment_payload,
)


class Injected(RuntimeError):
    """The failure a test injects; never raised by the application itself."""


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(text(f'SELECT * FROM "{table.name}"'))
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


@pytest.fixture
def raw_client(app: FastAPI) -> Iterator[TestClient]:
    # The server's own 500 answer is what is under test, not the exception inside it.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def fail_after(calls: int, original: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in that behaves like `original` for `calls` calls, then raises."""
    seen = [0]

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] > calls:
            raise Injected("injected failure mid-transaction")
        return original(*args, **kwargs)

    return stand_in


def event_body(kind: str = "note", **fields: Any) -> dict[str, Any]:
    occurred = datetime.now(UTC) - timedelta(minutes=5)
    return {"event_id": str(uuid.uuid4()), "type": kind, "occurred_at": occurred.isoformat()} | (
        fields or ({"note": "n"} if kind == "note" else {})
    )


@pytest.fixture
def world(raw_client: TestClient) -> tuple[Actor, dict[str, Any], dict[str, Any]]:
    exporter = make_exporter(raw_client, admin(raw_client))
    checkpoint = make_checkpoint(raw_client, admin(raw_client))
    shipment = make_shipment(raw_client, exporter, route=[checkpoint["id"]])
    url = f"{API}/shipments/{shipment['id']}/events"
    arrived = event_body("arrived", checkpoint_id=checkpoint["id"])
    assert raw_client.post(url, json=arrived, headers=exporter.headers).status_code == 201
    return exporter, checkpoint, shipment


def assert_failed_cleanly(response: Any, engine: Engine, before: dict[str, Any]) -> None:
    problem = assert_problem(response, 500)
    assert "Injected" not in response.text
    assert "Traceback" not in response.text
    assert problem["request_id"] == response.headers["x-request-id"]
    assert snapshot(engine) == before, "a failed request left a partial write behind"


def test_failed_shipment_update_changes_nothing(
    raw_client: TestClient, engine: Engine, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, _, _ = world
    planned = make_shipment(raw_client, exporter)
    before = snapshot(engine)
    # After the old route and cargo rows are deleted and flushed, building the new cargo fails.
    cargo_rows = app.shipments.service._cargo_rows
    monkeypatch.setattr(app.shipments.service, "_cargo_rows", fail_after(0, cargo_rows))
    change = {"route": [], "origin_city": "Chamchamal", "cargo": shipment_payload()["cargo"]}
    response = raw_client.patch(
        f"{API}/shipments/{planned['id']}", json=change, headers=exporter.headers
    )
    assert_failed_cleanly(response, engine, before)


@pytest.mark.parametrize("atomic", ["true", "false"])
def test_failed_csv_import_at_row_n_stores_no_row(
    raw_client: TestClient,
    engine: Engine,
    world: Any,
    monkeypatch: pytest.MonkeyPatch,
    atomic: str,
) -> None:
    exporter, _, _ = world
    out = io.StringIO()
    for n in range(5):  # five shipments, one row each
        shipment = shipment_payload(reference=f"CSV-{n}")
        line = {**{k: v for k, v in shipment.items() if k != "cargo"}, **shipment["cargo"][0]}
        writer = csv.DictWriter(out, fieldnames=list(line))
        if n == 0:
            writer.writeheader()
        writer.writerow(line)
    before = snapshot(engine)
    add = app.shipments.service.add_shipment
    monkeypatch.setattr(app.shipments.service, "add_shipment", fail_after(3, add))
    response = raw_client.post(
        f"{API}/shipments/import?atomic={atomic}",
        content=out.getvalue(),
        headers={**exporter.headers, "Content-Type": "text/csv"},
    )
    assert_failed_cleanly(response, engine, before)


def test_failed_batch_stores_no_shipment(
    raw_client: TestClient, engine: Engine, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, _, _ = world
    before = snapshot(engine)
    add = app.shipments.service.add_shipment
    monkeypatch.setattr(app.shipments.service, "add_shipment", fail_after(2, add))
    batch = [shipment_payload() for _ in range(4)]
    response = raw_client.post(f"{API}/shipments/batch", json=batch, headers=exporter.headers)
    assert_failed_cleanly(response, engine, before)


def test_failed_event_write_stores_neither_event_nor_stops(
    raw_client: TestClient, engine: Engine, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, _, shipment = world
    before = snapshot(engine)
    # The event row is in, the old stops are replaced; then the rebuild fails.
    replace = app.tracking.materialize.replace_stops

    def replace_then_fail(*args: Any, **kwargs: Any) -> None:
        replace(*args, **kwargs)
        raise Injected("injected failure after the stops were rewritten")

    monkeypatch.setattr(app.tracking.materialize, "replace_stops", replace_then_fail)
    url = f"{API}/shipments/{shipment['id']}/events"
    released = event_body("released")
    response = raw_client.post(url, json=released, headers=exporter.headers)
    assert_failed_cleanly(response, engine, before)
    # And the same event, once the fault is gone, is stored normally (nothing half-there).
    monkeypatch.setattr(app.tracking.materialize, "replace_stops", replace)
    assert raw_client.post(url, json=released, headers=exporter.headers).status_code == 201


def test_failed_driver_link_keeps_the_old_link(
    raw_client: TestClient, engine: Engine, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, _, shipment = world
    url = f"{API}/shipments/{shipment['id']}/driver-token"
    old = raw_client.post(url, headers=exporter.headers).json()["token"]
    before = snapshot(engine)
    # The old link is revoked in the transaction, then making the new one fails.
    secret = app.tracking.driver_tokens.new_secret
    monkeypatch.setattr(app.tracking.driver_tokens, "new_secret", fail_after(0, secret))
    assert_failed_cleanly(raw_client.post(url, headers=exporter.headers), engine, before)
    still = raw_client.get(
        f"{API}/shipments/{shipment['id']}", headers={"Authorization": f"Bearer {old}"}
    )
    assert still.status_code == 200


def test_failed_api_key_creation_stores_nothing(
    raw_client: TestClient, engine: Engine, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, _, _ = world
    before = snapshot(engine)
    digest = app.auth.service.digest
    monkeypatch.setattr(app.auth.service, "digest", fail_after(0, digest))
    response = raw_client.post(f"{API}/api-keys", json={"name": "x"}, headers=exporter.headers)
    assert_failed_cleanly(response, engine, before)


def test_no_operation_deletes_events(client: TestClient, engine: Engine) -> None:
    """A whole working life of a shipment, watching every SQL statement for a DELETE of events."""
    deletes: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE") and " events" in statement.lower():
            deletes.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        exporter = make_exporter(client, admin(client))
        checkpoint = make_checkpoint(client, admin(client))
        shipment = make_shipment(client, exporter, route=[checkpoint["id"]])
        url = f"{API}/shipments/{shipment['id']}"
        sent = [
            event_body("arrived", checkpoint_id=checkpoint["id"]),
            event_body("held", hold_reason="missing_document"),
            event_body("fee_paid", fee={"amount": 25000, "currency": "IQD", "receipt": False}),
            event_body("released"),
            event_body("note"),
        ]
        for body in sent:
            assert client.post(f"{url}/events", json=body, headers=exporter.headers).is_success
        sync = {"shipment_id": shipment["id"], "events": [sent[0], event_body("note")]}
        assert client.post(f"{API}/sync", json=sync, headers=exporter.headers).is_success
        stops_before = client.get(f"{url}/stops", headers=exporter.headers).json()["items"]
        cancel = client.post(
            f"{url}/cancel", json={"reason": "order withdrawn"}, headers=exporter.headers
        )
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["status"] == "cancelled"
        # Cancelling keeps the whole history: every event and every stop.
        events = client.get(f"{url}/events", headers=exporter.headers).json()["items"]
        assert len(events) == len(sent) + 1
        stops_after = client.get(f"{url}/stops", headers=exporter.headers).json()["items"]
        assert [s["id"] for s in stops_after] == [s["id"] for s in stops_before]
        # A cancelled shipment takes no new events, and refusing one deletes nothing.
        late = client.post(f"{url}/events", json=event_body(), headers=exporter.headers)
        assert_problem(late, 409)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert deletes == []


def test_the_api_has_no_way_to_delete_events(app: FastAPI) -> None:
    deletable = [
        path
        for path, operations in app.openapi()["paths"].items()
        if "delete" in operations and ("event" in path or "sync" in path)
    ]
    assert deletable == []
