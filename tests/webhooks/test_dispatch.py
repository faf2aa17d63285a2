"""The outbox and the dispatcher against a real receiver on 127.0.0.1: every message
arrives, signed (checked with the standardwebhooks library), in order per shipment, each
webhook-id processed once; retries with backoff; 410 and three days of failures disable an
endpoint; holds too long and silent trips found by the clock."""

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from app.tracking import eta_inputs
from app.webhooks.dispatcher import BACKOFF, JITTER, MAX_ATTEMPTS, next_delay
from app.webhooks.models import DeliveryStatus
from tests.factories import admin, make_exporter, make_shipment
from tests.tracking.helpers import (
    FEE,
    driver_day,
    event,
    from_now,
    insert_closed_stops,
    post_event,
)
from tests.webhooks.receiver import Delivery, Receiver, raw_server, running
from tests.webhooks.world import Clock, World, webhook_world

# driver_day()'s events that are news, in order (procedures are not; an unreceipted fee is).
DAY_MESSAGES = [
    "shipment.departed",
    "shipment.arrived",
    "shipment.fee_unreceipted",
    "shipment.held",
    "shipment.released",
    "shipment.arrived",
    "shipment.released",
    "shipment.delivered",
]


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from webhook_world(db_url, tmp_path)


def post_all(world: World, events: list[dict[str, object]], shipment_id: str | None = None) -> None:
    for body in events:
        response = post_event(world.client, shipment_id or world.trip.id, body, world.trip.driver)
        assert response.status_code == 201, response.text


def deliver_until_done(world: World, clock: Clock, rounds: int = 200, **settings: object) -> None:
    """Rounds of the dispatcher, the clock moved past any backoff between them."""
    dispatcher = world.dispatcher(clock, **settings)
    try:
        for _ in range(rounds):
            dispatcher.deliver_now()
            if all(d.status != DeliveryStatus.pending for d in world.deliveries()):
                return
            clock.advance(hours=13)  # past the longest wait
    finally:
        dispatcher.close()


def test_every_message_arrives_signed_in_order_through_failures(world: World) -> None:
    # Each message is refused twice (500), then taken.
    def flaky(delivery: Delivery, before: int) -> tuple[int, dict[str, str]] | None:
        return (500, {}) if before < 2 else None

    endpoint_id, secret = world.endpoint("")
    with running(Receiver(secret, script=flaky)) as receiver:
        _set_url(world, endpoint_id, receiver.url)
        day = driver_day(world.trip.a, world.trip.b)
        post_all(world, day)
        deliver_until_done(world, Clock())

    assert receiver.bad_signatures == 0
    assert [d.body["type"] for d in receiver.processed] == DAY_MESSAGES
    # Every message three times (two refusals, then success), and never out of order: each
    # attempt's message is never older than one already taken.
    assert len(receiver.requests) == 3 * len(DAY_MESSAGES)
    ids = [d.message_id for d in receiver.requests]
    assert ids == [i for i in dict.fromkeys(ids) for _ in range(3)]
    news = [e for e in day if e["type"] not in ("procedure_started", "procedure_completed")]
    assert [d.body["data"]["event"]["event_id"] for d in receiver.processed] == [
        e["event_id"] for e in news
    ]
    for delivery in receiver.processed:
        data = delivery.body["data"]
        assert data["shipment"]["id"] == world.trip.id
        assert set(data) == {"shipment", "current_stop", "eta", "event"}
        assert delivery.headers["webhook-id"].startswith("msg_")
    assert receiver.processed[-1].body["data"]["shipment"]["status"] == "delivered"
    rows = world.deliveries()
    assert [r.status for r in rows] == [DeliveryStatus.succeeded] * len(DAY_MESSAGES)
    assert [r.attempts for r in rows] == [3] * len(DAY_MESSAGES)
    assert all(r.last_status_code == 200 and r.payload for r in rows)
    assert world.endpoint_row(endpoint_id).failing_since is None


def test_a_retry_sends_the_same_bytes_under_the_same_id(world: World) -> None:
    endpoint_id, secret = world.endpoint("")
    with running(
        Receiver(secret, script=lambda d, before: (503, {}) if before == 0 else None)
    ) as r:
        _set_url(world, endpoint_id, r.url)
        post_all(world, [event("departed", 0)])
        deliver_until_done(world, Clock())
    first, second = r.requests
    assert first.message_id == second.message_id
    assert first.body == second.body


