"""POST /sync: a phone's offline queue in one request. One result per event, in the order
sent; a bad event is rejected with its reason and never costs the others."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.factories import API, assert_problem, make_exporter, make_shipment
from tests.tracking.helpers import (
    Trip,
    at,
    driver_day,
    event,
    from_now,
    get_events,
    get_stops,
    make_trip,
    post_event,
    stored_events,
    sync,
)


@pytest.fixture
def trip(client: TestClient) -> Trip:
    return make_trip(client)


def _results(response: Any) -> list[tuple[str | None, str]]:
    assert response.status_code == 200, response.text
    return [(r["event_id"], r["status"]) for r in response.json()["results"]]


def test_a_thousand_events_in_one_request_are_all_created_in_the_order_sent(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    events = [event("departed", 0)] + [event("note", m, note=f"#{m}") for m in range(1, 1000)]
    response = sync(client, events, trip.driver)
    assert _results(response) == [(e["event_id"], "created") for e in events]
    assert response.json()["created"] == 1000
    assert stored_events(engine) == 1000


def test_a_thousand_and_one_events_are_refused_whole(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    events = [event("note", m, note="x") for m in range(1001)]
    problem = assert_problem(sync(client, events, trip.driver), 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "events"]
    assert stored_events(engine) == 0


def _mixed_batch(trip: Trip, conflicting: dict[str, Any]) -> tuple[list[Any], dict[int, str]]:
    """The rest of a driver's day with five bad events between; {position: words of reason}."""
    valid = driver_day(trip.a, trip.b)[1:]
    no_type = event("note", 61, note="x")
    del no_type["type"]
    bad = {
        1: ({**event("note", 61), "event_id": "not-a-uuid"}, "event_id: "),
        3: (no_type, "type: "),
        5: (event("note", 0, occurred_at=from_now(10)), "future"),
        7: (event("arrived", 200, checkpoint_id=str(uuid.uuid4())), "checkpoint_id"),
        9: (conflicting, "other content"),
    }
    batch = list(valid)
    for position, (body, _) in sorted(bad.items()):
        batch.insert(position, body)
    return batch, {position: reason for position, (_, reason) in bad.items()}


def test_a_mixed_batch_keeps_every_valid_event_and_rejects_each_bad_one_with_its_reason(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    departed = event("departed", 0)
    assert post_event(client, trip.id, departed, trip.driver).status_code == 201
    conflicting = {**departed, "occurred_at": at(1)}
    batch, reasons = _mixed_batch(trip, conflicting)

    response = sync(client, batch, trip.driver)
    results = response.json()["results"]
    assert [r["event_id"] for r in results] == [str(b.get("event_id")) for b in batch]
    for position, result in enumerate(results):
        if position in reasons:
            assert result["status"] == "rejected", result
            assert reasons[position] in result["reason"], result
        else:
            assert (result["status"], result["reason"]) == ("created", None), result
    assert (response.json()["created"], response.json()["rejected"]) == (9, 5)
    assert stored_events(engine) == 10
    assert [s["dwell_minutes"] for s in get_stops(client, trip.id, trip.driver)] == [90, 15]

    again = sync(client, batch, trip.driver)
    expected = ["rejected" if i in reasons else "duplicate" for i in range(len(batch))]
    assert [r["status"] for r in again.json()["results"]] == expected
    assert stored_events(engine) == 10


def test_an_entry_that_is_not_an_object_is_rejected_alone(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    departed, delivered = event("departed", 0), event("delivered", 90)
    response = sync(client, [departed, None, "arrived", delivered], trip.driver)
    assert _results(response) == [
        (departed["event_id"], "created"),
        (None, "rejected"),
        (None, "rejected"),
        (delivered["event_id"], "created"),
    ]
    assert all(r["reason"] for r in response.json()["results"][1:3])
    assert stored_events(engine) == 2


def test_a_duplicate_inside_one_batch_is_reported_as_duplicate(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    departed = event("departed", 0)
    altered = {**departed, "occurred_at": at(3)}
    response = sync(client, [departed, departed, altered], trip.driver)
    assert [s for _, s in _results(response)] == ["created", "duplicate", "rejected"]
    assert stored_events(engine) == 1


def test_an_exporter_must_say_which_shipment(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    body = event("departed", 0)
    problem = assert_problem(sync(client, [body], trip.exporter.headers), 422)
    assert problem["errors"][0]["loc"] == ["body", "shipment_id"]
    assert stored_events(engine) == 0
    response = sync(client, [body], trip.exporter.headers, shipment_id=trip.id)
    assert _results(response) == [(body["event_id"], "created")]
    assert get_events(client, trip.id, trip.driver)[0]["source"] == "exporter"


def test_an_exporter_cannot_sync_another_organisations_shipment(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    stranger = make_exporter(client, trip.admin)
    response = sync(client, [event("departed", 0)], stranger.headers, shipment_id=trip.id)
    assert_problem(response, 404)
    assert stored_events(engine) == 0


def test_a_driver_naming_another_shipment_is_422(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    other = make_shipment(client, trip.exporter)
    response = sync(client, [event("departed", 0)], trip.driver, shipment_id=other["id"])
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "shipment_id"]
    assert stored_events(engine) == 0


def test_a_driver_may_name_its_own_shipment(client: TestClient, trip: Trip) -> None:
    response = sync(client, [event("departed", 0)], trip.driver, shipment_id=trip.id)
    assert [s for _, s in _results(response)] == ["created"]


def test_every_event_for_a_cancelled_shipment_is_rejected(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    cancel = client.post(f"{API}/shipments/{trip.id}/cancel", headers=trip.exporter.headers)
    assert cancel.status_code == 200, cancel.text
    response = sync(client, driver_day(trip.a, trip.b), trip.driver)
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 10
    assert all("cancelled" in r["reason"] for r in results)
    assert stored_events(engine) == 0


def test_admin_cannot_sync(client: TestClient, trip: Trip) -> None:
    response = sync(client, [event("departed", 0)], trip.admin.headers, shipment_id=trip.id)
    assert_problem(response, 403)
