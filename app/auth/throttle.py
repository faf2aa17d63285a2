"""Login throttling: too many failed sign-ins for one account, or from one client address,
and further attempts are refused (429 with Retry-After) until the oldest failure that counts
ages out.

Only failures count, so people and scripts that sign in correctly are never slowed. The
account limit stops password guessing against one user; the (higher) address limit stops
one client spraying guesses over many accounts. A success clears its account's count, not
its address's.

The windows are the `limits` library's moving windows (at most N failures in the last T
seconds, each failure ageing out on its own), and they are shared by every worker: kept in
Redis when REDIS_URL is set (limits' own Redis storage, keys under REDIS_KEY_PREFIX), else
in the database (auth/throttle_storage.py: one small row per key, rows past their window
deleted). So N workers, on one machine or many, allow N failures in all, not N per worker.
Storage is bounded either way: a key keeps at most its limit's N times, and expires.

If that store does not answer, sign-in answers 503 rather than sign people in unthrottled;
tokens, API keys and driver links keep working, as they never touch it.
"""

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi import Request
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker

from app.auth.throttle_storage import DatabaseStorage
from app.config import Settings
from app.errors import AppError

logger = logging.getLogger(__name__)

# An "account" longer than any email, or with a NUL (PostgreSQL text cannot hold one), is
# keyed by its hash: the form takes any text, and the key must stay short and storable.
MAX_KEYED_CHARS = 320
REDIS_TIMEOUT_SECONDS = 2.0  # a Redis that hangs answers 503 in seconds, not never
KINDS = ("account", "address")


class SignInUnavailable(AppError):
    status, title, slug = 503, "Service unavailable", "service-unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Sign-in is unavailable for a moment: the store of failed sign-ins does not "
            "answer. Try again shortly.",
            headers={"Retry-After": "5"},
        )


class LoginThrottle:
    def __init__(
        self,
        storage: Storage,
        *,
        account_limit: int,
        address_limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` must be the storage's (Unix seconds): Retry-After is counted from it."""
        if not isinstance(storage, MovingWindowSupport):
            raise ValueError(f"{type(storage).__name__} keeps no moving windows")
        self._limiter = MovingWindowRateLimiter(storage)
        self._items = {
            "account": RateLimitItemPerSecond(account_limit, window_seconds, namespace="login"),
            "address": RateLimitItemPerSecond(address_limit, window_seconds, namespace="login"),
        }
        self._clock = clock

    def retry_after(self, *, account: str, address: str) -> int | None:
        """Seconds to wait if either key is over its limit now, else None."""
        waits = []
        with _unavailable_on_outage():
            for kind, value in zip(KINDS, (account, address), strict=True):
                reset, remaining = self._limiter.get_window_stats(
                    self._items[kind], kind, _id(value)
                )
                if remaining <= 0:  # the limit's failures all inside the window
                    waits.append(reset - self._clock())
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *, account: str, address: str) -> None:
        with _unavailable_on_outage():
            for kind, value in zip(KINDS, (account, address), strict=True):
                # Refused when already full (two workers' failures at once): the key is
                # refused until its oldest failure ages out either way.
                self._limiter.hit(self._items[kind], kind, _id(value))

    def succeeded(self, *, account: str) -> None:
        # The address count stays: one good account must not launder guesses at others.
        with _unavailable_on_outage():
            self._limiter.clear(self._items["account"], "account", _id(account))


def build_login_throttle(settings: Settings, sessions: sessionmaker[Session]) -> LoginThrottle:
    """The app's throttle: its windows in Redis when REDIS_URL is set, else in the database."""
    storage: Storage
    if settings.redis_url:
        made = storage_from_string(
            settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        if not isinstance(made, Storage):  # an async+… URL
            raise ValueError("REDIS_URL must name a synchronous store (redis://…)")
        storage = made
    else:
        storage = DatabaseStorage(sessions)
    return LoginThrottle(
        storage,
        account_limit=settings.login_max_failures_per_account,
        address_limit=settings.login_max_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )


def login_throttle(request: Request) -> LoginThrottle:
    """The app's throttle, built by create_app (a dependency)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


def client_address(request: Request) -> str:
    # Behind a proxy, uvicorn's proxy_headers (trusted: FORWARDED_ALLOW_IPS) sets the client.
    return request.client.host if request.client else "unknown"


def _id(value: str) -> str:
    if len(value) <= MAX_KEYED_CHARS and "\x00" not in value:
        return value
    return "sha256:" + hashlib.sha256(value.encode(errors="surrogatepass")).hexdigest()


@contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        logger.warning("the login throttle's store does not answer: %s", exc)
        raise SignInUnavailable() from exc