def test_messages_only_for_subscribed_types_and_the_owners_endpoints(world: World) -> None:
    delivered_only, _ = world.endpoint("http://127.0.0.1:9/a", types=["shipment.delivered"])
    held_only, _ = world.endpoint("http://127.0.0.1:9/b", types=["shipment.held"])
    disabled, _ = world.endpoint("http://127.0.0.1:9/c", enabled=False)
    other = world.client.post(
        "/api/v1/organizations", json={"name": "Other exporter"}, headers=world.trip.admin.headers
    ).json()
    strangers, _ = world.endpoint("http://127.0.0.1:9/d", organization_id=other["id"])
    post_all(world, driver_day(world.trip.a, world.trip.b))

    assert [d.type for d in world.deliveries(delivered_only)] == ["shipment.delivered"]
    assert [d.type for d in world.deliveries(held_only)] == ["shipment.held"]
    assert world.deliveries(disabled) == []
    assert world.deliveries(strangers) == []


def test_a_replayed_event_or_a_refused_one_writes_no_message(world: World) -> None:
    endpoint_id, _ = world.endpoint("http://127.0.0.1:9/a")
    departed = event("departed", 0)
    post_all(world, [departed])
    again = post_event(world.client, world.trip.id, departed, world.trip.driver)
    assert again.status_code == 200  # a replay
    refused = post_event(
        world.client,
        world.trip.id,
        event("arrived", 10, checkpoint_id=str(uuid.uuid4())),
        world.trip.driver,
    )
    assert refused.status_code == 422
    assert [d.type for d in world.deliveries(endpoint_id)] == ["shipment.departed"]


def test_a_late_event_is_an_update_with_the_new_state(world: World) -> None:
    endpoint_id, _ = world.endpoint("http://127.0.0.1:9/a")
    trip = world.trip
    post_all(world, [event("departed", 0), event("arrived", 120, checkpoint_id=trip.b)])
    # The phone comes back online with the stop at A, two hours in the past.
    post_all(world, [event("arrived", 30, checkpoint_id=trip.a), event("released", 50)])
    # A fee without a receipt, on time: its own type.
    post_all(world, [event("fee_paid", 130, fee=FEE)])
    assert [d.type for d in world.deliveries(endpoint_id)] == [
        "shipment.departed",
        "shipment.arrived",
        "shipment.updated",
        "shipment.updated",
        "shipment.fee_unreceipted",
    ]


def test_410_disables_the_endpoint_and_its_owner_sees_why(world: World) -> None:
    endpoint_id, secret = world.endpoint("")
    with running(Receiver(secret, script=lambda d, before: (410, {}))) as receiver:
        _set_url(world, endpoint_id, receiver.url)
        post_all(world, [event("departed", 0), event("arrived", 60, checkpoint_id=world.trip.a)])
        deliver_until_done(world, Clock())
    assert len(receiver.requests) == 1  # the second message was never sent
    endpoint = world.endpoint_row(endpoint_id)
    assert endpoint.enabled is False
    assert "410" in (endpoint.disabled_reason or "")
    first, second = world.deliveries(endpoint_id)
    assert (first.status, first.last_status_code) == (DeliveryStatus.failed, 410)
    assert second.status == DeliveryStatus.failed
    assert second.attempts == 0
    assert "disabled" in (second.last_error or "")
    post_all(world, [event("released", 90)])
    assert len(world.deliveries(endpoint_id)) == 2  # a disabled endpoint is owed nothing


def test_three_days_of_failures_disable_the_endpoint(world: World) -> None:
    endpoint_id, secret = world.endpoint("")
    with running(Receiver(secret, script=lambda d, before: (500, {}))) as receiver:
        _set_url(world, endpoint_id, receiver.url)
        post_all(world, [event("departed", 0)])
        clock = Clock()
        dispatcher = world.dispatcher(clock)
        try:
            for _ in range(24 * 5):
                dispatcher.deliver_now()
                clock.advance(hours=1)
        finally:
            dispatcher.close()
    endpoint = world.endpoint_row(endpoint_id)
    assert endpoint.enabled is False
    assert "every attempt failed since" in (endpoint.disabled_reason or "")
    assert "answered 500" in (endpoint.disabled_reason or "")
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.failed
    # The 16th attempt, or the 15th when its waits were drawn long: past three days either way.
    assert MAX_ATTEMPTS - 1 <= delivery.attempts <= MAX_ATTEMPTS
    assert delivery.attempts == len(receiver.requests)
    # The last attempt came after three days of failures (and within four), and ended it.
    assert endpoint.disabled_at is not None
    assert endpoint.failing_since is not None
    failing_for = endpoint.disabled_at - endpoint.failing_since
    assert timedelta(days=3) <= failing_for < timedelta(days=4)


