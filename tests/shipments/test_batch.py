"""POST /shipments/batch: a JSON list, all or nothing, every error located by its index."""

import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.factories import (
    API,
    Actor,
    assert_problem,
    make_checkpoint,
    make_shipment,
    make_user,
    shipment_payload,
)


def post_batch(client: TestClient, by: Actor, items: Any) -> httpx.Response:
    return client.post(f"{API}/shipments/batch", json=items, headers=by.headers)


def stored(client: TestClient, by: Actor) -> list[dict[str, Any]]:
    response = client.get(f"{API}/shipments", headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def rows(n: int) -> list[dict[str, Any]]:
    return [shipment_payload(reference=f"B-{i}") for i in range(n)]


def test_batch_creates_every_item_in_order(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    checkpoint = make_checkpoint(client, boss)
    items = rows(3)
    items[1]["route"] = [checkpoint["id"]]
    response = post_batch(client, exporter, items)
    assert response.status_code == 201, response.text
    created = response.json()["items"]
    assert [s["reference"] for s in created] == ["B-0", "B-1", "B-2"]
    assert created[1]["route"] == [checkpoint["id"]]
    assert len({s["tracking_code"] for s in created}) == 3
    assert {s["status"] for s in created} == {"planned"}
    assert len(stored(client, exporter)) == 3


def test_one_schema_error_stores_nothing(client: TestClient, exporter: Actor) -> None:
    items = rows(5)
    items[2]["origin_province"] = "atlantis"
    problem = assert_problem(post_batch(client, exporter, items), 422)
    assert [e["loc"][:3] for e in problem["errors"]] == [["body", 2, "origin_province"]]
    assert stored(client, exporter) == []


def test_one_unknown_route_checkpoint_stores_nothing(client: TestClient, exporter: Actor) -> None:
    items = rows(5)
    items[4]["route"] = [str(uuid.uuid4())]
    problem = assert_problem(post_batch(client, exporter, items), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", 4, "route", 0]]
    assert stored(client, exporter) == []


def test_every_failing_row_is_located_by_its_index(client: TestClient, exporter: Actor) -> None:
    items = rows(5)
    items[2]["origin_province"] = "atlantis"
    items[4]["route"] = [str(uuid.uuid4())]
    problem = assert_problem(post_batch(client, exporter, items), 422)
    assert sorted({e["loc"][1] for e in problem["errors"]}) == [2, 4]
    assert stored(client, exporter) == []


def test_duplicate_references_in_the_batch_name_both_rows(
    client: TestClient, exporter: Actor
) -> None:
    items = rows(4)
    items[3]["reference"] = "B-1"
    problem = assert_problem(post_batch(client, exporter, items), 422)
    [error] = problem["errors"]
    assert error["loc"] == ["body", 3, "reference"]
    assert "row 1" in error["msg"]
    assert stored(client, exporter) == []


def test_reference_already_stored_is_located_in_the_batch(
    client: TestClient, exporter: Actor
) -> None:
    make_shipment(client, exporter, reference="B-1")
    problem = assert_problem(post_batch(client, exporter, rows(3)), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", 1, "reference"]]
    assert len(stored(client, exporter)) == 1


def test_empty_batch_is_422(client: TestClient, exporter: Actor) -> None:
    assert_problem(post_batch(client, exporter, []), 422)


def test_more_than_500_items_is_422(client: TestClient, exporter: Actor) -> None:
    items = [shipment_payload() for _ in range(501)]
    assert_problem(post_batch(client, exporter, items), 422)
    assert stored(client, exporter) == []


def test_batch_body_that_is_not_a_list_is_422(client: TestClient, exporter: Actor) -> None:
    assert_problem(post_batch(client, exporter, shipment_payload()), 422)


def test_only_exporters_create_batches(client: TestClient, boss: Actor) -> None:
    advocate = make_user(client, boss, "advocate")
    assert_problem(post_batch(client, advocate, rows(1)), 403)
    assert_problem(post_batch(client, boss, rows(1)), 403)
