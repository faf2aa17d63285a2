"""Positions at taps, through the API on a real database: each stop's position_evidence
(confirmed / contradicted / none), the fence (radius_m), the anomalies of impossible
timelines, and bad locations refused with nothing stored."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.tracking import service
from tests.factories import API, assert_problem, make_checkpoint
from tests.positions.helpers import KIRKUK, TUZ, Route, ev, location, make_route, offset
from tests.tracking.helpers import BASE_TIME, stored_events, sync

T0 = BASE_TIME


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def codes(stop: dict[str, Any]) -> list[str]:
    return [a["code"] for a in stop["anomalies"]]


def visit(route: Route, arrived: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """Arrive at A (with the fix `arrived`), pay a fee (fix `fee`), be released (fix
    `released`); the one stop as the API returns it."""
    bodies = [
        ev(
            "arrived",
            minutes(0),
            checkpoint_id=route.a["id"],
            **({"location": arrived} if arrived else {}),
        ),
        ev(
            "fee_paid",
            minutes(10),
            fee={"amount": 5000, "currency": "IQD", "receipt": True},
            **({"location": more["fee"]} if "fee" in more else {}),
        ),
        ev(
            "released",
            minutes(30),
            **({"location": more["released"]} if "released" in more else {}),
        ),
    ]
    for body in bodies:
        response = route.post(body)
        assert response.status_code == 201, response.text
    [stop] = route.stops()
    return stop


@pytest.fixture
def route(client: TestClient) -> Route:
    return make_route(client)


def test_a_stop_without_any_fix_has_no_position_evidence(route: Route) -> None:
    stop = visit(route)
    assert stop["position_evidence"] == "none"
    assert codes(stop) == []


def test_an_arrival_fix_inside_the_fence_confirms_the_stop(route: Route) -> None:
    stop = visit(route, arrived=location(KIRKUK, metres=120, accuracy=15))
    assert stop["position_evidence"] == "confirmed"
    assert codes(stop) == []
    events = route.client.get(f"{API}/shipments/{route.id}/events", headers=route.driver).json()
    [arrival] = [e for e in events["items"] if e["type"] == "arrived"]
    assert arrival["location"]["accuracy_m"] == 15


def test_a_release_fix_inside_the_fence_confirms_the_stop(route: Route) -> None:
    stop = visit(route, released=location(KIRKUK, metres=250, accuracy=None))
    assert stop["position_evidence"] == "confirmed"


def test_the_accuracy_circle_that_touches_the_fence_confirms_and_one_that_does_not_does_not(
    client: TestClient,
) -> None:
    # 400 m from the point, fence 300 m: ±150 m reaches the fence, ±50 m does not.
    near = visit(make_route(client), arrived=location(KIRKUK, metres=400, accuracy=150))
    assert near["position_evidence"] == "confirmed"
    far = visit(make_route(client), arrived=location(KIRKUK, metres=400, accuracy=50))
    assert far["position_evidence"] == "none"


def test_a_fee_fix_inside_the_fence_does_not_confirm_only_arrival_and_release_do(
    route: Route,
) -> None:
    stop = visit(route, fee=location(KIRKUK, metres=50))
    assert stop["position_evidence"] == "none"


def test_a_fix_two_km_away_is_neither_confirmed_nor_contradicted(route: Route) -> None:
    stop = visit(route, arrived=location(KIRKUK, metres=2_000, accuracy=20))
    assert stop["position_evidence"] == "none"
    assert codes(stop) == []


def test_a_fix_clearly_elsewhere_contradicts_the_stop_and_flags_its_event(route: Route) -> None:
    fee = location(KIRKUK, metres=20_000, accuracy=30)
    stop = visit(route, arrived=location(KIRKUK, metres=10), fee=fee)
    # A contradiction outweighs a confirmation: the stop is not corroborated.
    assert stop["position_evidence"] == "contradicted"
    [anomaly] = stop["anomalies"]
    assert anomaly["code"] == "position_contradicts_checkpoint"
    fee_event = [
        e
        for e in route.client.get(
            f"{API}/shipments/{route.id}/events", headers=route.driver
        ).json()["items"]
        if e["type"] == "fee_paid"
    ][0]
    assert anomaly["event_id"] == fee_event["event_id"]
    assert "20.0 km" in anomaly["detail"]  # 20 km less its ±30 m


def test_a_wide_accuracy_keeps_a_far_fix_from_contradicting(route: Route) -> None:
    # 6 km away, but the phone says ±2 km: it may have been 4 km away, a queue.
    stop = visit(route, arrived=location(KIRKUK, metres=6_000, accuracy=2_000))
    assert stop["position_evidence"] == "none"


def test_the_fence_is_the_checkpoints_radius(client: TestClient) -> None:
    wide = make_route(client, radius_m=1_000)
    assert wide.a["radius_m"] == 1_000
    assert wide.b["radius_m"] == 300  # the default
    stop = visit(wide, arrived=location(KIRKUK, metres=900, accuracy=0))
    assert stop["position_evidence"] == "confirmed"


def test_radius_m_is_editable_and_checked(client: TestClient, route: Route) -> None:
    url = f"{API}/checkpoints/{route.a['id']}"
    changed = client.patch(url, json={"radius_m": 750}, headers=route.admin.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["radius_m"] == 750
    assert client.get(url, headers=route.driver).json()["radius_m"] == 750
    for bad in (0, -5, 60_000, "300", True):
        response = client.patch(url, json={"radius_m": bad}, headers=route.admin.headers)
        assert_problem(response, 422)
    assert client.get(url, headers=route.driver).json()["radius_m"] == 750
    # The next stop there is judged by the new fence.
    stop = visit(route, arrived=location(KIRKUK, metres=700, accuracy=0))
    assert stop["position_evidence"] == "confirmed"


@pytest.mark.parametrize(
    "bad",
    [
        {"lat": 91, "lon": 44},
        {"lat": -90.5, "lon": 44},
        {"lat": 35, "lon": 181},
        {"lat": 35, "lon": -180.01},
        {"lat": 35, "lon": 44, "accuracy_m": -1},
        {"lat": "north", "lon": 44},
        {"lat": 35},
        {"lat": 35, "lon": 44, "altitude": 300},
        {"lat": None, "lon": 44},
    ],
)
def test_a_bad_location_is_a_422_problem_and_stores_nothing(
    route: Route, engine: Engine, bad: dict[str, Any]
) -> None:
    body = ev("arrived", minutes(0), checkpoint_id=route.a["id"], location=bad)
    problem = assert_problem(route.post(body), 422)
    assert problem["errors"], problem
    assert stored_events(engine) == 0
    # In a phone's queue, the bad event alone is rejected.
    good = ev("departed", minutes(-60), location=location(KIRKUK, metres=90_000))
    answer = sync(route.client, [body, good], route.driver)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["rejected", "created"]
    assert stored_events(engine) == 1


def test_the_offline_queue_keeps_each_events_location(route: Route) -> None:
    bodies = [
        ev("arrived", minutes(0), checkpoint_id=route.a["id"], location=location(KIRKUK, 30, 12)),
        ev("released", minutes(40), location=location(KIRKUK, 60, 8.5)),
    ]
    answer = sync(route.client, bodies, route.driver)
    assert [r["status"] for r in answer.json()["results"]] == ["created", "created"]
    [stop] = route.stops()
    assert stop["position_evidence"] == "confirmed"
    events = route.client.get(f"{API}/shipments/{route.id}/events", headers=route.driver).json()
    assert [e["location"]["accuracy_m"] for e in events["items"]] == [12, 8.5]
    # The same events again: duplicates (the accuracy is part of the content).
    again = sync(route.client, bodies, route.driver)
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    other = {**bodies[1], "location": location(KIRKUK, 60, 9)}
    changed = sync(route.client, [other], route.driver)
    assert changed.json()["results"][0]["status"] == "rejected"


def test_travel_faster_than_130_kmh_between_checkpoints_is_impossible_speed(
    route: Route,
) -> None:
    # Kirkuk to Tuz is about 75 km in a straight line: 20 minutes would be 200+ km/h.
    for body in (
        ev("arrived", minutes(0), checkpoint_id=route.a["id"]),
        ev("released", minutes(30)),
        ev("arrived", minutes(50), checkpoint_id=route.b["id"]),
    ):
        assert route.post(body).status_code == 201
    first, second = route.stops()
    assert codes(first) == []
    assert codes(second) == ["impossible_speed"]
    assert "km/h" in second["anomalies"][0]["detail"]


def test_travel_at_a_truck_speed_is_not_flagged(route: Route) -> None:
    for body in (
        ev("arrived", minutes(0), checkpoint_id=route.a["id"]),
        ev("released", minutes(30)),
        ev("arrived", minutes(30 + 70), checkpoint_id=route.b["id"]),  # ~64 km/h
    ):
        assert route.post(body).status_code == 201
    assert [codes(s) for s in route.stops()] == [[], []]


def test_events_at_two_distant_checkpoints_in_one_minute_are_two_places_at_once(
    route: Route,
) -> None:
    for body in (
        ev("arrived", minutes(0), checkpoint_id=route.a["id"]),
        ev("released", minutes(0.2)),
        ev("arrived", minutes(0.5), checkpoint_id=route.b["id"]),
    ):
        assert route.post(body).status_code == 201
    first, second = route.stops()
    assert "two_places_at_once" in codes(second)
    assert "impossible_speed" in codes(second)
    assert codes(first) == []


def test_two_posts_of_one_crossing_within_a_minute_are_not_two_places(client: TestClient) -> None:
    route = make_route(client)
    near = client.post(
        f"{API}/checkpoints",
        json={
            "code": "KRK-EXIT-02",
            "name": "Kirkuk exit",
            "province": "kirkuk",
            "kind": "internal",
            "latitude": KIRKUK[0] + 0.006,
            "longitude": KIRKUK[1],
        },
        headers=route.admin.headers,
    ).json()
    for body in (
        ev("arrived", minutes(0), checkpoint_id=route.a["id"]),
        ev("released", minutes(5)),
        ev("arrived", minutes(5.3), checkpoint_id=near["id"]),  # 670 m on: fences 70 m apart
    ):
        assert route.post(body).status_code == 201
    assert [codes(s) for s in route.stops()] == [[], []]


def test_an_event_sent_two_days_late_while_the_phone_was_online_is_backdated(
    route: Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    # Two days ago the phone was online: the server received its arrival then.
    monkeypatch.setattr(service, "utcnow", lambda: now - timedelta(days=2))
    arrived = ev("arrived", now - timedelta(days=2, minutes=5), checkpoint_id=route.a["id"])
    assert route.post(arrived).status_code == 201
    monkeypatch.undo()
    # Today it claims a fee paid three days ago, before that arrival's sync.
    late = ev(
        "fee_paid",
        now - timedelta(days=3),
        checkpoint_id=route.a["id"],
        fee={"amount": 1000, "currency": "IQD", "receipt": False},
    )
    assert route.post(late).status_code == 201
    [stop] = route.stops()
    flagged = [a for a in stop["anomalies"] if a["code"] == "backdated"]
    assert [a["event_id"] for a in flagged] == [late["event_id"]]


def test_an_offline_queue_sent_days_later_is_not_backdated(route: Route) -> None:
    # The phone was out of reach for three days; its queue arrives in one sync.
    then = datetime.now(UTC) - timedelta(days=3)
    bodies = [
        ev("departed", then),
        ev("arrived", then + timedelta(hours=1), checkpoint_id=route.a["id"]),
        ev("released", then + timedelta(hours=2)),
    ]
    answer = sync(route.client, bodies, route.driver)
    assert [r["status"] for r in answer.json()["results"]] == ["created"] * 3
    [stop] = route.stops()
    assert codes(stop) == []
    shipment = route.client.get(f"{API}/shipments/{route.id}", headers=route.driver).json()
    assert shipment["timeline_anomalies"] == []


def test_the_stops_written_equal_a_rebuild_from_the_stored_events(route: Route, app: Any) -> None:
    """The writer's stops (kept projection, step by step) are what a rebuild from all the
    stored events gives, positions and anomalies included."""
    for body in (
        ev("arrived", minutes(0), checkpoint_id=route.a["id"], location=location(KIRKUK, 50)),
        ev(
            "fee_paid",
            minutes(5),
            fee={"amount": 1, "currency": "USD", "receipt": True},
            location=location(KIRKUK, 30_000),
        ),
        ev("released", minutes(30)),
        ev("arrived", minutes(45), checkpoint_id=route.b["id"], location=location(TUZ, 10)),
        ev("released", minutes(50)),
    ):
        assert route.post(body).status_code == 201
    before = route.stops()
    assert [s["position_evidence"] for s in before] == ["contradicted", "confirmed"]
    import uuid

    from app.shipments.models import Shipment

    with app.state.session_factory() as session:
        shipment = session.get_one(Shipment, uuid.UUID(route.id))
        service.rebuild(session, shipment)
        session.commit()
    assert route.stops() == before


def test_a_tap_inside_a_large_fence_far_from_its_point_is_not_clearly_elsewhere(
    client: TestClient,
) -> None:
    # A 10 km fence: a tap 8 km from the point (±10 m) lies inside it; "clearly elsewhere"
    # is beyond max(5 km, the radius), not beyond 5 km alone.
    wide = make_route(client, radius_m=10_000)
    stop = visit(wide, arrived=location(KIRKUK, metres=8_000, accuracy=10))
    assert stop["position_evidence"] == "confirmed"
    assert codes(stop) == []
    # Beyond the fence by more than 5 km is still elsewhere.
    beyond = visit(make_route(client, radius_m=10_000), fee=location(KIRKUK, metres=16_000))
    assert beyond["position_evidence"] == "contradicted"


def test_the_speed_between_two_posts_counts_from_fence_to_fence(client: TestClient) -> None:
    # Two posts of one crossing 3 km apart, each with a 1,500 m fence: the fences touch, so
    # released at A and arrived at B within the minute is no impossible speed.
    route = make_route(client, radius_m=1_500)
    lat, lon = offset(KIRKUK, 3_000, 0)
    other = make_checkpoint(client, route.admin, latitude=lat, longitude=lon, radius_m=1_500)
    for body in (
        ev("arrived", minutes(0), checkpoint_id=route.a["id"]),
        ev("released", minutes(5)),
        ev("arrived", minutes(5.3), checkpoint_id=other["id"]),
    ):
        assert route.post(body).status_code == 201
    assert [codes(s) for s in route.stops()] == [[], []]
