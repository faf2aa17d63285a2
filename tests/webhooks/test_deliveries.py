"""An endpoint's deliveries as its owner sees them (newest first, by status), a retry that
queues one more attempt now, and a test message queued with its body already set. The
sending is the dispatcher's: these tests look at the rows the routes leave for it."""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import write_transaction
from app.webhooks.models import DeliveryStatus, WebhookDelivery
from app.webhooks.schemas import message_id_header
from tests.factories import Actor, admin, assert_problem, make_exporter, make_shipment
from tests.webhooks.helpers import WEBHOOKS, counts, register, session, stored_delivery

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def boss(client: TestClient) -> Actor:
    return admin(client)


@pytest.fixture
def a(client: TestClient, boss: Actor) -> Actor:
    return make_exporter(client, boss)


def add_delivery(app: FastAPI, endpoint_id: str, **fields: Any) -> int:
    """A row as the outbox and the dispatcher leave one."""
    values: dict[str, Any] = {
        "endpoint_id": uuid.UUID(endpoint_id),
        "type": "shipment.held",
        "status": DeliveryStatus.pending,
        "attempts": 0,
        "next_attempt_at": T0,
        "created_at": T0,
        **fields,
    }
    with session(app) as s, write_transaction(s):
        delivery = WebhookDelivery(message_id=uuid.uuid4(), **values)
        s.add(delivery)
        s.flush()
        return delivery.id


def test_message_id_header_is_msg_and_32_hex_digits() -> None:
    value = uuid.UUID("0123456789abcdef0123456789abcdef")
    assert message_id_header(value) == "msg_0123456789abcdef0123456789abcdef"


def test_the_test_message_is_queued_with_its_body_set(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a, event_types=["shipment.delivered"])
    before = datetime.now(UTC)
    queued = client.post(f"{WEBHOOKS}/{endpoint['id']}/test", headers=a.headers)
    assert queued.status_code == 202, queued.text
    shown = queued.json()
    assert shown["type"] == "webhook.test"
    assert (shown["status"], shown["attempts"], shown["shipment_id"]) == ("pending", 0, None)
    assert re.fullmatch(r"msg_[0-9a-f]{32}", shown["message_id"])
    row = stored_delivery(app, shown["id"])
    assert message_id_header(row.message_id) == shown["message_id"]
    assert str(row.endpoint_id) == endpoint["id"]
    assert (row.type, row.shipment_id, row.status) == ("webhook.test", None, "pending")
    assert before <= row.next_attempt_at <= datetime.now(UTC)
    assert row.locked_until is None
    assert row.payload is not None
    body = json.loads(row.payload)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "webhook.test"
    assert body["data"] == {"endpoint_id": endpoint["id"], "organization_id": a.organization_id}
    assert body["timestamp"].endswith("Z")
    assert before <= datetime.fromisoformat(body["timestamp"]) <= datetime.now(UTC)


def test_deliveries_are_listed_newest_first_by_status_and_paginated(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a)
    other = register(client, a)
    shipment = make_shipment(client, a)
    event_id = uuid.uuid4()
    ok = add_delivery(
        app,
        endpoint["id"],
        shipment_id=uuid.UUID(shipment["id"]),
        event_id=event_id,
        status=DeliveryStatus.succeeded,
        attempts=1,
        last_attempt_at=T0,
        last_status_code=200,
        succeeded_at=T0,
    )
    gone = add_delivery(
        app,
        endpoint["id"],
        status=DeliveryStatus.failed,
        attempts=14,
        last_attempt_at=T0,
        last_status_code=500,
        last_error="HTTP 500",
    )
    waiting = add_delivery(app, endpoint["id"], attempts=2, last_error="timed out after 10 s")
    add_delivery(app, other["id"])  # another endpoint's: never in this list
    path = f"{WEBHOOKS}/{endpoint['id']}/deliveries"
    everything = client.get(path, headers=a.headers).json()
    assert [d["id"] for d in everything["items"]] == [waiting, gone, ok]
    assert everything["next_cursor"] is None
    first = everything["items"][2]
    assert first["shipment_id"] == shipment["id"]
    assert first["event_id"] == str(event_id)
    assert (first["status"], first["last_status_code"], first["attempts"]) == ("succeeded", 200, 1)
    assert first["next_attempt_at"] is None  # only a pending delivery has a next attempt
    assert everything["items"][1]["last_error"] == "HTTP 500"
    assert everything["items"][0]["next_attempt_at"] is not None
    failed = client.get(path, params={"status": "failed"}, headers=a.headers).json()["items"]
    assert [d["id"] for d in failed] == [gone]
    page = client.get(path, params={"limit": 2}, headers=a.headers).json()
    assert [d["id"] for d in page["items"]] == [waiting, gone]
    rest = client.get(
        path, params={"limit": 2, "cursor": page["next_cursor"]}, headers=a.headers
    ).json()
    assert ([d["id"] for d in rest["items"]], rest["next_cursor"]) == ([ok], None)
    for bad in ({"status": "lost"}, {"cursor": "xyz"}, {"cursor": "WzFlOTld"}, {"limit": 0}):
        assert_problem(client.get(path, params=bad, headers=a.headers), 422)


