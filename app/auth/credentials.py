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

from sqlalchemy.orm import Session, sessionmaker

from app.auth.principal import Principal
from app.auth.service import authenticate_many
from app.batching import Batcher
from app.config import Settings
from app.errors import Unauthorized

MAX_BATCH = 512


class CredentialChecker:
    def __init__(self, session_factory: sessionmaker[Session], settings: Settings) -> None:
        self._session_factory = session_factory
        self._settings = settings
        self._batcher: Batcher[str, Principal] = Batcher(
            self._check, thread_name="credentials", max_items=MAX_BATCH
        )

    async def principal(self, token: str) -> Principal:
        """Who the credential belongs to; Unauthorized if it is invalid, expired or revoked."""
        return await self._batcher.submit(token)

    def close(self) -> None:
        self._batcher.close()

    def _check(self, tokens: list[str]) -> list[Principal | BaseException]:
        with self._session_factory() as session:
            found = authenticate_many(session, settings=self._settings, tokens=tokens)
        return [found[token] or _refused() for token in tokens]


def _refused() -> Unauthorized:
    return Unauthorized("The credential is invalid, expired or revoked.")