def test_the_backoff_schedule() -> None:
    assert MAX_ATTEMPTS >= 12
    total = sum(BACKOFF, timedelta())
    assert timedelta(days=3) <= total <= timedelta(days=3.5)
    for attempts in range(1, MAX_ATTEMPTS):
        delay = next_delay(attempts)
        assert delay is not None
        base = BACKOFF[attempts - 1]
        assert base <= delay <= base * (1 + JITTER)
    assert next_delay(MAX_ATTEMPTS) is None
    assert list(BACKOFF) == sorted(BACKOFF)  # never shorter than the wait before


def test_a_receiver_that_hangs_is_timed_out_and_tried_again(world: World) -> None:
    def hang(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(6)

    endpoint_id, _ = world.endpoint("")
    with raw_server(hang) as url:
        _set_url(world, endpoint_id, url)
        post_all(world, [event("departed", 0)])
        clock = Clock()
        dispatcher = world.dispatcher(clock, webhook_timeout_seconds=1.0)
        started = time.monotonic()
        try:
            assert dispatcher.deliver_now() == 1
        finally:
            dispatcher.close()
        took = time.monotonic() - started
    assert took < 4
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.pending
    assert delivery.last_error == "no answer within 1 s"
    assert delivery.next_attempt_at > clock.now


def test_an_answer_of_100_mb_is_not_read_past_the_limit(world: World) -> None:
    written = [0]

    def flood(handler: BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers["content-length"]))
        handler.send_response(200)
        handler.send_header("content-length", str(100 * 1024 * 1024))
        handler.end_headers()
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(100):
                handler.wfile.write(chunk)
                written[0] += len(chunk)
        except OSError:
            pass  # we hung up

    endpoint_id, _ = world.endpoint("")
    with raw_server(flood) as url:
        _set_url(world, endpoint_id, url)
        post_all(world, [event("departed", 0)])
        dispatcher = world.dispatcher(Clock())
        try:
            dispatcher.deliver_now()
        finally:
            dispatcher.close()
        time.sleep(0.5)
    assert written[0] < 40 * 1024 * 1024  # the socket buffers' worth, not 100 MB
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.succeeded


def test_a_redirect_is_never_followed(world: World) -> None:
    endpoint_id, secret = world.endpoint("")
    with running(Receiver(secret)) as elsewhere:

        def redirect(handler: BaseHTTPRequestHandler) -> None:
            handler.rfile.read(int(handler.headers["content-length"]))
            handler.send_response(307)
            handler.send_header("location", elsewhere.url)
            handler.send_header("content-length", "0")
            handler.end_headers()

        with raw_server(redirect) as url:
            _set_url(world, endpoint_id, url)
            post_all(world, [event("departed", 0)])
            dispatcher = world.dispatcher(Clock())
            try:
                dispatcher.deliver_now()
            finally:
                dispatcher.close()
    assert elsewhere.requests == []
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.pending  # tried again later
    assert delivery.last_status_code == 307
    assert "not followed" in (delivery.last_error or "")


def test_an_address_that_is_private_at_delivery_time_is_refused(world: World) -> None:
    endpoint_id, secret = world.endpoint("")
    with running(Receiver(secret)) as receiver:
        # Registered while it was public, say; it resolves to 127.0.0.1 now.
        _set_url(world, endpoint_id, receiver.url.replace("127.0.0.1", "localhost"))
        post_all(world, [event("departed", 0)])
        dispatcher = world.dispatcher(Clock(), webhook_allow_private=False)
        try:
            dispatcher.deliver_now()
        finally:
            dispatcher.close()
    assert receiver.requests == []
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.pending
    assert delivery.last_status_code is None
    assert (delivery.last_error or "").startswith("refused:")


