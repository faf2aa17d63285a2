"""A storage for the `limits` library over one table (RateLimitWindow): the login throttle's
windows when there is no Redis — SQLite on one machine, or PostgreSQL without Redis — shared
by every worker that uses the database.

`limits` decides what a window is (MovingWindowRateLimiter: at most N hits in the last T
seconds). This module only keeps, per key, what `limits`' Redis storage keeps in a list — the
newest N hit times, newest first — and answers its questions about them with the arithmetic
of its Lua scripts (acquire_moving_window.lua, moving_window.lua). The fixed-window methods
(incr, get, get_expiry) that every storage must have keep a counter beside them.

A change holds the key's row for its whole transaction: the upsert that opens it locks the row
on PostgreSQL whether it existed or not, so two workers counting a failure for one account at
the same moment count one after the other; on SQLite, BEGIN IMMEDIATE serialises every writer.
Reads take no lock. Storage stays bounded: a key keeps at most N times, and rows whose
window has passed are deleted at most once a minute per process, in a transaction of their
own that skips rows another one holds (so it never waits for, or deadlocks with, a change).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import CursorResult, Delete, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import RateLimitWindow
from app.db import database_answers, write_transaction

PURGE_EVERY_SECONDS = 60
_WINDOWS = RateLimitWindow.metadata.tables[RateLimitWindow.__tablename__]


@dataclass(frozen=True)
class _Window:
    hits: list[float]  # newest first
    counter: int
    expires_at: float


class DatabaseStorage(Storage, MovingWindowSupport):
    """`limits` storage in the database (moving and fixed windows). Times come from `clock`
    (Unix seconds), so that tests can move it; several processes need clocks that agree."""

    STORAGE_SCHEME = None  # made by hand with a session factory, never from a URL

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], float] = time.time
    ) -> None:
        # wrap_exceptions: a database that does not answer surfaces as limits' StorageError,
        # the same as a Redis that does not, so the caller handles one kind of outage.
        super().__init__(wrap_exceptions=True)
        self._sessions = sessions
        self._clock = clock
        self._next_purge = 0.0
        self._purge_lock = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception]:
        # Connection lost, lock timeout: an outage. Anything else is a bug and stays a 500.
        return OperationalError

    # The moving window (what the login throttle uses).

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self._clock()

        def take(window: _Window) -> _Window | None:
            # Full if the hit `amount` places back from the newest is still inside the window.
            if len(window.hits) > limit - amount and window.hits[limit - amount] >= now - expiry:
                return None
            hits = ([now] * amount + window.hits)[:limit]
            return _Window(hits, window.counter, now + expiry)

        return self._change(key, now, take)[1]

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._clock()
        inside = [t for t in self._read(key, now).hits[:limit] if t >= now - expiry]
        return (inside[-1], len(inside)) if inside else (now, 0)

    # The fixed window and the rest of limits' Storage interface.

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._clock()

        def add(window: _Window) -> _Window:
            expires_at = window.expires_at if window.counter else now + expiry
            return _Window(window.hits, window.counter + amount, expires_at)

        return self._change(key, now, add)[0].counter

    def get(self, key: str) -> int:
        return self._read(key, self._clock()).counter

    def get_expiry(self, key: str) -> float:
        return self._read(key, self._clock()).expires_at

    def clear(self, key: str) -> None:
        with self._sessions() as session, write_transaction(session):
            session.execute(delete(_WINDOWS).where(_WINDOWS.c.key == key))

    def reset(self) -> int:
        with self._sessions() as session, write_transaction(session):
            return _deleted(session, delete(_WINDOWS))

    def check(self) -> bool:
        return database_answers(self._sessions.kw["bind"])

    def purge_expired(self) -> int:
        """Delete the rows whose window has passed (skipping any another transaction holds);
        returns how many. Runs by itself now and then; callable at any time."""
        expired = (
            select(_WINDOWS.c.key)
            .where(_WINDOWS.c.expires_at <= self._clock())
            .with_for_update(skip_locked=True)
        )
        with self._sessions() as session, write_transaction(session):
            return _deleted(session, delete(_WINDOWS).where(_WINDOWS.c.key.in_(expired)))

    def _read(self, key: str, now: float) -> _Window:
        columns = (_WINDOWS.c.hits, _WINDOWS.c.counter, _WINDOWS.c.expires_at)
        with self._sessions() as session:
            row = session.execute(select(*columns).where(_WINDOWS.c.key == key)).one_or_none()
        return _current(None if row is None else _Window(*row), now)

    def _change(
        self, key: str, now: float, decide: Callable[[_Window], _Window | None]
    ) -> tuple[_Window, bool]:
        """Runs `decide` on the key's window with its row held, and stores what it returns
        (None: nothing changes). Returns the window as it now is, and whether it changed."""
        with self._sessions() as session, write_transaction(session):
            current = _current(_hold(session, key, now), now)
            new = decide(current)
            if new is not None:
                session.execute(
                    update(_WINDOWS)
                    .where(_WINDOWS.c.key == key)
                    .values(hits=new.hits, counter=new.counter, expires_at=new.expires_at)
                )
        self._purge_now_and_then(now)
        return (current, False) if new is None else (new, True)

    def _purge_now_and_then(self, now: float) -> None:
        with self._purge_lock:
            if now < self._next_purge:
                return
            self._next_purge = now + PURGE_EVERY_SECONDS
        self.purge_expired()


def _hold(session: Session, key: str, now: float) -> _Window:
    """The key's row, inserted empty if missing, and locked until the transaction ends: an
    upsert locks the row in both cases, where SELECT … FOR UPDATE would find nothing to lock
    when two workers insert the first hit of a key at once."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(_WINDOWS).values(key=key, hits=[], counter=0, expires_at=now)
    held = upsert.on_conflict_do_update(
        index_elements=[_WINDOWS.c.key], set_={"hits": _WINDOWS.c.hits}
    ).returning(_WINDOWS.c.hits, _WINDOWS.c.counter, _WINDOWS.c.expires_at)
    return _Window(*session.execute(held).one())


def _deleted(session: Session, statement: Delete) -> int:
    result = session.execute(statement)
    assert isinstance(result, CursorResult)  # a DELETE's result counts its rows
    return result.rowcount


def _current(window: _Window | None, now: float) -> _Window:
    """What still counts: nothing once the row has expired (it awaits the purge)."""
    if window is None or window.expires_at <= now:
        return _Window([], 0, now)
    return window
