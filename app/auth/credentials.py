"""Bearer credentials for the event path, checked before anything is queued for a write.

The event writer (tracking/writer.py) used to look each request's credential up inside its
write transaction, on its one thread: on SQLite that transaction holds the database's
single write lock, so a flood of requests with made-up tokens slowed every driver
(issue 13). Now the credential is checked first, here, outside any write transaction and
off the event loop; a request whose credential fails is answered 401 and never reaches the
writer. Concurrent requests' credentials are checked together on a thread of their own
(app/batching.py): one read transaction and one query per kind of credential for a batch,
so a flood of bad tokens costs a share of a batch each, not a thread hop and a session each.

Nothing is cached between batches: a revoked driver link or API key, or a deactivated user,
is refused from the next batch on, as everywhere else.
"""

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from app.auth.principal import Principal
from app.auth.service import authenticate_many
from app.batching import Batcher
from app.config import Settings
from app.errors import Unauthorized

MAX_BATCH = 512
# A flood paced to arrive one request at a time would cost one hand-over to the thread per
# bad request: fewer than LINGER_BELOW waiting credentials wait LINGER_S for company first
# (a paced flood of 500 bad requests/s: ~880 -> ~720 µs of the worker's CPU each, see
# bench/RESULTS.md, session 5). Honest requests arrive in bursts (the writer answers them
# together) and rarely wait; a lone one waits 4 ms, beside its commit's tens.
LINGER_S = 0.004
LINGER_BELOW = 8


class CredentialChecker:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._connection: Connection | None = None  # the checking thread's own
        self._batcher: Batcher[str, Principal] = Batcher(
            self._check,
            thread_name="credentials",
            max_items=MAX_BATCH,
            linger=LINGER_S,
            linger_below=LINGER_BELOW,
        )

    async def principal(self, token: str) -> Principal:
        """Who the credential belongs to; Unauthorized if it is invalid, expired or revoked."""
        return await self._batcher.submit(token)

    def close(self) -> None:
        self._batcher.close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _check(self, tokens: list[str]) -> list[Principal | BaseException]:
        try:
            found = self._look_up(tokens)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            found = self._look_up(tokens)  # the database restarted: once more, reconnected
        return [found[token] or _refused() for token in tokens]

    def _look_up(self, tokens: list[str]) -> dict[str, Principal | None]:
        """One short read transaction on a connection this thread keeps: a flood's batches
        are small, and a session and a pool checkout for each cost several times the
        query (bench/RESULTS.md, session 5)."""
        if self._connection is None or self._connection.invalidated:
            if self._connection is not None:
                self._connection.close()
            self._connection = self._engine.connect()
        try:
            with self._connection.begin():
                return authenticate_many(self._connection, settings=self._settings, tokens=tokens)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._connection.close()
                self._connection = None
            raise


def _refused() -> Unauthorized:
    return Unauthorized("The credential is invalid, expired or revoked.")
