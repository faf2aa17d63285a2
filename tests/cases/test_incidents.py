"""Exporters (and driver links) file incidents on their own stops; advocates read them
without anyone's identity and link them to cases; a case says how many incidents and
exporters back it; an exporter sees the status of the cases its incidents back, nothing
more of them."""

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_shipment,
    make_user,
)
from tests.tracking.helpers import driver_headers, post_event

ARRIVED = datetime(2026, 11, 20, 21, 40, tzinfo=UTC)  # 00:40 the next day in Baghdad


@dataclass
class Road:
    client: TestClient
    admin: Actor
    advocate: Actor
    a: Actor
    b: Actor
    checkpoint: dict[str, Any]
    sa: dict[str, Any]
    sb: dict[str, Any]
    stop_a: str
    stop_b: str
    driver_a: dict[str, str]
    driver_b: dict[str, str]
    event_a: str


def _arrive(client: TestClient, shipment: dict[str, Any], checkpoint: str, who: Actor) -> str:
    event_id = str(uuid.uuid4())
    for body in (
        {"type": "departed", "occurred_at": (ARRIVED - timedelta(hours=1)).isoformat()},
        {"type": "arrived", "checkpoint_id": checkpoint, "occurred_at": ARRIVED.isoformat()},
    ):
        body["event_id"] = event_id if body["type"] == "arrived" else str(uuid.uuid4())
        response = post_event(client, shipment["id"], body, who.headers)
        assert response.status_code == 201, response.text
    stops = client.get(f"{API}/shipments/{shipment['id']}/stops", headers=who.headers)
    return str(stops.json()["items"][0]["id"]), event_id  # type: ignore[return-value]


@pytest.fixture
def road(client: TestClient) -> Road:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss, code="KRK-S")
    a, b = make_exporter(client, boss), make_exporter(client, boss)
    sa = make_shipment(client, a, route=[checkpoint["id"]], reference="A-SECRET-REF")
    sb = make_shipment(client, b, route=[checkpoint["id"]])
    stop_a, event_a = _arrive(client, sa, checkpoint["id"], a)
    stop_b, _ = _arrive(client, sb, checkpoint["id"], b)
    return Road(
        client,
        boss,
        make_user(client, boss, "advocate"),
        a,
        b,
        checkpoint,
        sa,
        sb,
        stop_a,
        stop_b,
        driver_headers(client, a, sa),
        driver_headers(client, b, sb),
        event_a,
    )


def file(road: Road, headers: dict[str, str], **body: Any) -> Any:
    body = {"category": "unreceipted_fee", "text": "25,000 IQD, no receipt", **body}
    return road.client.post(f"{API}/incidents", json=body, headers=headers)


