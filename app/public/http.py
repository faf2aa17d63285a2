"""What every public route shares: a per-address rate limit, and answers any site may read
and any cache may keep for a minute, with an ETag so a phone asking again gets a 304."""

import hashlib
import logging
import math
import time
from typing import Any

from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.auth.throttle import REDIS_TIMEOUT_SECONDS, client_address
from app.config import Settings
from app.errors import TooManyRequests
from app.web.assets import etag_matches

logger = logging.getLogger(__name__)
MAX_AGE_SECONDS = 60
CACHE_HEADERS = {
    "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Retry-After",
    "Vary": "Accept-Encoding",
}


class PublicRateLimit:
    """At most N requests per address per window, for every worker at once when REDIS_URL
    is set (limits' Redis storage); without Redis each worker counts its own (one machine,
    SQLite: the limit is per worker, so N workers allow N times as many)."""

    def __init__(self, storage: Storage, limit: RateLimitItem) -> None:
        self._limiter = FixedWindowRateLimiter(storage)
        self._limit = limit

    def check(self, address: str) -> None:
        try:
            if self._limiter.hit(self._limit, "public", address):
                return
            reset, _ = self._limiter.get_window_stats(self._limit, "public", address)
        except StorageError as exc:
            # Figures anyone may read, cheap to serve: better unlimited for a moment than
            # a board that goes dark with Redis.
            logger.warning("the public rate limit's store does not answer: %s", exc)
            return
        wait = max(1, math.ceil(reset - time.time()))
        raise TooManyRequests(
            f"Too many requests from this address: try again in {wait} s. The public figures "
            "change at most once a minute; one request a minute is all a client needs.",
            retry_after=wait,
            headers={"Retry-After": str(wait), **CACHE_HEADERS},
        )


def build_public_rate_limit(settings: Settings) -> PublicRateLimit:
    made = (
        storage_from_string(
            settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        if settings.redis_url
        else storage_from_string("memory://")
    )
    if not isinstance(made, Storage):
        raise ValueError("REDIS_URL must name a synchronous store (redis://…)")
    return PublicRateLimit(made, parse(settings.public_rate_limit))


def rate_limited(request: Request) -> None:
    """A dependency of every public route: counts this request against its address."""
    limit: PublicRateLimit = request.app.state.public_rate_limit
    limit.check(client_address(request))


def cacheable(request: Request, body: bytes, media_type: str, **headers: Any) -> Response:
    """`body` with the public headers and an ETag of its bytes; 304 when the client has it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    all_headers = {**CACHE_HEADERS, "ETag": etag, **headers}
    if etag_matches(request.headers, etag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, media_type=media_type, headers=all_headers)
