"""POST /shipments: what is stored, what is computed, and what is refused."""

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    API,
    PROBLEM_JSON,
    Actor,
    assert_problem,
    login,
    make_checkpoint,
    make_exporter,
    make_shipment,
    make_user,
    shipment_payload,
)
from tests.live_server import live_server

CODE = "[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}"
TRACKING_CODE = re.compile(rf"^KRD-{CODE}-{CODE}$")


def post(client: TestClient, by: Actor, body: Any) -> httpx.Response:
    return client.post(f"{API}/shipments", json=body, headers=by.headers)


def listed(client: TestClient, by: Actor) -> list[dict[str, Any]]:
    response = client.get(f"{API}/shipments", headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_create_returns_a_planned_shipment_of_the_exporters_org(
    client: TestClient, exporter: Actor
) -> None:
    response = post(client, exporter, shipment_payload())
    assert response.status_code == 201, response.text
    body = response.json()
    uuid.UUID(body["id"])
    assert TRACKING_CODE.match(body["tracking_code"])
    assert body["status"] == "planned"
    assert body["organization_id"] == exporter.organization_id


def test_cargo_lines_are_numbered_from_one_and_decimals_are_numbers(
    client: TestClient, exporter: Actor
) -> None:
    second = {**shipment_payload()["cargo"][0], "quantity": "12.5", "value_usd": "99.95"}
    cargo = [shipment_payload()["cargo"][0], second]
    body = make_shipment(client, exporter, cargo=cargo)
    assert [line["line_no"] for line in body["cargo"]] == [1, 2]
    assert body["cargo"][1]["quantity"] == 12.5
    assert body["cargo"][1]["value_usd"] == 99.95
    assert body["cargo"][0]["weight_kg"] == 30000


def test_planned_departure_is_returned_in_utc(client: TestClient, exporter: Actor) -> None:
    created = make_shipment(client, exporter, planned_departure="2026-11-30T05:00:00+03:00")
    assert created["planned_departure"] == "2026-11-30T02:00:00Z"
    fetched = client.get(f"{API}/shipments/{created['id']}", headers=exporter.headers).json()
    assert fetched["planned_departure"] == "2026-11-30T02:00:00Z"


def test_hs_code_separators_are_removed(client: TestClient, exporter: Actor) -> None:
    line = {**shipment_payload()["cargo"][0], "hs_code": "7214.20"}
    created = make_shipment(client, exporter, cargo=[line])
    fetched = client.get(f"{API}/shipments/{created['id']}", headers=exporter.headers).json()
    assert created["cargo"][0]["hs_code"] == fetched["cargo"][0]["hs_code"] == "721420"


def test_given_distance_is_kept_and_not_marked_estimated(
    client: TestClient, exporter: Actor
) -> None:
    body = make_shipment(client, exporter, distance_km=412.5)
    assert body["distance_km"] == 412.5
    assert body["distance_estimated"] is False


def test_missing_distance_is_estimated_and_longer_with_a_detour(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    # Sulaymaniyah → Baghdad, once straight and once by way of Mosul (a long detour).
    mosul = make_checkpoint(client, boss, province="nineveh", latitude=36.34, longitude=43.13)
    straight = make_shipment(client, exporter)
    detour = make_shipment(client, exporter, route=[mosul["id"]])
    assert straight["distance_estimated"] is True
    assert detour["distance_estimated"] is True
    assert straight["distance_km"] > 0
    assert detour["distance_km"] > straight["distance_km"]


def test_route_keeps_its_order(client: TestClient, boss: Actor, exporter: Actor) -> None:
    first, second = make_checkpoint(client, boss), make_checkpoint(client, boss)
    body = make_shipment(client, exporter, route=[second["id"], first["id"]])
    assert body["route"] == [second["id"], first["id"]]


def test_unknown_route_checkpoint_is_422_at_its_position(
    client: TestClient, exporter: Actor
) -> None:
    response = post(client, exporter, shipment_payload(route=[str(uuid.uuid4())]))
    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "route", 0]]
    assert listed(client, exporter) == []