def incidents(road: Road, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = road.client.get(f"{API}/incidents", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_an_exporter_files_an_incident_on_its_stop(road: Road) -> None:
    response = file(road, road.a.headers, stop_id=road.stop_a)
    assert response.status_code == 201, response.text
    incident = response.json()
    assert incident["stop_id"] == road.stop_a
    assert incident["shipment_id"] == road.sa["id"]
    assert incident["checkpoint_id"] == road.checkpoint["id"]
    assert incident["day"] == "2026-11-20"  # the stop's UTC day
    assert incident["cases"] == []
    assert incidents(road, road.a.headers) == [incident]
    assert incidents(road, road.b.headers) == []


def test_a_driver_link_files_for_its_shipment_only(road: Road) -> None:
    assert file(road, road.driver_a, stop_id=road.stop_a).status_code == 201
    assert_problem(file(road, road.driver_a, stop_id=road.stop_b), 404)
    assert [i["stop_id"] for i in incidents(road, road.driver_a)] == [road.stop_a]
    assert incidents(road, road.driver_b) == []


@pytest.mark.parametrize("who", ["b", "driver_b"])
def test_nobody_files_on_another_exporters_stop(road: Road, who: str) -> None:
    headers = road.b.headers if who == "b" else road.driver_b
    response = file(road, headers, stop_id=road.stop_a)
    problem = assert_problem(response, 404)
    assert road.sa["id"] not in str(problem)
    assert incidents(road, road.a.headers) == []


def test_advocates_and_admins_do_not_file(road: Road) -> None:
    assert_problem(file(road, road.advocate.headers, stop_id=road.stop_a), 403)
    assert_problem(file(road, road.admin.headers, stop_id=road.stop_a), 403)


def test_advocates_see_no_identity(road: Road) -> None:
    file(road, road.a.headers, stop_id=road.stop_a, text="the officer kept the papers")
    (seen,) = incidents(road, road.advocate.headers)
    assert set(seen) == {
        "id",
        "checkpoint_id",
        "checkpoint_code",
        "day",
        "category",
        "text",
        "case_ids",
    }
    assert seen["checkpoint_code"] == "KRK-S"
    assert seen["day"] == "2026-11-20"
    shown = str(seen)
    for secret in (
        road.sa["id"],
        road.sa["tracking_code"],
        road.sa["driver_name"],
        road.sa["truck_plate"],
        "A-SECRET-REF",
        road.stop_a,
        str(road.a.organization["id"] if road.a.organization else ""),
        road.a.organization["name"] if road.a.organization else "",
    ):
        assert secret not in shown, secret


def test_incidents_back_cases_and_exporters_see_their_cases_status(road: Road) -> None:
    mine = file(road, road.a.headers, stop_id=road.stop_a).json()
    again = file(road, road.driver_a, stop_id=road.stop_a, category="other").json()
    theirs = file(road, road.b.headers, stop_id=road.stop_b).json()
    case = road.client.post(
        f"{API}/cases",
        json={"title": "Fees at KRK-S", "category": "unreceipted_fee"},
        headers=road.advocate.headers,
    ).json()
    for incident in (mine, again, theirs):
        response = road.client.post(
            f"{API}/cases/{case['id']}/incidents",
            json={"incident_id": incident["id"]},
            headers=road.advocate.headers,
        )
        assert response.status_code == 201, response.text
    relinked = road.client.post(
        f"{API}/cases/{case['id']}/incidents",
        json={"incident_id": mine["id"]},
        headers=road.advocate.headers,
    )
    assert relinked.status_code == 200
    backed = relinked.json()
    assert (backed["incident_count"], backed["exporter_count"]) == (3, 2)
    road.client.post(
        f"{API}/cases/{case['id']}/transitions",
        json={"to": "submitted"},
        headers=road.advocate.headers,
    )
    (seen,) = [i for i in incidents(road, road.a.headers) if i["id"] == mine["id"]]
    assert seen["cases"] == [{"reference": case["reference"], "status": "submitted"}]
    advocates = {i["id"]: i for i in incidents(road, road.advocate.headers)}
    assert advocates[theirs["id"]]["case_ids"] == [case["id"]]
    # An exporter never reads a case itself.
    assert_problem(road.client.get(f"{API}/cases/{case['id']}", headers=road.a.headers), 403)


def test_an_attachment_must_be_the_shipments_own(road: Road) -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, "JPEG")
    photo = road.client.post(
        f"{API}/shipments/{road.sa['id']}/events/{road.event_a}/attachments",
        params={"kind": "receipt"},
        content=out.getvalue(),
        headers={**road.a.headers, "Content-Type": "image/jpeg"},
    )
    assert photo.status_code == 201, photo.text
    attached = file(road, road.a.headers, stop_id=road.stop_a, attachment_id=photo.json()["id"])
    assert attached.status_code == 201, attached.text
    assert attached.json()["attachment_id"] == photo.json()["id"]
    # B cannot point its incident at A's photo.
    assert_problem(
        file(road, road.b.headers, stop_id=road.stop_b, attachment_id=photo.json()["id"]), 422
    )


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 10_001},
        {"category": "bribe"},
        {"stop_id": "not-a-uuid"},
        {"attachment_id": "00000000-0000-4000-8000-000000000000"},
        {"surprise": True},
    ],
)
def test_bad_incidents_are_422_and_store_nothing(road: Road, body: dict[str, Any]) -> None:
    response = file(road, road.a.headers, **{"stop_id": road.stop_a, **body})
    assert_problem(response, 422)
    assert incidents(road, road.a.headers) == []


def test_linking_needs_a_real_case_and_incident(road: Road) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    incident = file(road, road.a.headers, stop_id=road.stop_a).json()
    assert_problem(
        road.client.post(
            f"{API}/cases/{missing}/incidents",
            json={"incident_id": incident["id"]},
            headers=road.advocate.headers,
        ),
        404,
    )
    case = road.client.post(
        f"{API}/cases", json={"title": "t", "category": "other"}, headers=road.advocate.headers
    ).json()
    assert_problem(
        road.client.post(
            f"{API}/cases/{case['id']}/incidents",
            json={"incident_id": missing},
            headers=road.advocate.headers,
        ),
        422,
    )
