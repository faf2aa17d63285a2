"""Group commit for POST /shipments/{id}/events.

One request, one transaction, one fsync caps a phone-facing endpoint at the disk's sync rate
and makes concurrent writers queue on SQLite's single write lock. Instead, requests that
arrive while a write is in progress wait together; the next write takes all of them (up to
`max_batch`) in one transaction — authentication, checks, inserts, one stop rebuild per
changed shipment — and one commit. Each request is answered only after the commit that
holds its event has returned: an acknowledged event is on disk, exactly as before.

The writes run on one dedicated thread, so the event loop keeps parsing requests while the
database works, and the batch grows with the load instead of the queue of threads.
"""

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.auth.dependencies import check_tracker, principal_for
from app.auth.principal import Principal
from app.config import Settings
from app.db import write_transaction
from app.errors import AppError
from app.tracking import service
from app.tracking.queries import event_read
from app.tracking.schemas import EventIn, EventRead

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    event: EventRead
    created: bool


@dataclass
class _Request:
    token: str
    shipment_id: uuid.UUID
    data: EventIn
    answer: "asyncio.Future[Written]"


Outcome = Written | BaseException
# Trips being reported on right now. A 30-event trip's projection (events, built timeline,
# stop digests) takes ~16 KiB (tracemalloc): 1,000 of them, ~16 MiB, well inside the
# worker's 200 MB budget.
PROJECTIONS_KEPT = 1_000


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
        self, session_factory: sessionmaker[Session], settings: Settings, max_batch: int = 256
    ) -> None:
        self._session_factory = session_factory
        self._settings = settings
        self._max_batch = max_batch
        self._executor: ThreadPoolExecutor | None = None
        self._waiting: list[_Request] = []
        self._projections = _RecentProjections(PROJECTIONS_KEPT)
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, token: str, shipment_id: uuid.UUID, data: EventIn) -> Written:
        """Store one event; returns once it is committed, raises the AppError that refused it."""
        answer: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(token, shipment_id, data, answer))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await answer

    def close(self) -> None:
        """At shutdown: lets the write in progress finish (its callers get their answers)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-writer")
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._write, batch)
            except asyncio.CancelledError as exc:  # shutting down: nobody may wait forever
                self._answer(batch, [exc] * len(batch))
                raise
            self._answer(batch, outcomes)

    @staticmethod
    def _answer(batch: list[_Request], outcomes: list[Outcome]) -> None:
        for request, outcome in zip(batch, outcomes, strict=True):
            if request.answer.done():  # the client went away; its event stays stored
                continue
            if isinstance(outcome, BaseException):
                request.answer.set_exception(outcome)
            else:
                request.answer.set_result(outcome)

    def _write(self, batch: list[_Request]) -> list[Outcome]:
        """Never raises: an unexpected error becomes that request's outcome (a 500)."""
        try:
            return self._write_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            # One request broke the shared transaction (nothing of it was committed): write
            # each on its own, so that only the request at fault fails.
            logger.warning("group write of %d events failed; writing one by one", len(batch))
            return [self._write([request])[0] for request in batch]

    def _write_together(self, batch: list[_Request]) -> list[Outcome]:
        with self._session_factory() as session, write_transaction(session):
            outcomes: list[Outcome | None] = [None] * len(batch)
            submissions: list[service.Submission] = []
            positions: list[int] = []
            principals: dict[str, Principal | AppError] = {}
            for position, request in enumerate(batch):
                principal = principals.get(request.token)
                if principal is None:
                    principal = principals[request.token] = self._authorize(session, request)
                if isinstance(principal, AppError):
                    outcomes[position] = principal
                    continue
                submissions.append(service.Submission(principal, request.shipment_id, request.data))
                positions.append(position)
            known = self._projections.recall(s.shipment_id for s in submissions)
            written = service.record_events(session, submissions, known)
            for position, result in zip(positions, written.outcomes, strict=True):
                outcomes[position] = (
                    result
                    if isinstance(result, AppError)
                    else Written(event_read(result.event), result.created)
                )
        self._projections.keep(written.projections)  # only what is committed
        return [outcome for outcome in outcomes if outcome is not None]

    def _authorize(self, session: Session, request: _Request) -> Principal | AppError:
        try:
            return check_tracker(principal_for(session, self._settings, request.token))
        except AppError as exc:
            return exc
