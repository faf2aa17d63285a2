"""POST /shipments/{id}/events: idempotent by event_id, strict about what an event may say,
and only for the shipment's driver or exporter."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.factories import API, assert_problem, make_exporter, make_user
from tests.tracking.helpers import (
    FEE,
    Trip,
    at,
    driver_day,
    event,
    from_now,
    get_events,
    make_trip,
    post_event,
    stored_events,
)


@pytest.fixture
def trip(client: TestClient) -> Trip:
    return make_trip(client)


# --- idempotency -------------------------------------------------------------------------


def test_each_event_posted_three_times_is_stored_once_and_replays_get_200_with_the_stored_body(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    day = driver_day(trip.a, trip.b)
    for body in day:
        first = post_event(client, trip.id, body, trip.driver)
        assert first.status_code == 201, first.text
        for _ in range(2):
            again = post_event(client, trip.id, body, trip.driver)
            assert again.status_code == 200, again.text
            assert again.json() == first.json()

    listed = get_events(client, trip.id, trip.exporter.headers)
    assert sorted(e["event_id"] for e in listed) == sorted(e["event_id"] for e in day)
    with engine.connect() as connection:
        total, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT event_id) FROM events")
        ).one()
    assert (total, distinct) == (len(day), len(day))


def _other_procedure(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "procedure": "xray_scan"}


def _other_time(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "occurred_at": at(66)}


def _other_fee(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "fee": {**FEE, "amount": 30000}}


@pytest.mark.parametrize(
    ("original", "change"),
    [
        (event("procedure_started", 65, procedure="document_check"), _other_procedure),
        (event("procedure_started", 65, procedure="document_check"), _other_time),
        (event("fee_paid", 65, fee=FEE), _other_fee),
    ],
    ids=["other-procedure", "other-time", "other-fee-amount"],
)
def test_same_event_id_with_other_content_is_409_and_the_stored_event_is_unchanged(
    client: TestClient,
    trip: Trip,
    engine: Engine,
    original: dict[str, Any],
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    body = {**original, "event_id": str(uuid.uuid4())}
    arrived = post_event(client, trip.id, event("arrived", 60, checkpoint_id=trip.a), trip.driver)
    assert arrived.status_code == 201, arrived.text
    stored = post_event(client, trip.id, body, trip.driver)
    assert stored.status_code == 201, stored.text

    problem = assert_problem(post_event(client, trip.id, change(body), trip.driver), 409)
    assert body["event_id"] in problem["detail"]
    listed = get_events(client, trip.id, trip.driver)
    assert [e for e in listed if e["event_id"] == body["event_id"]] == [stored.json()]
    assert stored_events(engine) == 2


@pytest.mark.parametrize(
    "rewrite",
    [
        {"occurred_at": "2026-11-20T03:05:00Z"},
        {"fee": {**FEE, "amount": "25000.00"}},
        {"occurred_at": "2026-11-20T03:05:00.000+00:00", "fee": {**FEE, "amount": 25000.0}},
    ],
    ids=["utc-z-time", "amount-with-decimals", "both"],
)
def test_same_content_written_differently_is_a_duplicate_not_a_conflict(
    client: TestClient, trip: Trip, engine: Engine, rewrite: dict[str, Any]
) -> None:
    original = event("fee_paid", 5, fee=FEE)  # 06:05+03:00 is 03:05Z
    first = post_event(client, trip.id, original, trip.driver)
    assert first.status_code == 201, first.text
    again = post_event(client, trip.id, {**original, **rewrite}, trip.driver)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert stored_events(engine) == 1


def test_event_times_are_returned_in_utc(client: TestClient, trip: Trip) -> None:
    created = post_event(client, trip.id, event("departed", 5), trip.driver)
    assert created.status_code == 201, created.text
    assert created.json()["occurred_at"] == "2026-11-20T03:05:00Z"
    [listed] = get_events(client, trip.id, trip.driver)
    assert listed["occurred_at"] == "2026-11-20T03:05:00Z"


# --- validation ---------------------------------------------------------------------------


def _fee(**fee: Any) -> dict[str, Any]:
    return event("fee_paid", 10, fee={**FEE, **fee})


INVALID: dict[str, Callable[[str], dict[str, Any]]] = {
    "unknown-type": lambda cp: event("teleported", 10),
    "unknown-procedure": lambda cp: event("procedure_started", 10, procedure="bribe"),
    "unknown-hold-reason": lambda cp: event("held", 10, hold_reason="tea_break"),
    "held-without-reason": lambda cp: event("held", 10),
    "fee-paid-without-fee": lambda cp: event("fee_paid", 10),
    "fee-amount-zero": lambda cp: _fee(amount=0),
    "fee-amount-negative": lambda cp: _fee(amount=-5000),
    "currency-XXX": lambda cp: _fee(currency="XXX"),
    "currency-lowercase-garbage": lambda cp: _fee(currency="zzq"),
    "fee-on-arrived": lambda cp: event("arrived", 10, checkpoint_id=cp, fee=FEE),
    "arrived-without-checkpoint": lambda cp: event("arrived", 10),
    "time-without-offset": lambda cp: event("departed", 10, occurred_at="2026-11-20T06:10:00"),
    "time-10-min-ahead": lambda cp: event("departed", 0, occurred_at=from_now(10)),
    "time-6-min-ahead": lambda cp: event("departed", 0, occurred_at=from_now(6)),
    "unknown-checkpoint": lambda cp: event("arrived", 10, checkpoint_id=str(uuid.uuid4())),
    "extra-field": lambda cp: event("departed", 10, speed_kmh=80),
}


@pytest.mark.parametrize("make_body", INVALID.values(), ids=INVALID.keys())
def test_invalid_event_is_422_problem_and_nothing_is_stored(
    client: TestClient, trip: Trip, engine: Engine, make_body: Callable[[str], dict[str, Any]]
) -> None:
    problem = assert_problem(post_event(client, trip.id, make_body(trip.a), trip.driver), 422)
    assert problem["errors"]
    assert get_events(client, trip.id, trip.exporter.headers) == []
    assert stored_events(engine) == 0


def test_occurred_at_four_minutes_ahead_is_accepted(client: TestClient, trip: Trip) -> None:
    body = event("departed", 0, occurred_at=from_now(4))
    assert post_event(client, trip.id, body, trip.driver).status_code == 201


def test_event_for_a_cancelled_shipment_is_409(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    cancel = client.post(f"{API}/shipments/{trip.id}/cancel", headers=trip.exporter.headers)
    assert cancel.status_code == 200, cancel.text
    for headers in (trip.driver, trip.exporter.headers):
        problem = assert_problem(post_event(client, trip.id, event("departed", 0), headers), 409)
        assert "cancelled" in problem["detail"]
    assert stored_events(engine) == 0


def test_replaying_an_event_stored_before_the_cancellation_still_answers_200(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    departed = event("departed", 0)
    assert post_event(client, trip.id, departed, trip.driver).status_code == 201
    cancel = client.post(f"{API}/shipments/{trip.id}/cancel", headers=trip.exporter.headers)
    assert cancel.status_code == 200, cancel.text
    replay = post_event(client, trip.id, departed, trip.driver)
    assert replay.status_code == 200
    assert replay.json()["event_id"] == departed["event_id"]
    assert_problem(post_event(client, trip.id, event("departed", 5), trip.driver), 409)
    assert stored_events(engine) == 1


# --- who may post -------------------------------------------------------------------------


def test_the_shipments_exporter_may_post_events(client: TestClient, trip: Trip) -> None:
    created = post_event(client, trip.id, event("departed", 0), trip.exporter.headers)
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "exporter"
    assert (
        post_event(client, trip.id, event("note", 1, note="ok"), trip.driver).json()["source"]
        == "driver"
    )


@pytest.mark.parametrize("role", ["admin", "advocate"])
def test_admin_or_advocate_posting_an_event_is_403(
    client: TestClient, trip: Trip, engine: Engine, role: str
) -> None:
    who = trip.admin if role == "admin" else make_user(client, trip.admin, "advocate")
    assert_problem(post_event(client, trip.id, event("departed", 0), who.headers), 403)
    assert stored_events(engine) == 0


def test_another_organisations_shipment_is_404(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    stranger = make_exporter(client, trip.admin)
    assert_problem(post_event(client, trip.id, event("departed", 0), stranger.headers), 404)
    assert_problem(client.get(f"{API}/shipments/{trip.id}/events", headers=stranger.headers), 404)
    assert stored_events(engine) == 0
