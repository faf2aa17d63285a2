"""Stops and fees carry their trip's corridor (origin and destination province) and whether
its distance is known, written with the stop, so the corridor report groups them without a
join; a trip's status still decides whether they count."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.tracking.models import Stop, StopFee
from tests.factories import API, assert_problem
from tests.reports.builders import report
from tests.tracking.helpers import event, make_trip, sync


def _stored(client: TestClient, model: type[Stop] | type[StopFee], shipment_id: str) -> set[tuple]:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        return set(
            session.execute(
                select(
                    model.origin_province, model.destination_province, model.trip_has_distance
                ).where(model.shipment_id == uuid.UUID(shipment_id))
            )
        )


def _through_a(trip: object, *, delivered: bool = True) -> list[dict[str, object]]:
    events = [
        event("departed", 0),
        event("arrived", 10, checkpoint_id=trip.a),  # type: ignore[attr-defined]
        event("fee_paid", 20, fee={"amount": "5000", "currency": "IQD", "receipt": False}),
        event("released", 40),
    ]
    return events + [event("delivered", 90)] if delivered else events


def _corridors(client: TestClient, headers: dict[str, str]) -> dict[tuple[str, str], dict]:
    items = report(client, "corridors", headers)["items"]
    return {(i["origin_province"], i["destination_province"]): i for i in items}


def test_stops_and_fees_carry_their_trips_corridor(client: TestClient) -> None:
    trip = make_trip(client)
    assert sync(client, _through_a(trip), trip.driver).status_code == 200
    shipment = trip.shipment
    expected = {(shipment["origin_province"], shipment["destination_province"], True)}

    assert _stored(client, Stop, trip.id) == expected
    assert _stored(client, StopFee, trip.id) == expected
    (row,) = _corridors(client, trip.admin.headers).values()
    assert (row["trips"], row["stops_per_trip"], row["delay_hours_per_trip"]) == (1, 1, 0.5)
    assert [(f["currency"], f["per_trip"], f["unreceipted_per_trip"]) for f in row["fees"]] == [
        ("IQD", 5000.0, 5000.0)
    ]


def test_a_corridor_edit_before_departure_is_what_the_stops_carry(client: TestClient) -> None:
    trip = make_trip(client)
    edited = client.patch(
        f"{API}/shipments/{trip.id}",
        json={"origin_province": "duhok", "destination_province": "basra"},
        headers=trip.exporter.headers,
    )
    assert edited.status_code == 200, edited.text
    assert sync(client, _through_a(trip), trip.driver).status_code == 200

    for model in (Stop, StopFee):
        assert _stored(client, model, trip.id) == {("duhok", "basra", True)}
    assert list(_corridors(client, trip.admin.headers)) == [("duhok", "basra")]


def test_the_corridor_cannot_change_once_a_trip_has_stops(client: TestClient) -> None:
    """So the corridor a stop or fee carries never goes stale."""
    trip = make_trip(client)
    assert sync(client, _through_a(trip, delivered=False), trip.driver).status_code == 200
    before = _stored(client, Stop, trip.id)

    response = client.patch(
        f"{API}/shipments/{trip.id}",
        json={"origin_province": "duhok", "destination_province": "basra"},
        headers=trip.exporter.headers,
    )

    assert_problem(response, 409)
    assert _stored(client, Stop, trip.id) == _stored(client, StopFee, trip.id) == before
    assert ("duhok", "basra") not in _corridors(client, trip.admin.headers)


def test_a_trip_cancelled_after_its_stops_leaves_the_corridors(client: TestClient) -> None:
    """A trip's status can change after it has stops: its stops and fees leave the report."""
    trip = make_trip(client)
    assert sync(client, _through_a(trip, delivered=False), trip.driver).status_code == 200
    assert _corridors(client, trip.admin.headers)

    cancelled = client.post(
        f"{API}/shipments/{trip.id}/cancel", json={}, headers=trip.exporter.headers
    )
    assert cancelled.status_code == 200, cancelled.text

    assert _corridors(client, trip.admin.headers) == {}
