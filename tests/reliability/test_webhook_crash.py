"""Webhooks survive kill -9: the server (writing events and their messages) and a separate
dispatcher (`clearance dispatch`, sending them) are both killed with SIGKILL at random
moments under event load, then started again. Afterwards every message of every stored event
reaches the receiver, in order per shipment, and no message exists for an event that was not
stored (the outbox is written in the events' own transaction). On SQLite and PostgreSQL."""

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.organizations.models import Organization
from app.tracking.models import TrackingEvent
from app.webhooks import secrets
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import message_id_header
from tests.reliability.test_crash_durability import (
    ROOT,
    Ledger,
    Server,
    database_url,  # noqa: F401 (the fixture)
    set_up_world,
    writer,
)
from tests.webhooks.receiver import Receiver, running

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "3"))
WRITERS = 6
# Always news whatever their time: each must have a message (its own type, or an update).
ALWAYS_NEWS = {"arrived", "held", "released"}
pytestmark = pytest.mark.slow


class Dispatch:
    """`clearance dispatch` in a child process, killed with SIGKILL, started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "dispatch"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def subscribe(session: Session, url: str, secret: str, secret_key: str) -> None:
    """The exporter's endpoint for every type an event can cause."""
    organization = session.scalars(
        select(Organization).where(Organization.name == "Crash Cement")
    ).one()
    kinds = ("departed", "arrived", "held", "released", "fee_unreceipted", "updated")
    session.add(
        WebhookEndpoint(
            organization_id=organization.id,
            url=url,
            event_types=[f"shipment.{kind}" for kind in kinds],
            secret_encrypted=secrets.encrypt(secret, secret_key),
        )
    )
    session.commit()


def test_no_message_lost_or_invented_through_kill_9(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    server = Server(database_url, tmp_path / "server.log")
    server.env.update(
        WEBHOOK_DISPATCHER="external",  # the server only writes; `dispatch` sends
        WEBHOOK_ALLOW_PRIVATE="true",
        WEBHOOK_TIMEOUT_SECONDS="1",  # a lease of 8 s: what a killed dispatcher held
    )
    dispatch = Dispatch(server.env, tmp_path / "dispatch.log")
    engine = create_engine(database_url)
    secret = secrets.new_secret()
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    ledger = Ledger()
    try:
        with running(Receiver(secret)) as receiver:
            server.start()
            headers, shipments, checkpoint_id = set_up_world(server.base)
            with Session(engine) as session:
                subscribe(session, receiver.url, secret, server.env["SECRET_KEY"])
            dispatch.start()
            for _ in range(ROUNDS):
                stop = threading.Event()
                writers = [
                    threading.Thread(
                        target=writer,
                        args=(
                            server.base,
                            headers,
                            shipments,
                            checkpoint_id,
                            ledger,
                            stop,
                            rng.random(),
                        ),
                        daemon=True,
                    )
                    for _ in range(WRITERS)
                ]
                for thread in writers:
                    thread.start()
                time.sleep(rng.uniform(0.5, 1.5))
                # Both at once, mid-write and mid-send.
                dispatch.kill()
                server.kill()
                stop.set()
                for thread in writers:
                    thread.join(timeout=60)
                server.start()
                dispatch.start()
            wait_until_sent(engine, seconds=60)
            with Session(engine) as session:
                check_every_message(session, receiver)
        assert len(ledger.acked) > ROUNDS * 10, "the load was too light to mean anything"
    finally:
        dispatch.kill()
        server.stop()
        engine.dispose()


def wait_until_sent(engine: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Session(engine) as session:  # type: ignore[arg-type]
            pending = session.scalar(
                select(WebhookDelivery.id).where(WebhookDelivery.status != DeliveryStatus.succeeded)
            )
        if pending is None:
            return
        time.sleep(0.5)
    raise AssertionError("messages still unsent a minute after the last restart")


def check_every_message(session: Session, receiver: Receiver) -> None:
    events = {e.event_id: e for e in session.scalars(select(TrackingEvent))}
    deliveries = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    # No message for an event that was not stored.
    caused = [d.event_id for d in deliveries]
    assert all(event_id in events for event_id in caused)
    assert len(caused) == len(set(caused))  # and one per event
    # Every stored event that is news has its message.
    news = {i for i, e in events.items() if e.type in ALWAYS_NEWS}
    assert news <= set(caused), f"{len(news - set(caused))} stored events without a message"
    # Every message reached the receiver (processed once: it deduplicates), in order.
    sent = {message_id_header(d.message_id): d for d in deliveries}
    processed = [p.message_id for p in receiver.processed]
    assert sorted(processed) == sorted(sent)
    order: dict[uuid.UUID | None, list[int]] = {}
    for message_id in processed:
        delivery = sent[message_id]
        order.setdefault(delivery.shipment_id, []).append(delivery.id)
    for ids in order.values():
        assert ids == sorted(ids)
    print(
        f"\nwebhooks through kill -9: {len(events)} events stored, {len(deliveries)} messages, "
        f"{len(receiver.requests)} requests for {len(processed)} messages processed "
        f"({len(receiver.requests) - len(processed)} sent again after a kill)"
    )
