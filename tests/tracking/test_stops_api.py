"""Stops and status, derived from events, as the API shows them: a driver's day step by step,
contradictions kept as anomalies, and the same stops whatever order the events arrive in."""

import random
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import API, make_shipment
from tests.tracking.helpers import (
    DAY_STATUSES,
    Trip,
    driver_day,
    driver_headers,
    event,
    get_shipment,
    get_stops,
    make_trip,
    post_event,
    utc,
)


@pytest.fixture
def trip(client: TestClient) -> Trip:
    return make_trip(client)


def _listed_ids(client: TestClient, trip: Trip, **filters: str) -> set[str]:
    response = client.get(f"{API}/shipments", params=filters, headers=trip.exporter.headers)
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()["items"]}


def test_a_drivers_day_moves_the_status_step_by_step(client: TestClient, trip: Trip) -> None:
    assert get_shipment(client, trip.id, trip.driver)["status"] == "planned"
    at_a = {2, 3, 4, 5, 6}  # 1-based positions of the events that leave the truck at A
    for step, (body, expected) in enumerate(
        zip(driver_day(trip.a, trip.b), DAY_STATUSES, strict=True), start=1
    ):
        assert post_event(client, trip.id, body, trip.driver).status_code == 201
        shown = get_shipment(client, trip.id, trip.driver)
        assert shown["status"] == expected, (step, body["type"])
        current = shown["current_stop"]
        if expected in ("at_checkpoint", "held"):
            assert current["checkpoint"]["id"] == (trip.a if step in at_a else trip.b)
            assert current["current"] is True
        else:
            assert current is None
        if expected == "held":
            assert [h["ended_at"] for h in current["holds"]] == [None]
            assert trip.id in _listed_ids(client, trip, status="held")
        else:
            assert trip.id not in _listed_ids(client, trip, status="held")


def test_a_drivers_day_ends_in_two_closed_stops_with_their_times_holds_procedures_and_fees(
    client: TestClient, trip: Trip
) -> None:
    for body in driver_day(trip.a, trip.b):
        assert post_event(client, trip.id, body, trip.driver).status_code == 201
    first, second = get_stops(client, trip.id, trip.driver)

    assert (first["seq"], first["checkpoint"]["id"], first["outcome"]) == (1, trip.a, "released")
    assert (first["arrived_at"], first["closed_at"]) == (utc(60), utc(150))
    assert (first["dwell_minutes"], first["held_minutes"], first["hold_count"]) == (90, 60, 1)
    assert [(h["reason"], h["minutes"]) for h in first["holds"]] == [("missing_document", 60)]
    assert [(p["procedure"], p["minutes"]) for p in first["procedures"]] == [("document_check", 15)]
    assert [(f["amount"], f["currency"], f["receipt"], f["paid_at"]) for f in first["fees"]] == [
        (25000, "IQD", False, utc(85))
    ]
    assert first["anomalies"] == []

    assert (second["seq"], second["checkpoint"]["id"]) == (2, trip.b)
    assert (second["dwell_minutes"], second["held_minutes"], second["holds"]) == (15, 0, [])
    assert second["anomalies"] == []

    shown = get_shipment(client, trip.id, trip.exporter.headers)
    assert shown["stops"] == [first, second]
    assert (shown["status"], shown["current_stop"], shown["timeline_anomalies"]) == (
        "delivered",
        None,
        [],
    )


# --- anomalies ----------------------------------------------------------------------------


def _post_all(client: TestClient, trip: Trip, events: list[dict[str, Any]]) -> None:
    for body in events:
        response = post_event(client, trip.id, body, trip.driver)
        assert response.status_code == 201, response.text


def test_released_before_arrival_is_kept_and_flagged_with_no_dwell(
    client: TestClient, trip: Trip
) -> None:
    arrived = event("arrived", 60, checkpoint_id=trip.a)
    _post_all(client, trip, [arrived, event("released", 30, checkpoint_id=trip.a)])
    [stop] = get_stops(client, trip.id, trip.driver)
    assert (stop["arrived_at"], stop["closed_at"]) == (utc(60), utc(30))
    assert stop["dwell_minutes"] is None
    flagged = {a["code"]: a["event_id"] for a in stop["anomalies"]}
    assert flagged["released_before_arrival"] == arrived["event_id"]


def test_a_second_arrival_without_release_is_flagged_on_the_stop(
    client: TestClient, trip: Trip
) -> None:
    again = event("arrived", 90, checkpoint_id=trip.a)
    _post_all(client, trip, [event("arrived", 60, checkpoint_id=trip.a), again])
    [stop] = get_stops(client, trip.id, trip.driver)
    assert [(a["code"], a["event_id"]) for a in stop["anomalies"]] == [
        ("second_arrival_without_release", again["event_id"])
    ]
    assert (stop["arrived_at"], stop["dwell_minutes"]) == (utc(60), None)


