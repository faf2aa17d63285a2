"""The dispatcher when things go wrong (a second review's findings, each played here): a
record that fails, an unreadable secret, a release racing the clock, a receiver that
trickles its answer, a body that cannot be made, an attempt recorded after its lease
passed to another dispatcher, and the messages waiting behind a failing one."""

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import update

from app.webhooks import dispatcher as dispatching
from app.webhooks import payloads
from app.webhooks.dispatcher import UNREADABLE_SECRET, Dispatcher
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.sending import Attempt
from tests.tracking.helpers import event, from_now, post_event
from tests.webhooks.receiver import Delivery, Receiver, raw_server, running
from tests.webhooks.world import Clock, World, webhook_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from webhook_world(db_url, tmp_path)


def post_all(world: World, events: list[dict[str, object]]) -> None:
    for body in events:
        response = post_event(world.client, world.trip.id, body, world.trip.driver)
        assert response.status_code == 201, response.text


def set_url(world: World, endpoint_id: uuid.UUID, url: str) -> None:
    with world.session() as session:
        session.get_one(WebhookEndpoint, endpoint_id).url = url
        session.commit()


def test_a_failed_record_frees_its_senders(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint_id, secret = world.endpoint("")
    post_all(world, [event("departed", 0)])
    dispatcher = world.dispatcher(Clock())
    try:
        [item] = dispatcher._take(8)
        dispatcher._in_flight.add(item.id)
        dispatcher._finished.put((item, Attempt(True, 200, None), "{}"))

        def broken(outcomes: object) -> None:
            raise RuntimeError("database is locked")

        monkeypatch.setattr(dispatcher, "_record", broken)
        with pytest.raises(RuntimeError):
            dispatcher._record_finished()
        assert dispatcher._in_flight == set()  # its sender is free again
    finally:
        dispatcher.close()
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.pending  # taken again once its lease runs out


def test_an_unreadable_secret_disables_its_endpoint_and_no_other(world: World) -> None:
    broken_id, _ = world.endpoint("http://127.0.0.1:9/broken")
    good_id, secret = world.endpoint("")
    with world.session() as session:
        session.get_one(WebhookEndpoint, broken_id).secret_encrypted = "not-a-fernet-token"
        session.commit()
    with running(Receiver(secret)) as receiver:
        set_url(world, good_id, receiver.url)
        post_all(world, [event("departed", 0)])
        dispatcher = world.dispatcher(Clock())
        try:
            dispatcher.deliver_now()
        finally:
            dispatcher.close()
    assert [d.body["type"] for d in receiver.processed] == ["shipment.departed"]
    broken = world.endpoint_row(broken_id)
    assert broken.enabled is False
    assert broken.disabled_reason == UNREADABLE_SECRET
    [delivery] = world.deliveries(broken_id)
    assert delivery.status == DeliveryStatus.failed
    assert delivery.attempts == 0


def test_a_release_between_the_clocks_look_and_its_write_leaves_no_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    trip = world.trip
    watcher, _ = world.endpoint("http://127.0.0.1:9/a", types=["shipment.held_too_long"])
    post_all(
        world,
        [
            {**event("departed", 0), "occurred_at": from_now(-300)},
            {**event("arrived", 0, checkpoint_id=trip.a), "occurred_at": from_now(-250)},
            {**event("held", 0, hold_reason="missing_document"), "occurred_at": from_now(-200)},
        ],
    )
    dispatcher = world.dispatcher(Clock())
    real = dispatching._held_too_long
    looks: list[int] = []

    def look_then_release(*args: object) -> list[object]:
        found = real(*args)  # type: ignore[arg-type]
        looks.append(len(found))
        if len(looks) == 1:  # the release lands right after the first look
            post_all(world, [{**event("released", 0), "occurred_at": from_now(-1)}])
        return found  # type: ignore[return-value]

    monkeypatch.setattr(dispatching, "_held_too_long", look_then_release)
    try:
        assert dispatcher.scan_clock() == 0
    finally:
        dispatcher.close()
    assert looks == [1, 0]  # seen held at first, released when looked at again under lock
    assert world.deliveries(watcher) == []


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_time_limit(world: World) -> None:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers["content-length"]))
        try:
            for byte in b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 100:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.3)  # each read well inside the time limit, the whole not
        except OSError:
            pass

    endpoint_id, _ = world.endpoint("")
    with raw_server(trickle) as url:
        set_url(world, endpoint_id, url)
        post_all(world, [event("departed", 0)])
        dispatcher = world.dispatcher(Clock(), webhook_timeout_seconds=1.0)
        started = time.monotonic()
        try:
            dispatcher.deliver_now()
        finally:
            dispatcher.close()
        took = time.monotonic() - started
    assert took < 3
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.pending
    assert delivery.last_error == "no answer within 1 s"


