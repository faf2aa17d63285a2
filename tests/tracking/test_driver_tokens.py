"""Driver links: one shipment's bearer token, shown once, stored hashed, expiring, revocable,
and good for nothing but that shipment's story and its events."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.engine import Engine

from app.auth.models import DriverToken
from tests.factories import (
    API,
    assert_problem,
    make_exporter,
    make_shipment,
    make_user,
    shipment_payload,
)
from tests.tracking.helpers import (
    Trip,
    bearer,
    event,
    issue_driver_token,
    make_trip,
    post_event,
    sync,
)


@pytest.fixture
def trip(client: TestClient) -> Trip:
    return make_trip(client)


def _close_to(value: str, expected: datetime) -> bool:
    return abs(datetime.fromisoformat(value) - expected) < timedelta(minutes=1)


def _story_requests(shipment_id: str) -> list[tuple[str, str, Any]]:
    """Everything a driver link is for: (method, path, json body)."""
    return [
        ("GET", f"/shipments/{shipment_id}", None),
        ("GET", f"/shipments/{shipment_id}/events", None),
        ("GET", f"/shipments/{shipment_id}/stops", None),
        ("POST", f"/shipments/{shipment_id}/events", event("departed", 0)),
    ]


def _call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, f"{API}{path}", json=body, headers=headers)


def test_the_exporter_gets_a_drv_token_for_14_days_with_a_driver_url_carrying_it_after_the_hash(
    client: TestClient, trip: Trip
) -> None:
    issued = issue_driver_token(client, trip.exporter, trip.shipment)
    assert issued["token"].startswith("drv_")
    assert _close_to(issued["expires_at"], datetime.now(UTC) + timedelta(days=14))
    page, fragment = issued["driver_url"].split("#", 1)
    assert issued["token"] in fragment
    assert issued["token"] not in page


def test_valid_days_sets_the_expiry_within_1_to_90_days(client: TestClient, trip: Trip) -> None:
    issued = issue_driver_token(client, trip.exporter, trip.shipment, valid_days=3)
    assert _close_to(issued["expires_at"], datetime.now(UTC) + timedelta(days=3))
    for days in (0, 91):
        response = client.post(
            f"{API}/shipments/{trip.id}/driver-token",
            json={"valid_days": days},
            headers=trip.exporter.headers,
        )
        assert_problem(response, 422)


def test_only_the_sha256_of_the_token_is_stored(
    client: TestClient, trip: Trip, engine: Engine
) -> None:
    token = issue_driver_token(client, trip.exporter, trip.shipment)["token"]
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM driver_tokens")).mappings().all()
    live = [row for row in rows if row["revoked_at"] is None]
    assert [row["token_hash"] for row in live] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(value) for row in rows for value in row.values())


def test_the_driver_reads_its_shipment_without_cargo_values(client: TestClient, trip: Trip) -> None:
    seen_by_driver = client.get(f"{API}/shipments/{trip.id}", headers=trip.driver).json()
    seen_by_exporter = client.get(f"{API}/shipments/{trip.id}", headers=trip.exporter.headers)
    [line] = seen_by_driver["cargo"]
    assert line["value_usd"] is None
    assert seen_by_exporter.json()["cargo"][0]["value_usd"] == 2700
    assert line["description"] == "Portland cement, bagged"
    expected = seen_by_exporter.json()
    expected["cargo"][0]["value_usd"] = None
    assert seen_by_driver == expected


def test_the_driver_can_read_checkpoints_its_events_and_stops_and_report_events(
    client: TestClient, trip: Trip
) -> None:
    checkpoints = client.get(f"{API}/checkpoints", headers=trip.driver)
    assert checkpoints.status_code == 200
    assert {c["id"] for c in checkpoints.json()["items"]} == {trip.a, trip.b}
    for method, path, body in _story_requests(trip.id):
        response = _call(client, method, path, body, trip.driver)
        assert response.status_code in (200, 201), (path, response.text)
    synced = sync(client, [event("arrived", 30, checkpoint_id=trip.a)], trip.driver)
    assert synced.json()["created"] == 1


def test_the_token_on_another_shipments_endpoints_is_404(client: TestClient, trip: Trip) -> None:
    other = make_shipment(client, trip.exporter)
    for method, path, body in _story_requests(other["id"]):
        assert_problem(_call(client, method, path, body, trip.driver), 404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/shipments", None),
        ("POST", "/shipments", shipment_payload()),
        ("GET", "/users/me", None),
        ("GET", "/organizations", None),
        ("POST", "/organizations", {"name": "Driver Co"}),
        ("GET", "/api-keys", None),
        ("POST", "/api-keys", {"name": "phone"}),
        ("PATCH", "/shipments/{id}", {"origin_city": "Chamchamal"}),
        ("POST", "/shipments/{id}/cancel", None),
        ("POST", "/shipments/{id}/driver-token", None),
        ("DELETE", "/shipments/{id}/driver-token", None),
    ],
)
def test_the_token_is_403_outside_its_shipments_story(
    client: TestClient, trip: Trip, method: str, path: str, body: Any
) -> None:
    response = _call(client, method, path.format(id=trip.id), body, trip.driver)
    assert_problem(response, 403)
    assert (
        client.get(f"{API}/shipments/{trip.id}", headers=trip.exporter.headers).json()["status"]
        == "planned"
    )


def _assert_dead(client: TestClient, trip: Trip, headers: dict[str, str]) -> None:
    for method, path, body in [*_story_requests(trip.id), ("GET", "/checkpoints", None)]:
        assert_problem(_call(client, method, path, body, headers), 401)
    assert_problem(sync(client, [event("departed", 0)], headers), 401)


def test_after_revocation_the_token_is_401_everywhere(client: TestClient, trip: Trip) -> None:
    path = f"{API}/shipments/{trip.id}/driver-token"
    assert client.delete(path, headers=trip.exporter.headers).status_code == 204
    _assert_dead(client, trip, trip.driver)


def test_a_new_token_revokes_the_old_one(client: TestClient, trip: Trip) -> None:
    new = bearer(issue_driver_token(client, trip.exporter, trip.shipment)["token"])
    _assert_dead(client, trip, trip.driver)
    assert post_event(client, trip.id, event("departed", 0), new).status_code == 201


def test_an_expired_token_is_401(client: TestClient, trip: Trip, engine: Engine) -> None:
    token = issue_driver_token(client, trip.exporter, trip.shipment, valid_days=1)["token"]
    assert client.get(f"{API}/shipments/{trip.id}", headers=bearer(token)).status_code == 200
    with engine.begin() as connection:
        connection.execute(
            update(DriverToken).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    _assert_dead(client, trip, bearer(token))


def test_another_exporter_can_neither_issue_nor_revoke_the_shipments_token(
    client: TestClient, trip: Trip
) -> None:
    stranger = make_exporter(client, trip.admin)
    path = f"{API}/shipments/{trip.id}/driver-token"
    assert_problem(client.post(path, headers=stranger.headers), 404)
    assert_problem(client.delete(path, headers=stranger.headers), 404)
    assert client.get(f"{API}/shipments/{trip.id}", headers=trip.driver).status_code == 200


@pytest.mark.parametrize("role", ["admin", "advocate"])
def test_only_an_exporter_issues_driver_tokens(client: TestClient, trip: Trip, role: str) -> None:
    who = trip.admin if role == "admin" else make_user(client, trip.admin, "advocate")
    response = client.post(f"{API}/shipments/{trip.id}/driver-token", headers=who.headers)
    assert_problem(response, 403)


def test_no_driver_token_for_a_cancelled_shipment(client: TestClient, trip: Trip) -> None:
    cancel = client.post(f"{API}/shipments/{trip.id}/cancel", headers=trip.exporter.headers)
    assert cancel.status_code == 200, cancel.text
    response = client.post(f"{API}/shipments/{trip.id}/driver-token", headers=trip.exporter.headers)
    assert "cancelled" in assert_problem(response, 409)["detail"]