def test_two_dispatchers_never_send_one_message_twice(world: World) -> None:
    def slow(delivery: Delivery, before: int) -> None:
        time.sleep(0.01)  # both dispatchers busy at once

    endpoint_id, secret = world.endpoint("")
    shipments = [world.trip.id]
    for _ in range(5):
        created = world.client.post(
            "/api/v1/shipments",
            json={**_payload(), "route": [world.trip.a, world.trip.b]},
            headers=world.trip.exporter.headers,
        )
        shipments.append(created.json()["id"])
    for sid in shipments:
        for body in driver_day(world.trip.a, world.trip.b):
            response = post_event(world.client, sid, body, world.trip.exporter.headers)
            assert response.status_code == 201, response.text
    expected = len(shipments) * len(DAY_MESSAGES)
    with running(Receiver(secret, script=slow)) as receiver:
        _set_url(world, endpoint_id, receiver.url)
        clock = Clock()
        first, second = world.dispatcher(clock), world.dispatcher(clock)
        try:
            threads = [threading.Thread(target=d.deliver_now) for d in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            first.deliver_now()  # what the other's last round left due
        finally:
            first.close()
            second.close()
    ids = [d.message_id for d in receiver.requests]
    assert len(ids) == len(set(ids)) == expected
    for sid in shipments:
        mine = [
            d.body["type"] for d in receiver.requests if d.body["data"]["shipment"]["id"] == sid
        ]
        assert mine == DAY_MESSAGES


def test_the_clock_finds_holds_too_long_and_silent_trips_once(world: World) -> None:
    trip = world.trip
    watcher, _ = world.endpoint(
        "http://127.0.0.1:9/a", types=["shipment.held_too_long", "shipment.silent"]
    )
    patient, _ = world.endpoint(
        "http://127.0.0.1:9/b", types=["shipment.held_too_long"], held_minutes=600
    )
    held = [
        {**event("departed", 0), "occurred_at": from_now(-300)},
        {**event("arrived", 0, checkpoint_id=trip.a), "occurred_at": from_now(-250)},
        {**event("held", 0, hold_reason="missing_document"), "occurred_at": from_now(-200)},
    ]
    post_all(world, held)
    quiet = world.client.post(
        "/api/v1/shipments", json=_payload(), headers=trip.exporter.headers
    ).json()
    response = post_event(
        world.client,
        quiet["id"],
        {**event("departed", 0), "occurred_at": from_now(-400)},
        trip.exporter.headers,
    )
    assert response.status_code == 201
    dispatcher = world.dispatcher(Clock())
    try:
        assert dispatcher.scan_clock() == 2
        assert dispatcher.scan_clock() == 0  # once per hold, once per silence
    finally:
        dispatcher.close()
    found = {(d.type, str(d.shipment_id)) for d in world.deliveries(watcher)}
    assert found == {("shipment.held_too_long", trip.id), ("shipment.silent", quiet["id"])}
    assert world.deliveries(patient) == []  # 200 minutes is not its 600


def test_the_dispatcher_in_the_server_sends_as_events_arrive(db_url: str, tmp_path: Path) -> None:
    for world in webhook_world(db_url, tmp_path, webhook_dispatcher="internal"):
        endpoint_id, secret = world.endpoint("")
        with running(Receiver(secret)) as receiver:
            _set_url(world, endpoint_id, receiver.url)
            post_all(world, [event("departed", 0)])
            receiver.wait_for(1, seconds=10)
        assert [d.body["type"] for d in receiver.processed] == ["shipment.departed"]


def _set_url(world: World, endpoint_id: uuid.UUID, url: str) -> None:
    from app.webhooks.models import WebhookEndpoint

    with world.session() as session:
        session.get_one(WebhookEndpoint, endpoint_id).url = url
        session.commit()


def _payload() -> dict[str, object]:
    from tests.factories import shipment_payload

    return shipment_payload()


def test_registered_through_the_api_tested_and_sent_by_the_server(
    db_url: str, tmp_path: Path
) -> None:
    for world in webhook_world(db_url, tmp_path, webhook_dispatcher="internal"):
        exporter = world.trip.exporter.headers
        with running(Receiver("whsec_" + "A" * 32)) as receiver:
            created = world.client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "event_types": ["shipment.departed"]},
                headers=exporter,
            )
            assert created.status_code == 201, created.text
            receiver.secret = created.json()["secret"]
            endpoint = created.json()["id"]
            tested = world.client.post(f"/api/v1/webhooks/{endpoint}/test", headers=exporter)
            assert tested.status_code == 202, tested.text
            receiver.wait_for(1, seconds=10)
            post_all(world, [event("departed", 0)])
            receiver.wait_for(2, seconds=10)
        assert receiver.bad_signatures == 0
        assert [d.body["type"] for d in receiver.processed] == [
            "webhook.test",
            "shipment.departed",
        ]
        listed = world.client.get(f"/api/v1/webhooks/{endpoint}/deliveries", headers=exporter)
        assert [
            (d["type"], d["status"], d["attempts"], d["last_status_code"])
            for d in listed.json()["items"]
        ] == [
            ("shipment.departed", "succeeded", 1, 200),
            ("webhook.test", "succeeded", 1, 200),
        ]
        assert {d["message_id"] for d in listed.json()["items"]} == {
            d.message_id for d in receiver.processed
        }


