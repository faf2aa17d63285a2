"""Who may manage a shipment's device key: its exporter (a person or the organisation's API
key). Another organisation's exporter gets a 404 that tells nothing; advocates, admins and
driver links (this shipment's or another's) a 403 (the operation is not theirs, as for
driver links); a revoked driver link or no credential a 401. The OsmAnd endpoint knows only
device keys: a revoked one is a 401."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import API, assert_problem, make_exporter, make_shipment, make_user
from tests.positions.helpers import KIRKUK, Route, device_key, make_route, osmand
from tests.tracking.helpers import bearer, issue_driver_token

CALLERS = ("anon", "revoked_driver", "advocate", "admin", "b", "driver2", "driver", "a_key", "a")
OUTSIDE = {"anon": 401, "revoked_driver": 401, "advocate": 403, "admin": 403, "b": 404}
DRIVERS = {"driver2": 403, "driver": 403}
MATRIX = {
    "issue": {**OUTSIDE, **DRIVERS, "a_key": 201, "a": 201},
    "revoke": {**OUTSIDE, **DRIVERS, "a_key": 204, "a": 204},
}


@pytest.fixture
def world(client: TestClient) -> tuple[Route, dict[str, dict[str, str]]]:
    route = make_route(client)
    revoked = route.driver
    route.driver = bearer(issue_driver_token(client, route.exporter, route.shipment)["token"])
    other = make_shipment(client, route.exporter)
    key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=route.exporter.headers)
    headers = {
        "anon": {},
        "revoked_driver": revoked,
        "advocate": make_user(client, route.admin, "advocate").headers,
        "admin": route.admin.headers,
        "b": make_exporter(client, route.admin).headers,
        "driver2": bearer(issue_driver_token(client, route.exporter, other)["token"]),
        "driver": route.driver,
        "a_key": bearer(key.json()["key"]),
        "a": route.exporter.headers,
    }
    return route, headers


@pytest.mark.parametrize("operation", list(MATRIX))
def test_device_key_routes_by_caller(
    client: TestClient, world: tuple[Route, dict[str, dict[str, str]]], operation: str
) -> None:
    route, headers = world
    url = f"{API}/shipments/{route.id}/device-key"
    for caller in CALLERS:
        method = "POST" if operation == "issue" else "DELETE"
        response = client.request(method, url, headers=headers[caller])
        expected = MATRIX[operation][caller]
        if expected >= 400:
            problem: dict[str, Any] = assert_problem(response, expected)
            assert route.id not in str({k: v for k, v in problem.items() if k != "instance"})
        else:
            assert response.status_code == expected, f"{caller}: {response.text}"


def test_a_key_posts_only_to_its_own_shipment(
    client: TestClient, world: tuple[Route, dict[str, dict[str, str]]]
) -> None:
    route, _ = world
    other = make_route(client)
    key = device_key(client, route)
    device_key(client, other)
    from datetime import UTC, datetime, timedelta

    at = datetime.now(UTC) - timedelta(hours=1)
    assert osmand(client, key, KIRKUK, at).status_code == 200
    # The fix is the key's shipment's, whatever else the request names.
    assert (
        osmand(client, key, KIRKUK, at + timedelta(seconds=5), shipment_id=other.id).status_code
        == 200
    )
    client.delete(f"{API}/shipments/{route.id}/device-key", headers=route.exporter.headers)
    assert_problem(osmand(client, key, KIRKUK, at + timedelta(seconds=10)), 401)