def test_a_retry_queues_one_more_attempt_now(client: TestClient, app: FastAPI, a: Actor) -> None:
    endpoint = register(client, a)
    gone = add_delivery(
        app,
        endpoint["id"],
        status=DeliveryStatus.failed,
        attempts=14,
        last_status_code=503,
        locked_until=T0,  # a lock long expired
    )
    before = datetime.now(UTC)
    retried = client.post(f"{WEBHOOKS}/{endpoint['id']}/deliveries/{gone}/retry", headers=a.headers)
    assert retried.status_code == 202, retried.text
    assert (retried.json()["id"], retried.json()["status"]) == (gone, "pending")
    row = stored_delivery(app, gone)
    assert row.status == DeliveryStatus.pending
    assert before <= row.next_attempt_at <= datetime.now(UTC)
    assert row.locked_until is None
    assert (row.attempts, row.last_status_code) == (14, 503)  # the history stays


def test_a_delivery_being_sent_is_not_unlocked_by_a_retry(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a)
    held_until = datetime.now(UTC) + timedelta(minutes=1)
    sending = add_delivery(app, endpoint["id"], locked_until=held_until, attempts=1)
    response = client.post(
        f"{WEBHOOKS}/{endpoint['id']}/deliveries/{sending}/retry", headers=a.headers
    )
    assert_problem(response, 409)
    assert stored_delivery(app, sending).locked_until == held_until


def test_a_retry_of_an_unknown_or_another_endpoints_delivery_is_404(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a)
    other = register(client, a)
    theirs = add_delivery(app, other["id"], status=DeliveryStatus.failed)
    retry = f"{WEBHOOKS}/{endpoint['id']}/deliveries/{{}}/retry"
    assert_problem(client.post(retry.format(theirs), headers=a.headers), 404)
    assert_problem(client.post(retry.format(999_999), headers=a.headers), 404)
    for bad in ("abc", "0", str(2**63), str(10**30)):
        assert_problem(client.post(retry.format(bad), headers=a.headers), 422)
    assert stored_delivery(app, theirs).status == DeliveryStatus.failed


def test_a_disabled_endpoint_gets_no_retry_and_no_test(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a)
    gone = add_delivery(app, endpoint["id"], status=DeliveryStatus.failed)
    path = f"{WEBHOOKS}/{endpoint['id']}"
    assert client.patch(path, json={"enabled": False}, headers=a.headers).status_code == 200
    for url in (f"{path}/deliveries/{gone}/retry", f"{path}/test"):
        problem = assert_problem(client.post(url, headers=a.headers), 409)
        assert "enable it first" in problem["detail"]
    assert stored_delivery(app, gone).status == DeliveryStatus.failed
    assert counts(app) == (1, 1)
    # Enabled again, both work.
    assert client.patch(path, json={"enabled": True}, headers=a.headers).status_code == 200
    assert client.post(f"{path}/deliveries/{gone}/retry", headers=a.headers).status_code == 202
    assert client.post(f"{path}/test", headers=a.headers).status_code == 202
    assert counts(app) == (1, 2)


def test_an_admin_sees_and_retries_any_organisations_deliveries(
    client: TestClient, app: FastAPI, boss: Actor, a: Actor
) -> None:
    endpoint = register(client, a)
    gone = add_delivery(app, endpoint["id"], status=DeliveryStatus.failed)
    path = f"{WEBHOOKS}/{endpoint['id']}"
    listed = client.get(f"{path}/deliveries", headers=boss.headers).json()["items"]
    assert [d["id"] for d in listed] == [gone]
    assert client.post(f"{path}/deliveries/{gone}/retry", headers=boss.headers).status_code == 202
