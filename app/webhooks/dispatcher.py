"""Sends the outbox's messages: at least once, in order per shipment and endpoint, with
retries, from any number of processes at once.

A message is taken by setting its `locked_until` (a lease) in a short transaction; on
PostgreSQL the rows are chosen `FOR UPDATE SKIP LOCKED`, so two dispatchers never take the
same message, and on SQLite the write lock does the same. A dispatcher that dies holding a
lease only delays its messages: past the lease another one takes them (at least once; a
receiver deduplicates on `webhook-id`). A message is taken only when no earlier message of
the same shipment to the same endpoint is still pending: one at a time per shipment and
endpoint, in the order they were written, while other shipments' go out in parallel.

The dispatcher also keeps the clock: a hold open longer than an endpoint's `held_minutes`
and a trip silent for its `silent_minutes` are found here, not by an event, and written as
messages once per endpoint (a unique key per hold, per silence).

It runs in the server process by default (WEBHOOK_DISPATCHER=internal, started in
app/main.py's lifespan), or as `clearance dispatch`, any number of them."""

import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from app import privacy
from app.config import Settings
from app.db import utcnow, write_transaction
from app.shipments.models import Shipment, ShipmentStatus
from app.shipments.repository import lock_shipments
from app.tracking.models import Stop, StopHold
from app.webhooks import outbox, payloads, secrets
from app.webhooks.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from app.webhooks.schemas import message_id_header
from app.webhooks.sending import Attempt, Sender, signature_headers

logger = logging.getLogger(__name__)

# The waits after each failed attempt: 16 attempts over 3.2 to 3.8 days (AfterShip: 14 over
# ~68 hours). Each wait is made up to a fifth longer at random, so that a receiver back from
# an outage is not hit by every delayed message in the same second; never shorter, so that a
# message's last attempt comes after FAILING_LIMIT and an endpoint that failed it throughout
# is disabled by it.
BACKOFF = tuple(
    timedelta(seconds=s)
    for s in (5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800)
    + (43200,) * 5  # then every 12 hours
)
MAX_ATTEMPTS = len(BACKOFF) + 1
JITTER = 0.2
# An endpoint that has failed every attempt for this long is disabled (its owner sees why).
FAILING_LIMIT = timedelta(days=3)
# Messages taken per transaction, and sent at once by one dispatcher.
CONCURRENCY = 8


def next_delay(attempts: int, rnd: random.Random | None = None) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt, or None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = BACKOFF[attempts - 1]
    return base * (rnd or random).uniform(1, 1 + JITTER)


@dataclass(frozen=True)
class _Taken:
    """A message taken for sending, with what sending it needs."""

    id: int
    message_id: str
    url: str
    secrets: list[str]
    payload: str | None
    lease: datetime  # its locked_until: an attempt is recorded only while it is still this


class Dispatcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        *,
        poll_seconds: float = 1.0,
        scan_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = session_factory
        self._key = settings.secret_key
        self._thresholds = privacy.thresholds_of(settings)  # the messages' ETA
        # Longer than any attempt (each phase of it is bounded by the timeout) and its record.
        self._lease = timedelta(seconds=3 * settings.webhook_timeout_seconds + 5)
        self._poll = poll_seconds
        self._scan_every = scan_seconds
        self._clock = clock
        self._sender = Sender(
            timeout=settings.webhook_timeout_seconds,
            max_response_bytes=settings.webhook_max_response_bytes,
            allow_private=settings.webhook_allow_private,
        )
        self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="webhook-send")
        # The loop's own: the messages being sent, and the attempts that ended.
        self._in_flight: set[int] = set()
        self._finished: queue.SimpleQueue[tuple[_Taken, Attempt | None, str]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New messages were committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Asks the loop to end after its current round (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def close(self) -> None:
        """Stops taking messages and waits for the attempts in progress to be recorded."""
        self.stop()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True)  # each attempt ends within its time limit
        self._record_finished()  # `clearance dispatch` stopped by Ctrl-C or SIGTERM

    def run_forever(self) -> None:
        """`clearance dispatch`: the loop on this thread, until close() (or a signal)."""
        self._run()

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stopping.is_set():
            started = 0
            try:
                if time.monotonic() >= next_scan:
                    self.scan_clock()
                    next_scan = time.monotonic() + self._scan_every
                self._record_finished()
                started = self._start_due()
            except Exception:  # the database away for a moment: try again at the next poll
                logger.exception("webhook dispatcher: a round failed")
            if not started:
                # Woken by a result to record, a commit with messages, or the poll.
                self._wake.wait(self._poll)
                self._wake.clear()
        self._pool.shutdown(wait=True)
        self._record_finished()

    # Sending --------------------------------------------------------------------------

    def _start_due(self) -> int:
        """Takes the messages due now, as many as there are free senders, and starts
        sending them; returns how many were started."""
        free = CONCURRENCY - len(self._in_flight)
        taken = self._take(free) if free > 0 else []
        for item in taken:
            self._in_flight.add(item.id)
            self._pool.submit(self._send_one, item)
        return len(taken)

    def _send_one(self, item: _Taken) -> None:
        try:
            outcome = self._attempt(item)
        except Exception:  # recorded nowhere: its lease runs out and it is sent again
            logger.exception("webhook delivery %s: the attempt failed unexpectedly", item.id)
            outcome = None, ""
        self._finished.put((item, *outcome))
        self._wake.set()

    def _record_finished(self) -> None:
        """Records the attempts that ended since the last round, in one transaction (on
        SQLite one commit for many attempts, not one each)."""
        done: list[tuple[_Taken, Attempt | None, str]] = []
        while not self._finished.empty():
            done.append(self._finished.get_nowait())
        if not done:
            return
        try:
            self._record(done)
        finally:
            # Recorded or not (a failed record's messages are taken again once their
            # leases run out), their senders are free: else eight failed records would
            # leave this dispatcher no sender at all.
            for item, _, _ in done:
                self._in_flight.discard(item.id)

    def deliver_now(self) -> int:
        """Every message due now, sent and recorded before returning (tests, `dispatch
        --once`); how many attempts were made."""
        attempts = 0
        while taken := self._take(CONCURRENCY):
            self._record([(item, *self._attempt(item)) for item in taken])
            attempts += len(taken)
        return attempts

    def _attempt(self, item: _Taken) -> tuple[Attempt | None, str]:
        """One attempt and the body it sent; no attempt (None) if the message went with its
        endpoint meanwhile."""
        try:
            body = item.payload or self._render(item.id)
        except Exception as exc:  # an attempt that failed: retried, counted, given up
            logger.exception("webhook delivery %s: its body could not be made", item.id)
            return Attempt(False, None, f"not sent: its body could not be made ({exc!r})"), ""
        if body is None:
            return None, ""
        # The real time, whatever clock schedules the attempts: receivers refuse a
        # timestamp more than a few minutes from theirs.
        headers = signature_headers(item.message_id, body, item.secrets, utcnow())
        return self._sender.post(item.url, headers, body), body

    def _take(self, limit: int) -> list[_Taken]:
        now = self._clock()
        with self._sessions() as session:
            # A look first, without the write lock: most polls find nothing, and on SQLite
            # taking the lock would make the event writer wait for nothing.
            if not session.scalars(_due(now, 1)).first():
                return []
            with write_transaction(session):
                ids = list(session.scalars(_due(now, limit, lock=True)))
                if not ids:
                    return []
                session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(ids))
                    .values(locked_until=now + self._lease)
                )
                rows = session.execute(
                    select(WebhookDelivery, WebhookEndpoint)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(ids))
                    .order_by(WebhookDelivery.id)
                ).all()
                taken = []
                for delivery, endpoint in rows:
                    try:
                        signing = secrets.signing_secrets(endpoint, self._key, now)
                    except secrets.UndecryptableSecret:
                        # One endpoint's unreadable secret must not stop everyone's.
                        if endpoint.enabled:
                            _disable(session, endpoint, UNREADABLE_SECRET, now)
                        continue
                    taken.append(
                        _Taken(
                            delivery.id,
                            message_id_header(delivery.message_id),
                            endpoint.url,
                            signing,
                            delivery.payload,
                            now + self._lease,
                        )
                    )
                return taken

    def _render(self, delivery_id: int) -> str | None:
        with self._sessions() as session:
            found = session.execute(
                select(WebhookDelivery, WebhookEndpoint.organization_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id == delivery_id)
            ).first()
            if found is None:
                return None
            delivery, organization_id = found
            return payloads.render(session, delivery, organization_id, self._thresholds)

    def _record(self, outcomes: list[tuple[_Taken, Attempt | None, str]]) -> None:
        attempts = [(item, attempt, body) for item, attempt, body in outcomes if attempt]
        if not attempts:
            return
        now = self._clock()
        with self._sessions() as session, write_transaction(session):
            # Rows locked in one order (endpoints, then messages, by key): two dispatchers
            # recording at once never wait on each other in a cycle.
            endpoints = {
                e.id: e
                for e in session.scalars(
                    select(WebhookEndpoint)
                    .join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
                    .where(WebhookDelivery.id.in_([item.id for item, _, _ in attempts]))
                    .order_by(WebhookEndpoint.id)
                    # FOR NO KEY UPDATE: the event writer's messages (their foreign key's
                    # FOR KEY SHARE) are never held up by it.
                    .with_for_update(key_share=True)
                )
            }
            for item, attempt, body in sorted(attempts, key=lambda a: a[0].id):
                _apply(session, endpoints, item, attempt, body, now)

    # The clock ------------------------------------------------------------------------

    def scan_clock(self) -> int:
        """Writes the messages of holds open too long and of silent trips, once per endpoint;
        returns how many were new."""
        now = self._clock()
        with self._sessions() as session:
            endpoints = _watching(session)
            if not endpoints:
                return 0
            found = _held_too_long(session, endpoints, now) + _silent(session, endpoints, now)
            if not found:
                return 0
            new = _not_written(session, found)
            if not new:
                return 0
            with write_transaction(session):
                # Again under the shipments' locks, which the event writer takes too: a
                # release committed since the look above leaves no "held too long" after
                # it, and a message written here is in order with the writer's.
                lock_shipments(session, {shipment for _, shipment, _, _ in new if shipment})
                still = _held_too_long(session, endpoints, now) + _silent(session, endpoints, now)
                wanted = set(new)
                new = _not_written(session, [item for item in still if item in wanted])
                if not new:
                    return 0
                session.execute(_insert_once(session), outbox.message_rows(new, now))
        self.wake()
        return len(new)


