"""PATCH /shipments/{id} while planned, and POST /shipments/{id}/cancel."""

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    API,
    Actor,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_shipment,
    shipment_payload,
)


def patch(client: TestClient, by: Actor, shipment: dict[str, Any], body: Any) -> httpx.Response:
    return client.patch(f"{API}/shipments/{shipment['id']}", json=body, headers=by.headers)


def cancel(
    client: TestClient, by: Actor, shipment: dict[str, Any], body: Any = None
) -> httpx.Response:
    return client.post(f"{API}/shipments/{shipment['id']}/cancel", json=body, headers=by.headers)


def fetch(client: TestClient, by: Actor, shipment: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"{API}/shipments/{shipment['id']}", headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _line(description: str) -> dict[str, Any]:
    return {**shipment_payload()["cargo"][0], "description": description}


def same_record(before: dict[str, Any], after: dict[str, Any]) -> bool:
    keep = ("cargo", "route", "status", "tracking_code", "organization_id", "updated_at")
    return all(before[k] == after[k] for k in keep)


def test_patch_changes_the_given_fields_only(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    body = {"driver_name": "Sherko Omar", "planned_departure": "2026-12-01T08:30:00+03:00"}
    response = patch(client, exporter, shipment, body)
    assert response.status_code == 200, response.text
    stored = fetch(client, exporter, shipment)
    assert stored["driver_name"] == "Sherko Omar"
    assert stored["planned_departure"] == response.json()["planned_departure"]
    assert stored["planned_departure"] == "2026-12-01T05:30:00Z"
    assert stored["truck_plate"] == shipment["truck_plate"]
    assert stored["tracking_code"] == shipment["tracking_code"]


def test_patch_replaces_cargo_and_renumbers_the_lines(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter, cargo=[_line("old 1"), _line("old 2")])
    response = patch(client, exporter, shipment, {"cargo": [_line("new")]})
    assert response.status_code == 200, response.text
    cargo = fetch(client, exporter, shipment)["cargo"]
    assert [(line["line_no"], line["description"]) for line in cargo] == [(1, "new")]


def test_patch_replaces_the_route(client: TestClient, boss: Actor, exporter: Actor) -> None:
    a, b, c = (make_checkpoint(client, boss) for _ in range(3))
    shipment = make_shipment(client, exporter, route=[a["id"], b["id"]])
    response = patch(client, exporter, shipment, {"route": [c["id"], a["id"]]})
    assert response.status_code == 200, response.text
    assert fetch(client, exporter, shipment)["route"] == [c["id"], a["id"]]
    params = {"checkpoint_id": b["id"]}
    listed = client.get(f"{API}/shipments", params=params, headers=exporter.headers)
    assert listed.json()["items"] == []


def test_patch_of_the_route_recomputes_an_estimated_distance(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    mosul = make_checkpoint(client, boss, province="nineveh", latitude=36.34, longitude=43.13)
    shipment = make_shipment(client, exporter)
    updated = patch(client, exporter, shipment, {"route": [mosul["id"]]}).json()
    assert updated["distance_estimated"] is True
    assert updated["distance_km"] > shipment["distance_km"]
    assert fetch(client, exporter, shipment)["distance_km"] == updated["distance_km"]


def test_patch_of_the_route_keeps_a_given_distance(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    checkpoint = make_checkpoint(client, boss)
    shipment = make_shipment(client, exporter, distance_km=300)
    updated = patch(client, exporter, shipment, {"route": [checkpoint["id"]]}).json()
    assert (updated["distance_km"], updated["distance_estimated"]) == (300, False)


def test_patch_with_an_unknown_route_checkpoint_is_422(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    response = patch(client, exporter, shipment, {"route": [str(uuid.uuid4())]})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "route", 0]


def test_patch_of_a_cancelled_shipment_is_409(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    cancel(client, exporter, shipment)
    assert_problem(patch(client, exporter, shipment, {"driver_name": "Too late"}), 409)
    assert fetch(client, exporter, shipment)["driver_name"] == shipment["driver_name"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "delivered"},
        {"tracking_code": "KRD-AAAA-BBBB"},
        {"organization_id": "00000000-0000-0000-0000-000000000001"},
    ],
    ids=["status", "tracking_code", "organization_id"],
)
def test_patch_of_server_set_fields_is_422_and_changes_nothing(
    client: TestClient, exporter: Actor, body: dict[str, Any]
) -> None:
    shipment = make_shipment(client, exporter)
    problem = assert_problem(patch(client, exporter, shipment, {**body, "driver_name": "X"}), 422)
    assert ["body", next(iter(body))] in [e["loc"] for e in problem["errors"]]
    stored = fetch(client, exporter, shipment)
    assert stored["driver_name"] == shipment["driver_name"]
    assert same_record(shipment, stored)


@pytest.mark.parametrize("field", ["origin_city", "planned_departure", "driver_phone", "cargo"])
def test_patch_with_null_for_a_required_field_is_422(
    client: TestClient, exporter: Actor, field: str
) -> None:
    shipment = make_shipment(client, exporter)
    response = patch(client, exporter, shipment, {field: None, "driver_name": "X"})
    problem = assert_problem(response, 422)
    assert ["body", field] in [e["loc"] for e in problem["errors"]]
    stored = fetch(client, exporter, shipment)
    assert stored[field] == shipment[field]
    assert stored["driver_name"] == shipment["driver_name"]


def test_patch_of_another_organisations_shipment_is_404(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    owner = make_exporter(client, boss)
    theirs = make_shipment(client, owner)
    assert_problem(patch(client, exporter, theirs, {"driver_name": "Intruder"}), 404)
    assert fetch(client, owner, theirs)["driver_name"] == theirs["driver_name"]


def test_patch_to_a_reference_already_used_is_409(client: TestClient, exporter: Actor) -> None:
    make_shipment(client, exporter, reference="PO-1")
    shipment = make_shipment(client, exporter, reference="PO-2")
    assert_problem(patch(client, exporter, shipment, {"reference": "PO-1"}), 409)
    assert fetch(client, exporter, shipment)["reference"] == "PO-2"


def test_patch_keeping_its_own_reference_is_fine(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter, reference="PO-1")
    response = patch(client, exporter, shipment, {"reference": "PO-1", "driver_name": "Aram"})
    assert response.status_code == 200, response.text


def test_cancel_sets_status_time_and_reason(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    response = cancel(client, exporter, shipment, {"reason": "Buyer withdrew the order"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancelled_at"] is not None
    assert body["cancel_reason"] == "Buyer withdrew the order"
    assert fetch(client, exporter, shipment)["cancel_reason"] == "Buyer withdrew the order"


def test_cancel_without_a_body_works(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    response = client.post(f"{API}/shipments/{shipment['id']}/cancel", headers=exporter.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["cancel_reason"]) == ("cancelled", None)


def test_cancelling_twice_changes_nothing(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    first = cancel(client, exporter, shipment, {"reason": "first"}).json()
    again = cancel(client, exporter, shipment, {"reason": "second"})
    assert again.status_code == 200, again.text
    assert again.json()["cancelled_at"] == first["cancelled_at"]
    assert again.json()["cancel_reason"] == "first"


def test_cancel_of_another_organisations_shipment_is_404(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    owner = make_exporter(client, boss)
    theirs = make_shipment(client, owner)
    assert_problem(cancel(client, exporter, theirs), 404)
    assert fetch(client, owner, theirs)["status"] == "planned"


def test_cancelled_shipment_stays_in_the_list(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    cancel(client, exporter, shipment)
    response = client.get(
        f"{API}/shipments", params={"status": "cancelled"}, headers=exporter.headers
    )
    assert [item["id"] for item in response.json()["items"]] == [shipment["id"]]
