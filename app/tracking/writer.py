"""Group commit for POST /shipments/{id}/events and POST /sync.

One request, one transaction, one fsync caps a phone-facing endpoint at the disk's sync rate
and makes concurrent writers queue on SQLite's single write lock. Instead, requests that
arrive while a write is in progress wait together; the next write takes all of them (up to
`MAX_REQUESTS`, and `MAX_EVENTS` events unless one request alone has more) in one
transaction — checks, inserts, one stop rebuild per changed shipment — and one commit.
Each request is answered only after the commit that holds its events has returned: an
acknowledged event is on disk, exactly as before.

The writes run on one dedicated thread (app/batching.py), so the event loop keeps parsing
requests while the database works, and the batch grows with the load instead of the queue
of threads. Only work that needs the lock runs there: a request's credential is checked
before it is queued (auth/credentials.py, `EventWriter.credentials`), and a /sync body is
parsed before it is queued, so neither a flood of bad credentials nor a big body holds the
write lock. Both routes write through `service.record_events`, with the trips'
projections kept between writes.
"""

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.auth.credentials import CredentialChecker
from app.auth.principal import Principal
from app.batching import Batcher
from app.config import Settings
from app.db import write_transaction
from app.errors import AppError
from app.tracking import service
from app.tracking.queries import event_read
from app.tracking.schemas import EventIn, EventRead, SyncResult

logger = logging.getLogger(__name__)

MAX_REQUESTS = 256
MAX_EVENTS = 1_000  # a full /sync; bounds the statements' parameter lists too


@dataclass(frozen=True)
class Written:
    event: EventRead
    created: bool


@dataclass(frozen=True)
class _Request:
    principal: Principal
    shipment_id: uuid.UUID
    events: Sequence[EventIn]


Outcome = list[service.Recorded | AppError] | BaseException
# Trips being reported on right now. A 30-event trip's projection (events, built timeline,
# stop digests) takes ~16 KiB (tracemalloc): 1,000 of them, ~16 MiB, well inside the
# worker's 200 MB budget.
PROJECTIONS_KEPT = 1_000

# Called in a group write's transaction with what it stored: writes the messages these
# events owe (the webhooks' outbox, app/webhooks/outbox.py, given by app/main.py: tracking
# knows nothing of webhooks) and returns how many.
AfterWrite = Callable[[Session, service.BatchWritten], int]


class _RecentProjections:
    """The projections of the shipments most recently written (see service.rebuild_many):
    a trip's next event then rebuilds its stops without reading its events and stop
    digests back. Used by the writer thread only."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[uuid.UUID, service.Projection] = OrderedDict()

    def recall(self, shipment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, service.Projection]:
        return {sid: self._items[sid] for sid in shipment_ids if sid in self._items}

    def keep(self, projections: dict[uuid.UUID, service.Projection]) -> None:
        for shipment_id, projection in projections.items():
            self._items[shipment_id] = projection
            self._items.move_to_end(shipment_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class EventWriter:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        *,
        after_write: AfterWrite | None = None,
        on_messages: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._after_write = after_write
        # Told after a commit that wrote messages (wakes the dispatcher in this process).
        self._on_messages = on_messages
        self._projections = _RecentProjections(PROJECTIONS_KEPT)
        self._batcher: Batcher[_Request, list[service.Recorded | AppError]] = Batcher(
            self._write,
            thread_name="event-writer",
            max_items=MAX_REQUESTS,
            max_weight=MAX_EVENTS,
            weight=lambda request: len(request.events),
        )
        # The gate in front of the writer: the event routes check their callers here first.
        self.credentials = CredentialChecker(session_factory.kw["bind"], settings)

    async def submit(self, principal: Principal, shipment_id: uuid.UUID, data: EventIn) -> Written:
        """Store one event; returns once it is committed, raises the AppError that refused it."""
        [outcome] = await self._batcher.submit(_Request(principal, shipment_id, [data]))
        if isinstance(outcome, AppError):
            raise outcome
        return Written(event_read(outcome.event), outcome.created)

    async def sync(
        self, principal: Principal, shipment_id: uuid.UUID, raw_events: list[Any]
    ) -> list[SyncResult]:
        """A phone's offline queue in one transaction: each event stored, recognised as a
        duplicate, or rejected with its reason. NotFound if the shipment is not the caller's."""
        # Parsing a thousand events takes milliseconds: neither on the event loop nor under
        # the write lock.
        parsed = await run_in_threadpool(service.parse_events, raw_events)
        valid = [item for item in parsed if isinstance(item, EventIn)]
        outcomes = await self._batcher.submit(_Request(principal, shipment_id, valid))
        return service.sync_results(raw_events, parsed, outcomes)

    def close(self) -> None:
        """At shutdown: lets the write in progress finish (its callers get their answers)."""
        self._batcher.close()
        self.credentials.close()

    def _write(self, batch: list[_Request]) -> list[Outcome]:
        """Never raises: an unexpected error becomes that request's outcome (a 500)."""
        try:
            return self._write_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            # One request broke the shared transaction (nothing of it was committed): write
            # each on its own, so that only the request at fault fails.
            logger.warning("group write of %d requests failed; writing one by one", len(batch))
            return [self._write([request])[0] for request in batch]

    def _write_together(self, batch: list[_Request]) -> list[Outcome]:
        submissions = [service.Submission(r.principal, r.shipment_id, r.events) for r in batch]
        with self._session_factory() as session, write_transaction(session):
            known = self._projections.recall(s.shipment_id for s in submissions)
            written = service.record_events(session, submissions, known)
            messages = self._after_write(session, written) if self._after_write else 0
        self._projections.keep(written.projections)  # only what is committed
        if messages and self._on_messages is not None:
            self._on_messages()
        return list(written.outcomes)
