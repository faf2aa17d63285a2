"""The Redis the throttle tests use (TEST_REDIS_URL, default the machine's 127.0.0.1:6379),
and a key prefix of each test's own, so that parallel runs sharing it never collide."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def redis_prefix() -> Iterator[tuple[str, str]]:
    """(Redis URL, a fresh key prefix); skips the test when Redis does not answer, and deletes
    the prefix's keys afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(
            f"Redis is not reachable at {REDIS_URL} ({exc}): the Redis throttle is untested"
        )
    prefix = f"clearance-test-{uuid.uuid4().hex}"
    try:
        yield REDIS_URL, prefix
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


def redis_keys(prefix: str) -> list[str]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return sorted(client.scan_iter(f"{prefix}*"))
    finally:
        client.close()
