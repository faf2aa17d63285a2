"""Who may do what with evidence, route by route: the shipment's exporter, admins and the
shipment's driver link may upload, list and fetch; only admins withdraw. Anyone else who
may not see the shipment gets a 404 that tells nothing (another organisation's exporter,
another shipment's driver link), advocates a 403 (they never see an attachment), and a
revoked driver link or no credential a 401."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.evidence.helpers import Evidence, image_bytes, make_evidence, upload
from tests.factories import API, make_exporter, make_shipment, make_user
from tests.tracking.helpers import bearer, issue_driver_token

CALLERS = ("anon", "revoked_driver", "advocate", "b", "driver2", "driver", "a", "a_key", "admin")


@dataclass
class World:
    evidence: Evidence
    headers: dict[str, dict[str, str]]
    attachment: dict[str, Any]


@pytest.fixture
def world(client: TestClient) -> World:
    evidence = make_evidence(client)
    trip = evidence.trip
    # The driver link the trip started with is replaced: the old one is revoked.
    revoked = trip.driver
    trip.driver = bearer(issue_driver_token(client, trip.exporter, trip.shipment)["token"])
    other_shipment = make_shipment(client, trip.exporter)
    key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=trip.exporter.headers)
    assert key.status_code == 201, key.text
    first = upload(client, evidence.url(), image_bytes("JPEG"), "image/jpeg", trip.driver)
    assert first.status_code == 201, first.text
    return World(
        evidence,
        {
            "anon": {},
            "revoked_driver": revoked,
            "advocate": make_user(client, trip.admin, "advocate").headers,
            "b": make_exporter(client, trip.admin).headers,
            "driver2": bearer(issue_driver_token(client, trip.exporter, other_shipment)["token"]),
            "driver": trip.driver,
            "a": trip.exporter.headers,
            "a_key": bearer(key.json()["key"]),
            "admin": trip.admin.headers,
        },
        first.json(),
    )


def call(
    client: TestClient, world: World, operation: str, headers: dict[str, str]
) -> httpx.Response:
    attachment = world.attachment["id"]
    if operation == "upload":
        return upload(client, world.evidence.url(), image_bytes("PNG"), "image/png", headers)
    if operation == "list":
        return client.get(world.evidence.url(), headers=headers)
    if operation == "download":
        return client.get(f"{API}/attachments/{attachment}", headers=headers)
    assert operation == "withdraw"
    return client.post(
        f"{API}/attachments/{attachment}/withdraw", json={"reason": "blurred"}, headers=headers
    )


OUTSIDE = {"anon": 401, "revoked_driver": 401, "advocate": 403, "b": 404, "driver2": 404}
# fmt: off
MATRIX = {
    "upload": {**OUTSIDE, "driver": 201, "a": 201, "a_key": 201, "admin": 201},
    "list": {**OUTSIDE, "driver": 200, "a": 200, "a_key": 200, "admin": 200},
    "download": {**OUTSIDE, "driver": 200, "a": 200, "a_key": 200, "admin": 200},
    "withdraw": {"anon": 401, "revoked_driver": 401, "advocate": 403, "b": 403, "driver2": 403,
                 "driver": 403, "a": 403, "a_key": 403, "admin": 200},
}
# fmt: on


@pytest.mark.parametrize("operation", list(MATRIX))
def test_who_may_do_what_with_an_attachment(
    client: TestClient, world: World, operation: str
) -> None:
    expected = MATRIX[operation]
    assert set(expected) == set(CALLERS)
    for caller in CALLERS:  # the admin last: its withdrawal comes after every other try
        response = call(client, world, operation, world.headers[caller])
        cell = f"{caller}: {operation}"
        assert response.status_code == expected[caller], f"{cell} -> {response.text}"
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", cell
            # A refusal says nothing of the attachment or of the shipment (`instance` is the
            # path the caller sent: it teaches them nothing).
            problem = response.json()
            problem.pop("instance")
            for secret in (world.attachment["sha256"], world.evidence.shipment_id):
                assert secret not in str(problem), cell


def test_a_driver_link_of_another_shipment_cannot_reach_the_attachment_through_its_own_shipment(
    client: TestClient, world: World
) -> None:
    # driver2's own shipment in the path, this trip's event: the event is not on it.
    events_of_this_trip = f"{API}/shipments/{world.evidence.shipment_id}/events"
    assert client.get(events_of_this_trip, headers=world.headers["driver2"]).status_code == 404
    other = make_evidence(client)
    url = other.url(world.evidence.fee_event)
    response = upload(client, url, image_bytes("PNG"), "image/png", other.trip.driver)
    assert response.status_code == 404


def test_an_exporter_of_another_organisation_gets_404_for_every_route(
    client: TestClient, world: World
) -> None:
    stranger = make_evidence(client).trip.exporter.headers
    for operation in ("upload", "list", "download"):
        assert call(client, world, operation, stranger).status_code == 404, operation