def test_an_event_after_delivery_is_listed_among_the_shipments_anomalies(
    client: TestClient, trip: Trip
) -> None:
    late = event("note", 130, note="forgot to tap arrived")
    _post_all(client, trip, [event("departed", 0), event("delivered", 120), late])
    shown = get_shipment(client, trip.id, trip.exporter.headers)
    assert shown["status"] == "delivered"
    assert [(a["code"], a["event_id"]) for a in shown["timeline_anomalies"]] == [
        ("event_after_delivery", late["event_id"])
    ]
    assert late["event_id"] in [e["event_id"] for e in shown["timeline"]]


# --- order independence -------------------------------------------------------------------


def _comparable(stop: dict[str, Any]) -> dict[str, Any]:
    """A stop without the ids that differ between two shipments (stop id, event ids)."""
    return {
        "seq": stop["seq"],
        "checkpoint": stop["checkpoint"]["id"],
        "arrived_at": stop["arrived_at"],
        "closed_at": stop["closed_at"],
        "outcome": stop["outcome"],
        "dwell_minutes": stop["dwell_minutes"],
        "held_minutes": stop["held_minutes"],
        "holds": stop["holds"],
        "procedures": stop["procedures"],
        "fees": stop["fees"],
        "anomalies": [a["code"] for a in stop["anomalies"]],
    }


def test_a_shuffled_copy_of_the_day_gives_the_same_stops_as_the_day_in_order(
    client: TestClient, trip: Trip
) -> None:
    day = driver_day(trip.a, trip.b)
    day.insert(6, event("held", 120, hold_reason="security"))  # a second hold at A
    _post_all(client, trip, day)

    twin = make_shipment(client, trip.exporter, route=[trip.a, trip.b])
    twin_driver = driver_headers(client, trip.exporter, twin)
    shuffled = [{**body, "event_id": str(uuid.uuid4())} for body in day]
    random.Random(20261120).shuffle(shuffled)
    for body in shuffled:
        assert post_event(client, twin["id"], body, twin_driver).status_code == 201

    in_order = get_stops(client, trip.id, trip.driver)
    assert len(in_order) == 2
    assert [len(s["holds"]) for s in in_order] == [2, 0]
    assert [_comparable(s) for s in get_stops(client, twin["id"], twin_driver)] == [
        _comparable(s) for s in in_order
    ]
    assert get_shipment(client, twin["id"], twin_driver)["status"] == "delivered"


def test_shipments_can_be_found_by_a_checkpoint_on_their_route(
    client: TestClient, trip: Trip
) -> None:
    only_a = make_shipment(client, trip.exporter, route=[trip.a])
    only_b = make_shipment(client, trip.exporter, route=[trip.b])
    make_shipment(client, trip.exporter)  # no route at all
    assert _listed_ids(client, trip, checkpoint_id=trip.b) == {trip.id, only_b["id"]}
    assert _listed_ids(client, trip, checkpoint_id=trip.a) == {trip.id, only_a["id"]}


def test_shipments_can_be_found_where_they_stopped_and_where_they_are_now(
    client: TestClient, trip: Trip
) -> None:
    off_route = make_shipment(client, trip.exporter)  # planned through nowhere
    token = client.post(
        f"{API}/shipments/{off_route['id']}/driver-token", headers=trip.exporter.headers
    )
    driver = {"Authorization": f"Bearer {token.json()['token']}"}
    for body in (
        event("arrived", 10, checkpoint_id=trip.a),
        event("released", 20),
        event("arrived", 40, checkpoint_id=trip.b),
    ):
        response = client.post(
            f"{API}/shipments/{off_route['id']}/events", json=body, headers=driver
        )
        assert response.status_code == 201, response.text

    assert off_route["id"] in _listed_ids(client, trip, checkpoint_id=trip.a)
    assert _listed_ids(client, trip, current_checkpoint_id=trip.b) == {off_route["id"]}
    assert _listed_ids(client, trip, current_checkpoint_id=trip.a) == set()


def test_a_cancelled_shipment_is_no_longer_at_its_checkpoint(
    client: TestClient, trip: Trip
) -> None:
    _post_all(client, trip, [event("arrived", 10, checkpoint_id=trip.a)])
    assert _listed_ids(client, trip, current_checkpoint_id=trip.a) == {trip.id}

    cancelled = client.post(f"{API}/shipments/{trip.id}/cancel", headers=trip.exporter.headers)

    assert cancelled.status_code == 200
    assert _listed_ids(client, trip, current_checkpoint_id=trip.a) == set()
    detail = client.get(f"{API}/shipments/{trip.id}", headers=trip.exporter.headers).json()
    assert detail["current_stop"] is None
    assert [stop["checkpoint"]["id"] for stop in detail["stops"]] == [trip.a]  # history kept