def _not_written(session: Session, found: list["_Found"]) -> list["_Found"]:
    """Those of the found messages not written yet (by this dispatcher or another)."""
    if not found:
        return []
    keys = {(endpoint_id, key) for endpoint_id, _, _, key in found}
    written = set(
        session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.dedupe_key).where(
                tuple_(WebhookDelivery.endpoint_id, WebhookDelivery.dedupe_key).in_(keys)
            )
        ).all()
    )
    return [item for item in found if (item[0], item[3]) not in written]


@dataclass(frozen=True)
class _Watcher:
    id: uuid.UUID
    organization_id: uuid.UUID
    types: frozenset[str]
    held_minutes: int
    silent_minutes: int


def _watching(session: Session) -> list[_Watcher]:
    clock_types = [WebhookEventType.held_too_long, WebhookEventType.silent]
    rows = session.execute(
        select(
            WebhookEndpoint.id,
            WebhookEndpoint.organization_id,
            WebhookEndpoint.event_types,
            WebhookEndpoint.held_minutes,
            WebhookEndpoint.silent_minutes,
        ).where(WebhookEndpoint.enabled)
    )
    watchers = [_Watcher(i, o, frozenset(t), h, s) for i, o, t, h, s in rows]
    return [w for w in watchers if w.types & set(clock_types)]


_Found = tuple[uuid.UUID, uuid.UUID | None, str, str]  # endpoint, shipment, type, key


def _held_too_long(session: Session, watchers: Sequence[_Watcher], now: datetime) -> list[_Found]:
    kind = WebhookEventType.held_too_long
    watching = [w for w in watchers if kind in w.types]
    if not watching:
        return []
    since = now - timedelta(minutes=min(w.held_minutes for w in watching))
    holds = session.execute(
        select(Shipment.organization_id, Stop.shipment_id, StopHold.event_id, StopHold.started_at)
        .join(Stop, Stop.id == StopHold.stop_id)
        .join(Shipment, Shipment.id == Stop.shipment_id)
        .where(
            Shipment.status == ShipmentStatus.held,
            Shipment.organization_id.in_({w.organization_id for w in watching}),
            StopHold.ended_at.is_(None),
            StopHold.started_at <= since,
        )
    ).all()
    return [
        (w.id, shipment, str(kind), f"{kind}:{event_id}")
        for organization, shipment, event_id, started in holds
        for w in watching
        if w.organization_id == organization and started <= now - timedelta(minutes=w.held_minutes)
    ]


_ON_THE_ROAD = (ShipmentStatus.in_transit, ShipmentStatus.at_checkpoint, ShipmentStatus.held)


def _silent(session: Session, watchers: Sequence[_Watcher], now: datetime) -> list[_Found]:
    kind = WebhookEventType.silent
    watching = [w for w in watchers if kind in w.types]
    if not watching:
        return []
    since = now - timedelta(minutes=min(w.silent_minutes for w in watching))
    trips = session.execute(
        select(Shipment.organization_id, Shipment.id, Shipment.last_event_at).where(
            Shipment.status.in_(_ON_THE_ROAD),
            Shipment.organization_id.in_({w.organization_id for w in watching}),
            Shipment.last_event_at <= since,
        )
    ).all()
    # One message per silence: the key names the last event's time it followed.
    return [
        (w.id, shipment, str(kind), f"{kind}:{shipment}:{last.isoformat()}")
        for organization, shipment, last in trips
        for w in watching
        if last is not None
        and w.organization_id == organization
        and last <= now - timedelta(minutes=w.silent_minutes)
    ]