def test_a_message_of_a_truck_on_the_road_carries_its_eta(world: World) -> None:
    endpoint_id, secret = world.endpoint("", types=["shipment.arrived"])
    trip = world.trip
    with running(Receiver(secret)) as receiver:
        _set_url(world, endpoint_id, receiver.url)
        post_all(
            world,
            [
                {**event("departed", 0), "occurred_at": from_now(-300)},
                {**event("arrived", 0, checkpoint_id=trip.a), "occurred_at": from_now(-240)},
                {**event("released", 0), "occurred_at": from_now(-200)},
                {**event("arrived", 0, checkpoint_id=trip.b), "occurred_at": from_now(-60)},
            ],
        )
        deliver_until_done(world, Clock())
    [first, second] = receiver.processed
    eta = second.body["data"]["eta"]
    assert eta is not None
    assert eta["p50"] <= eta["p90"]
    assert second.body["data"]["current_stop"]["checkpoint"]["id"] == trip.b
    # What GET /shipments/{id} gives a moment later (now + the same remaining time).
    shown = world.client.get(f"/api/v1/shipments/{trip.id}", headers=trip.exporter.headers)
    later = datetime.fromisoformat(shown.json()["eta"]["p90"])
    assert abs(later - datetime.fromisoformat(eta["p90"])) < timedelta(seconds=30)


def test_a_messages_eta_shows_no_other_exporters_waits_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another exporter alone stopped at B 30 times on a settled day, and nowhere else:
    the departure's message carries no ETA, as GET /shipments/{id} shows none (app/privacy.py,
    as for reports). Once two more exporters' stops there make that day's cell pass, the
    next message's ETA is built from them."""
    monkeypatch.setattr(eta_inputs, "CACHE_SECONDS", 0.001)  # each message reads afresh
    engine, trip = world.app.state.engine, world.trip
    boss = admin(world.client)
    holders = [make_shipment(world.client, make_exporter(world.client, boss)) for _ in range(3)]
    # A day others' stops count by: settled (it ended eta_inputs.SETTLE before today began).
    today = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    settled = today - eta_inputs.SETTLE - timedelta(hours=12)
    insert_closed_stops(engine, holders[0], trip.b, [300.0] * 30, settled)
    endpoint_id, secret = world.endpoint("", types=["shipment.departed", "shipment.arrived"])
    with running(Receiver(secret)) as receiver:
        _set_url(world, endpoint_id, receiver.url)
        post_all(world, [{**event("departed", 0), "occurred_at": from_now(-60)}])
        deliver_until_done(world, Clock())
        shown = world.client.get(f"/api/v1/shipments/{trip.id}", headers=trip.exporter.headers)
        assert shown.json()["eta"] is None
        for holder in holders[1:]:
            insert_closed_stops(engine, holder, trip.b, [200.0] * 5, settled)
        post_all(
            world, [{**event("arrived", 0, checkpoint_id=trip.a), "occurred_at": from_now(-5)}]
        )
        deliver_until_done(world, Clock())
    departed, arrived = receiver.processed
    assert departed.body["type"] == "shipment.departed"
    assert departed.body["data"]["eta"] is None
    basis = arrived.body["data"]["eta"]["basis"]
    assert [(c["source"], c["samples"]) for c in basis["checkpoints_ahead"]] == [
        ("province", 40),  # A: none of its own; A and B are both in Kirkuk
        ("checkpoint", 40),
    ]
