"""Bad credentials never reach the event writer (issue 13, fault 2): the event routes check
the caller before anything is queued for a write, so a request with a made-up, revoked or
expired credential is answered 401 without a writer job, and without waiting for SQLite's
write lock even while someone else holds it."""

import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.auth.passwords import new_secret
from app.auth.service import API_KEY_PREFIX, DRIVER_TOKEN_PREFIX
from tests.factories import API, assert_problem
from tests.tracking.helpers import Trip, bearer, event, make_trip, post_event, stored_events

MADE_UP = {
    "driver link": new_secret(DRIVER_TOKEN_PREFIX),
    "API key": new_secret(API_KEY_PREFIX),
    "access token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl",
    "garbage": "x",
}


@pytest.fixture
def trip(client: TestClient) -> Trip:
    return make_trip(client)


@pytest.fixture
def writer_jobs(app: FastAPI) -> Iterator[list[int]]:
    """The number of requests in each of the event writer's transactions."""
    writer = app.state.event_writer
    jobs: list[int] = []
    original = writer._write_together

    def spy(batch: list[Any]) -> Any:
        jobs.append(len(batch))
        return original(batch)

    writer._write_together = spy
    yield jobs
    writer._write_together = original


def _revoked_driver_link(client: TestClient, trip: Trip) -> dict[str, str]:
    url = f"{API}/shipments/{trip.id}/driver-token"
    old = client.post(url, headers=trip.exporter.headers).json()["token"]
    assert client.delete(url, headers=trip.exporter.headers).status_code == 204
    return bearer(old)


def test_bad_credentials_are_refused_without_a_writer_job(
    client: TestClient, trip: Trip, writer_jobs: list[int], engine: Engine
) -> None:
    callers = [bearer(token) for token in MADE_UP.values()]
    callers += [_revoked_driver_link(client, trip), {}]
    for headers in callers:
        response = post_event(client, trip.id, event("arrived", 1, checkpoint_id=trip.a), headers)
        assert_problem(response, 401)
        synced = client.post(f"{API}/sync", json={"events": [event("note", 2)]}, headers=headers)
        assert_problem(synced, 401)
    assert writer_jobs == []
    assert stored_events(engine) == 0

    # The writer itself is alive: the exporter's own credential still goes through it.
    body = event("arrived", 1, checkpoint_id=trip.a)
    response = post_event(client, trip.id, body, trip.exporter.headers)
    assert response.status_code == 201, response.text
    assert writer_jobs == [1]


def test_a_bad_credential_is_answered_at_once_while_the_write_lock_is_held(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    """SQLite: another connection holds the database's single write lock (the writer would
    wait for it up to the 30 s busy timeout); each bad credential still gets its 401
    promptly, because nothing of it waits for the lock or for the writer's thread."""
    if engine.dialect.name != "sqlite" or engine.url.database is None:
        pytest.skip("SQLite's database-wide write lock")
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for kind, token in MADE_UP.items():
            started = time.monotonic()
            body = event("arrived", 1, checkpoint_id=trip.a)
            response = post_event(client, trip.id, body, bearer(token))
            assert_problem(response, 401)
            assert time.monotonic() - started < 2, kind
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_sync_and_single_events_share_the_writer_and_its_projections(
    client: TestClient, app: FastAPI, trip: Trip, writer_jobs: list[int]
) -> None:
    """POST /sync goes through the same writer as POST …/events (service.record_events):
    one job for the whole queue, and the trip's projection kept for the next event."""
    events = [event("departed", 0), event("arrived", 30, checkpoint_id=trip.a)]
    response = client.post(f"{API}/sync", json={"events": events}, headers=trip.driver)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    assert writer_jobs == [1]
    assert uuid.UUID(trip.id) in app.state.event_writer._projections._items