def _due(now: datetime, limit: int, *, lock: bool = False) -> Any:
    """The ids of the pending messages due now that no dispatcher holds, each the first
    pending one of its shipment to its endpoint, longest due first."""
    earlier = aliased(WebhookDelivery)
    d = WebhookDelivery
    waiting_behind = (
        select(earlier.id)
        .where(
            earlier.endpoint_id == d.endpoint_id,
            earlier.shipment_id == d.shipment_id,
            earlier.status == DeliveryStatus.pending,
            earlier.id < d.id,
        )
        .exists()
    )
    stmt = (
        select(d.id)
        .join(WebhookEndpoint, and_(WebhookEndpoint.id == d.endpoint_id, WebhookEndpoint.enabled))
        .where(
            d.status == DeliveryStatus.pending,
            d.next_attempt_at <= now,
            or_(d.locked_until.is_(None), d.locked_until < now),
            ~waiting_behind,
        )
        # The pending-messages index in its order: the due ones are read and no others (a
        # message waiting behind its shipment's earlier one is not due before it, see
        # _apply). Across shipments the order does not matter; within one, ids rule.
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    if lock:
        stmt = stmt.with_for_update(of=d, skip_locked=True)  # PostgreSQL; SQLite leaves it out
    return stmt


def _insert_once(session: Session) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a message another dispatcher wrote first stands."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(WebhookDelivery).on_conflict_do_nothing()


def _apply(
    session: Session,
    endpoints: dict[uuid.UUID, WebhookEndpoint],
    item: _Taken,
    attempt: Attempt,
    body: str,
    now: datetime,
) -> None:
    """An attempt's outcome on its message and its endpoint, if the message is still this
    attempt's: pending, and under the lease it was taken with (past it, another dispatcher
    may have taken it, and that one records)."""
    delivery = session.get(WebhookDelivery, item.id, with_for_update={"key_share": True})
    if (
        delivery is None  # deleted with its endpoint meanwhile
        or delivery.status != DeliveryStatus.pending
        or delivery.locked_until != item.lease
    ):
        return
    endpoint = endpoints[delivery.endpoint_id]
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = attempt.status_code
    delivery.last_error = attempt.error
    delivery.locked_until = None
    delivery.payload = delivery.payload or body or None
    if attempt.succeeded:
        delivery.status = DeliveryStatus.succeeded
        delivery.succeeded_at = now
        endpoint.failing_since = None
        if delivery.attempts > 1:
            _followers_due(session, delivery, now)  # held back while it waited
        return
    if attempt.gone:
        delivery.status = DeliveryStatus.failed
        _disable(session, endpoint, f"the endpoint answered 410 Gone at {_hhmm(now)}", now)
        return
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since >= FAILING_LIMIT:
        delivery.status = DeliveryStatus.failed
        since = _hhmm(endpoint.failing_since)
        reason = f"every attempt failed since {since} (the last: {attempt.error})"
        _disable(session, endpoint, reason, now)
        return
    delay = next_delay(delivery.attempts)
    if delay is None:
        delivery.status = DeliveryStatus.failed
        _followers_due(session, delivery, now)
        return
    delivery.next_attempt_at = now + delay
    # The later messages of its shipment wait for it: not due before it, so that the scan
    # for due messages does not meet them at every poll while it waits.
    session.execute(
        update(WebhookDelivery)
        .where(_followers_of(delivery))
        .where(WebhookDelivery.next_attempt_at < delivery.next_attempt_at)
        .values(next_attempt_at=delivery.next_attempt_at)
    )


def _followers_of(delivery: WebhookDelivery) -> Any:
    """The pending messages after this one of its shipment to its endpoint."""
    return and_(
        WebhookDelivery.endpoint_id == delivery.endpoint_id,
        WebhookDelivery.shipment_id == delivery.shipment_id,
        WebhookDelivery.status == DeliveryStatus.pending,
        WebhookDelivery.id > delivery.id,
    )


def _followers_due(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """Its followers, held back behind it, due now that it is done."""
    session.execute(
        update(WebhookDelivery)
        .where(_followers_of(delivery))
        .where(WebhookDelivery.next_attempt_at > now)
        .values(next_attempt_at=now)
    )


UNREADABLE_SECRET = (
    "its signing secret cannot be decrypted (SECRET_KEY changed?): rotate the secret, then "
    "enable the endpoint"
)


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    """Disables the endpoint and gives up its pending messages (its owner may retry them
    once it is enabled again)."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:500]
    endpoint.disabled_at = now
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .values(
            status=DeliveryStatus.failed,
            locked_until=None,
            last_error=f"not sent: the endpoint was disabled ({reason})"[:500],
        )
    )
    logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)


def _hhmm(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
