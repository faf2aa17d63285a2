"""The login throttle's stores: limits' moving window over the database (DatabaseStorage, on
SQLite and PostgreSQL) and over Redis, shared by several clients as several workers share it.
(The HTTP behaviour — 429, Retry-After, the limits from settings — is in
tests/reliability/test_abuse_limits.py; two real worker processes in tests/test_workers.py.)"""

import socket
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from limits import RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import RateLimitWindow
from app.auth.throttle import LoginThrottle, build_login_throttle
from app.auth.throttle_storage import PURGE_EVERY_SECONDS, DatabaseStorage
from app.config import Settings
from app.db import create_db_engine, make_session_factory
from app.main import create_app
from tests.auth.redis_helpers import redis_keys, redis_prefix
from tests.conftest import make_settings
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API, assert_problem

T0 = 1_800_000_000.0


class Clock:
    """Unix time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(app: FastAPI) -> sessionmaker[Session]:
    return app.state.session_factory  # type: ignore[no-any-return]


@pytest.fixture
def storage(sessions: sessionmaker[Session], clock: Clock) -> DatabaseStorage:
    return DatabaseStorage(sessions, clock=clock)


def _rows(sessions: sessionmaker[Session]) -> dict[str, list[float]]:
    with sessions() as session:
        rows = session.execute(select(RateLimitWindow.key, RateLimitWindow.hits))
        return {key: hits for key, hits in rows}


def test_the_moving_window_counts_the_last_n_hits_and_ages_them_out_one_by_one(
    storage: DatabaseStorage, clock: Clock
) -> None:
    limiter, three_a_minute = MovingWindowRateLimiter(storage), RateLimitItemPerSecond(3, 60)
    for _ in range(3):
        assert limiter.hit(three_a_minute, "k")
        clock.now += 10
    assert not limiter.hit(three_a_minute, "k")  # at T0+30: hits at T0, T0+10, T0+20
    assert tuple(limiter.get_window_stats(three_a_minute, "k")) == (T0 + 60, 0)
    assert limiter.test(three_a_minute, "other")  # keys are apart
    clock.now = T0 + 60  # the first hit is exactly 60 s old: it still counts
    assert not limiter.test(three_a_minute, "k")
    clock.now = T0 + 60.5  # ... and now it does not: one place, and the next wait is T0+70's
    assert limiter.hit(three_a_minute, "k")
    assert not limiter.hit(three_a_minute, "k")
    assert tuple(limiter.get_window_stats(three_a_minute, "k")) == (T0 + 70, 0)
    limiter.clear(three_a_minute, "k")
    assert tuple(limiter.get_window_stats(three_a_minute, "k")) == (clock.now + 60, 3)  # empty


def test_two_workers_counting_one_key_at_once_store_exactly_the_limit(settings: Settings) -> None:
    """Two engines (as two worker processes have), ten threads each, one key with room for
    five: the row held by the upsert lets exactly five in, whatever the interleaving."""
    engines = [create_db_engine(settings) for _ in range(2)]
    stores = [DatabaseStorage(make_session_factory(engine)) for engine in engines]
    start = threading.Barrier(20)
    taken: list[bool] = []

    def hit(store: DatabaseStorage) -> None:
        start.wait()
        taken.append(store.acquire_entry("login/account/x", limit=5, expiry=900))

    threads = [threading.Thread(target=hit, args=(s,)) for s in stores for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(taken) == [False] * 15 + [True] * 5
        assert stores[1].get_moving_window("login/account/x", limit=5, expiry=900)[1] == 5
    finally:
        for engine in engines:
            engine.dispose()


def test_the_fixed_window_methods_every_storage_has(
    storage: DatabaseStorage, sessions: sessionmaker[Session], clock: Clock
) -> None:
    assert storage.check()
    assert [storage.incr("f", expiry=60) for _ in range(2)] == [1, 2]
    clock.now += 30
    assert storage.incr("f", expiry=60, amount=3) == 5
    assert (storage.get("f"), storage.get_expiry("f")) == (5, T0 + 60)  # opened at the first
    clock.now = T0 + 60
    assert (storage.get("f"), storage.get_expiry("f")) == (0, clock.now)  # over: a new one
    assert storage.incr("f", expiry=60) == 1
    assert storage.get_expiry("f") == clock.now + 60
    storage.clear("f")
    assert storage.get("f") == 0
    storage.incr("g", expiry=60)
    storage.incr("h", expiry=60)
    assert storage.reset() == 2
    assert _rows(sessions) == {}


def test_storage_stays_bounded_a_key_keeps_its_limit_and_expired_keys_are_deleted(
    storage: DatabaseStorage, sessions: sessionmaker[Session], clock: Clock
) -> None:
    for _ in range(10):  # ten hits, each after the last has aged out: all taken
        assert storage.acquire_entry("busy", limit=3, expiry=60)
        clock.now += 61
    assert _rows(sessions) == {"busy": [T0 + 9 * 61]}  # the older times are of no use
    spray = clock.now
    for n in range(50):  # a spray of keys, one failure each (the first change purges)
        storage.acquire_entry(f"spray/{n}", limit=3, expiry=60)
    clock.now = spray + 30
    storage.acquire_entry("live", limit=3, expiry=60)
    assert 60 <= PURGE_EVERY_SECONDS < 89
    clock.now = spray + PURGE_EVERY_SECONDS + 1
    # The next change purges by itself: the spray's window has passed, `live`'s has not.
    storage.acquire_entry("later", limit=3, expiry=60)
    assert sorted(_rows(sessions)) == ["later", "live"]
    clock.now += 60
    assert storage.purge_expired() == 2
    assert _rows(sessions) == {}


def test_an_overlong_account_name_is_kept_as_its_hash_and_still_throttled(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """The form takes any text: keys stay short whatever is sent."""
    account = "a" * 5000 + "@example.org"
    for _ in range(5):
        response = client.post(f"{API}/auth/token", data={"username": account, "password": "x"})
        assert_problem(response, 401)
    refused = client.post(f"{API}/auth/token", data={"username": account, "password": "x"})
    assert_problem(refused, 429)
    assert max(len(key) for key in _rows(sessions)) < 200


def test_an_account_name_with_a_nul_is_kept_as_its_hash(
    storage: DatabaseStorage, sessions: sessionmaker[Session], clock: Clock
) -> None:
    """PostgreSQL text cannot hold a NUL: such a name is counted under its hash."""
    throttle = LoginThrottle(
        storage, account_limit=2, address_limit=10, window_seconds=60, clock=clock
    )
    for _ in range(2):
        throttle.failed(account="nul\x00@example.org", address="10.0.0.1")
    assert throttle.retry_after(account="nul\x00@example.org", address="10.0.0.2") == 60
    assert not any("\x00" in key for key in _rows(sessions))


def test_redis_windows_are_shared_by_every_client_and_kept_under_the_prefix(
    db_url: str,
) -> None:
    with redis_prefix() as (url, prefix):
        settings = make_settings(db_url, redis_url=url, redis_key_prefix=prefix)
        workers = [build_login_throttle(settings, sessionmaker()) for _ in range(2)]
        failures = [workers[n % 2] for n in range(settings.login_max_failures_per_account)]
        for throttle in failures:
            assert throttle.retry_after(account="x@example.org", address="10.0.0.1") is None
            throttle.failed(account="x@example.org", address="10.0.0.1")
        for throttle in workers:
            wait = throttle.retry_after(account="x@example.org", address="10.0.0.2")
            assert wait is not None
            assert settings.login_failure_window_seconds - 5 < wait
            assert wait <= settings.login_failure_window_seconds
        assert redis_keys(prefix), "the windows are in Redis, under the test's prefix"
        assert all(key.startswith(f"{prefix}:") for key in redis_keys(prefix))
        workers[1].succeeded(account="x@example.org")
        assert workers[0].retry_after(account="x@example.org", address="10.0.0.1") is None


def test_sign_in_answers_503_while_redis_does_not_answer(db_url: str) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = make_settings(db_url, redis_url=f"redis://127.0.0.1:{closed}/0")
    with TestClient(create_app(settings)) as client:
        response = client.post(
            f"{API}/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
    problem = assert_problem(response, 503)
    assert "try again" in problem["detail"].lower()
    assert response.headers["retry-after"] == "5"