def test_each_attempt_opens_its_own_connection(world: World) -> None:
    ports: list[int] = []

    def remember(delivery: Delivery, before: int) -> None:
        return None

    endpoint_id, secret = world.endpoint("")
    receiver = Receiver(secret, script=remember)
    real_handle = receiver.handle

    def handle(headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str]]:
        return real_handle(headers, raw)

    with running(receiver):
        set_url(world, endpoint_id, receiver.url)
        post_all(world, [event("departed", 0), event("arrived", 30, checkpoint_id=world.trip.a)])
        original = socket.socket.connect

        def counting(sock: socket.socket, address: object) -> None:
            if isinstance(address, tuple) and address[1] == receiver.port:
                ports.append(address[1])
            original(sock, address)  # type: ignore[arg-type]

        dispatcher = world.dispatcher(Clock())
        try:
            socket.socket.connect = counting  # type: ignore[method-assign]
            dispatcher.deliver_now()
        finally:
            socket.socket.connect = original  # type: ignore[method-assign]
            dispatcher.close()
    assert len(receiver.processed) == 2
    # No connection kept from one attempt to the next (a TLS check per host name).
    assert len(ports) == 2


def test_a_body_that_cannot_be_made_is_a_failed_attempt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> str:
        raise ValueError("no state")

    monkeypatch.setattr(payloads, "render", broken)
    endpoint_id, _ = world.endpoint("http://127.0.0.1:9/a")
    post_all(world, [event("departed", 0)])
    clock = Clock()
    dispatcher = world.dispatcher(clock)
    try:
        dispatcher.deliver_now()
    finally:
        dispatcher.close()
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.status == DeliveryStatus.pending
    assert delivery.attempts == 1  # counted: backoff and giving up apply
    assert "could not be made" in (delivery.last_error or "")
    assert delivery.payload is None
    assert delivery.next_attempt_at > clock.now


def test_an_attempt_recorded_after_its_lease_passed_on_changes_nothing(world: World) -> None:
    endpoint_id, _ = world.endpoint("http://127.0.0.1:9/a")
    post_all(world, [event("departed", 0)])
    clock = Clock()
    first = world.dispatcher(clock)
    try:
        [item] = first._take(8)
        # Its lease ran out and another dispatcher took it (a new lease).
        with world.session() as session:
            session.execute(
                update(WebhookDelivery).values(locked_until=item.lease + timedelta(minutes=5))
            )
            session.commit()
        first._record([(item, Attempt(False, 500, "answered 500"), "{}")])
    finally:
        first.close()
    [delivery] = world.deliveries(endpoint_id)
    assert delivery.attempts == 0
    assert delivery.locked_until == item.lease + timedelta(minutes=5)


def test_messages_behind_a_failing_one_wait_with_it_and_go_once_it_is_sent(
    world: World,
) -> None:
    endpoint_id, secret = world.endpoint("")

    answered: list[str] = []

    def once_down(delivery: Delivery, before: int) -> tuple[int, dict[str, str]] | None:
        answered.append(delivery.message_id)
        return (503, {}) if len(answered) == 1 else None  # down for the very first attempt

    with running(Receiver(secret, script=once_down)) as receiver:
        set_url(world, endpoint_id, receiver.url)
        post_all(world, [event("departed", 0), event("arrived", 30, checkpoint_id=world.trip.a)])
        clock = Clock()
        dispatcher: Dispatcher = world.dispatcher(clock)
        try:
            dispatcher.deliver_now()  # the first fails: due again in 5-6 s
            head, follower = world.deliveries(endpoint_id)
            # The one behind it waits as long (the scan for due messages skips it meanwhile).
            assert follower.attempts == 0
            assert follower.next_attempt_at == head.next_attempt_at > clock.now
            clock.advance(seconds=7)
            dispatcher.deliver_now()  # the first is sent, and the second at once after it
        finally:
            dispatcher.close()
    assert [d.body["type"] for d in receiver.processed] == [
        "shipment.departed",
        "shipment.arrived",
    ]