def test_same_reference_twice_in_one_org_is_409(client: TestClient, exporter: Actor) -> None:
    make_shipment(client, exporter, reference="PO-1")
    assert_problem(post(client, exporter, shipment_payload(reference="PO-1")), 409)
    assert len(listed(client, exporter)) == 1


def test_same_reference_in_another_org_is_fine(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    other = make_exporter(client, boss)
    make_shipment(client, exporter, reference="PO-1")
    assert make_shipment(client, other, reference="PO-1")["reference"] == "PO-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organization_id", "00000000-0000-0000-0000-000000000001"),
        ("status", "delivered"),
        ("tracking_code", "KRD-AAAA-BBBB"),
        ("id", "00000000-0000-0000-0000-000000000002"),
    ],
)
def test_server_set_fields_cannot_be_sent(
    client: TestClient, exporter: Actor, field: str, value: str
) -> None:
    problem = assert_problem(post(client, exporter, shipment_payload(**{field: value})), 422)
    assert ["body", field] in [e["loc"] for e in problem["errors"]]
    assert listed(client, exporter) == []


def _cargo(**overrides: Any) -> list[dict[str, Any]]:
    return [{**shipment_payload()["cargo"][0], **overrides}]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"planned_departure": "2026-11-30T05:00:00"}, ["body", "planned_departure"]),
        ({"origin_province": "atlantis"}, ["body", "origin_province"]),
        ({"cargo": []}, ["body", "cargo"]),
        ({"cargo": _cargo(quantity=-1)}, ["body", "cargo", 0, "quantity"]),
        ({"cargo": _cargo(hs_code="ABC")}, ["body", "cargo", 0, "hs_code"]),
        ({"driver_phone": "call me maybe"}, ["body", "driver_phone"]),
    ],
    ids=["naive-departure", "province", "empty-cargo", "quantity", "hs-code", "phone"],
)
def test_invalid_fields_are_422_problems(
    client: TestClient, exporter: Actor, overrides: dict[str, Any], loc: list[Any]
) -> None:
    problem = assert_problem(post(client, exporter, shipment_payload(**overrides)), 422)
    assert loc in [e["loc"] for e in problem["errors"]]
    assert listed(client, exporter) == []


def test_body_that_is_not_json_is_422(client: TestClient, exporter: Actor) -> None:
    headers = {**exporter.headers, "Content-Type": "application/json"}
    response = client.post(f"{API}/shipments", content=b"{not json", headers=headers)
    assert_problem(response, 422)


@pytest.mark.parametrize("role", ["admin", "advocate"])
def test_only_exporters_create_shipments(client: TestClient, boss: Actor, role: str) -> None:
    actor = boss if role == "admin" else make_user(client, boss, "advocate")
    assert_problem(post(client, actor, shipment_payload()), 403)
    assert listed(client, boss) == []


def test_anonymous_create_is_401(client: TestClient) -> None:
    assert_problem(client.post(f"{API}/shipments", json=shipment_payload()), 401)


def test_same_reference_sent_at_once_is_one_201_and_the_rest_409(app: FastAPI) -> None:
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        boss = Actor(login(http, ADMIN_EMAIL, ADMIN_PASSWORD), {})  # type: ignore[arg-type]
        exporter = make_exporter(http, boss)  # type: ignore[arg-type]
        body = shipment_payload(reference="PO-RACE")

        def send(_: int) -> httpx.Response:
            return http.post(f"{API}/shipments", json=body, headers=exporter.headers)

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(send, range(8)))
        items = http.get(f"{API}/shipments", headers=exporter.headers).json()["items"]
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert all(r.headers["content-type"] == PROBLEM_JSON for r in responses if r.status_code == 409)
    assert len(items) == 1
