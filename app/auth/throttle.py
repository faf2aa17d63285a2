"""Login throttling: too many failed sign-ins for one account, or from one client address,
and further attempts are refused (429 with Retry-After) until the oldest failure ages out.

Only failures count, so people and scripts that sign in correctly are never slowed. The
account limit stops password guessing against one user; the (higher) address limit stops
one client spraying guesses over many accounts. State lives in this process: with several
workers each keeps its own count, so the effective limit is at most workers × the setting,
which is still far below what guessing needs.
"""

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import Request

from app.config import Settings

# Bounded memory whatever an attacker sends: the least recently failing keys are forgotten.
MAX_TRACKED_KEYS = 100_000


class LoginThrottle:
    def __init__(
        self,
        *,
        account_limit: int,
        address_limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"account": account_limit, "address": address_limit}
        self.window = window_seconds
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *, account: str, address: str) -> int | None:
        """Seconds to wait if either key is over its limit now, else None."""
        now = self.clock()
        waits = []
        with self._lock:
            for kind, value in (("account", account), ("address", address)):
                times = self._recent((kind, value), now)
                if times is not None and len(times) >= self.limits[kind]:
                    waits.append(times[len(times) - self.limits[kind]] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("account", account), ("address", address)):
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                while len(times) > self.limits[key[0]]:
                    times.popleft()  # only the last `limit` failures decide the wait
                self._failures[key] = times
            while len(self._failures) > MAX_TRACKED_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, *, account: str) -> None:
        # The address count stays: one good account must not launder guesses at others.
        with self._lock:
            self._failures.pop(("account", account), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


_create_lock = threading.Lock()


def login_throttle(request: Request) -> LoginThrottle:
    """The app's throttle (a dependency), made on first use from the app's settings."""
    state = request.app.state
    with _create_lock:
        throttle: LoginThrottle | None = getattr(state, "login_throttle", None)
        if throttle is None:
            settings: Settings = state.settings
            throttle = LoginThrottle(
                account_limit=settings.login_max_failures_per_account,
                address_limit=settings.login_max_failures_per_address,
                window_seconds=settings.login_failure_window_seconds,
            )
            state.login_throttle = throttle
    return throttle


def client_address(request: Request) -> str:
    # Behind a proxy, uvicorn's proxy_headers (trusted: FORWARDED_ALLOW_IPS) sets the client.
    return request.client.host if request.client else "unknown"
