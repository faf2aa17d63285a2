"""GET /shipments and GET /shipments/{id}: who sees what, filters, and cursor pagination."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    API,
    Actor,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_shipment,
    make_user,
    shipment_payload,
)


def ids(client: TestClient, by: Actor, **params: Any) -> list[str]:
    response = client.get(f"{API}/shipments", params=params, headers=by.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_exporter_sees_only_its_own_organisations_shipments(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    colleague = make_exporter(client, boss, organization=exporter.organization)
    mine = make_shipment(client, exporter)
    ours = make_shipment(client, colleague)
    make_shipment(client, make_exporter(client, boss))
    assert sorted(ids(client, exporter)) == sorted([mine["id"], ours["id"]])


def test_another_organisations_shipment_is_404_not_403(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    theirs = make_shipment(client, make_exporter(client, boss))
    response = client.get(f"{API}/shipments/{theirs['id']}", headers=exporter.headers)
    assert_problem(response, 404)


def test_unknown_shipment_is_404(client: TestClient, exporter: Actor) -> None:
    response = client.get(f"{API}/shipments/{uuid.uuid4()}", headers=exporter.headers)
    assert_problem(response, 404)


def test_get_returns_the_shipment_with_stops_and_timeline(
    client: TestClient, exporter: Actor
) -> None:
    created = make_shipment(client, exporter, reference="PO-7")
    response = client.get(f"{API}/shipments/{created['id']}", headers=exporter.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tracking_code"] == created["tracking_code"]
    assert body["reference"] == "PO-7"
    assert body["stops"] == []
    assert body["timeline"] == []


def test_admin_sees_every_organisations_shipments(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    first = make_shipment(client, exporter)
    second = make_shipment(client, make_exporter(client, boss))
    assert sorted(ids(client, boss)) == sorted([first["id"], second["id"]])
    response = client.get(f"{API}/shipments/{second['id']}", headers=boss.headers)
    assert response.status_code == 200


def test_advocate_cannot_list_or_read_shipments(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    advocate = make_user(client, boss, "advocate")
    shipment = make_shipment(client, exporter)
    assert_problem(client.get(f"{API}/shipments", headers=advocate.headers), 403)
    response = client.get(f"{API}/shipments/{shipment['id']}", headers=advocate.headers)
    assert_problem(response, 403)


def test_filter_by_status(client: TestClient, exporter: Actor) -> None:
    planned = make_shipment(client, exporter)
    cancelled = make_shipment(client, exporter)
    client.post(f"{API}/shipments/{cancelled['id']}/cancel", headers=exporter.headers)
    assert ids(client, exporter, status="planned") == [planned["id"]]
    assert ids(client, exporter, status="cancelled") == [cancelled["id"]]


def test_filter_by_origin_and_destination_province(client: TestClient, exporter: Actor) -> None:
    to_baghdad = make_shipment(client, exporter)
    to_basra = make_shipment(
        client, exporter, origin_province="erbil", destination_province="basra"
    )
    assert ids(client, exporter, origin_province="erbil") == [to_basra["id"]]
    assert ids(client, exporter, destination_province="baghdad") == [to_baghdad["id"]]
    assert ids(client, exporter, origin_province="erbil", destination_province="baghdad") == []


def test_filter_by_checkpoint_on_the_route(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    first, second = make_checkpoint(client, boss), make_checkpoint(client, boss)
    via_both = make_shipment(client, exporter, route=[first["id"], second["id"]])
    via_second = make_shipment(client, exporter, route=[second["id"]])
    make_shipment(client, exporter)
    assert ids(client, exporter, checkpoint_id=first["id"]) == [via_both["id"]]
    assert sorted(ids(client, exporter, checkpoint_id=second["id"])) == sorted(
        [via_both["id"], via_second["id"]]
    )


def test_filter_by_reference_and_tracking_code(client: TestClient, exporter: Actor) -> None:
    wanted = make_shipment(client, exporter, reference="PO-42")
    make_shipment(client, exporter, reference="PO-43")
    assert ids(client, exporter, reference="PO-42") == [wanted["id"]]
    assert ids(client, exporter, tracking_code=wanted["tracking_code"]) == [wanted["id"]]
    # Codes are read out over the phone: case and surrounding spaces do not matter.
    assert ids(client, exporter, tracking_code=f" {wanted['tracking_code'].lower()} ") == [
        wanted["id"]
    ]


def test_filter_by_creation_time(client: TestClient, exporter: Actor) -> None:
    first, second, third = (make_shipment(client, exporter) for _ in range(3))
    start, end = second["created_at"], third["created_at"]
    assert ids(client, exporter, created_from=start) == [third["id"], second["id"]]
    assert ids(client, exporter, created_to=start) == [first["id"]]
    assert ids(client, exporter, created_from=start, created_to=end) == [second["id"]]


def test_naive_creation_time_filter_is_422(client: TestClient, exporter: Actor) -> None:
    params = {"created_from": "2026-01-01T00:00:00"}
    response = client.get(f"{API}/shipments", params=params, headers=exporter.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", "created_from"]


def test_cursor_pages_newest_first_and_each_shipment_once(
    client: TestClient, exporter: Actor
) -> None:
    created = [make_shipment(client, exporter)["id"] for _ in range(7)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        response = client.get(f"{API}/shipments", params=params, headers=exporter.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert pages == 3
    assert seen == created[::-1]


@pytest.mark.parametrize("limit", [0, 501])
def test_limit_out_of_range_is_422(client: TestClient, exporter: Actor, limit: int) -> None:
    response = client.get(f"{API}/shipments", params={"limit": limit}, headers=exporter.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "W10", "bm9wZQ"])
def test_invalid_cursor_is_422(client: TestClient, exporter: Actor, cursor: str) -> None:
    response = client.get(f"{API}/shipments", params={"cursor": cursor}, headers=exporter.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("field", ["reference", "tracking_code"])
def test_a_nul_in_a_text_filter_is_a_422_on_every_database(
    client: TestClient, exporter: Actor, field: str
) -> None:
    """PostgreSQL cannot hold a NUL in text: asked for one, the answer is a clear 422 on
    both databases (it was a 500 on PostgreSQL)."""
    response = client.get(f"{API}/shipments", params={field: "a\x00b"}, headers=exporter.headers)
    body = assert_problem(response, 422)
    assert field in str(body["errors"])


def test_a_nul_in_body_text_never_gets_a_500(client: TestClient, exporter: Actor) -> None:
    """A NUL in a shipment's text: SQLite stores it; PostgreSQL cannot, which is the
    client's input, not a fault: 422, and nothing is stored."""
    response = client.post(
        f"{API}/shipments",
        json=shipment_payload(reference="ref\x00erence"),
        headers=exporter.headers,
    )
    if response.status_code == 201:
        assert client.app.state.engine.dialect.name == "sqlite"  # type: ignore[attr-defined]
        return
    assert_problem(response, 422)
    assert ids(client, exporter) == []
