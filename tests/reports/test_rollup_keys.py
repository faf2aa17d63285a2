"""The group keys the reports roll up from (app/reports/figures.py): each stop's arrival day
and its shipment's HS chapters, written with the stop; procedure runs numbered per stop; and
agencies taken from the checkpoints as they are now."""

import uuid
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.reports.service import period_start
from app.tracking.materialize import arrival_day
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from tests.factories import API, assert_problem
from tests.reports.builders import report
from tests.tracking.helpers import event, make_trip, sync


def _line(hs_code: str) -> dict[str, object]:
    return {
        "hs_code": hs_code,
        "description": "Goods",
        "quantity": 1,
        "unit": "t",
        "weight_kg": 1000,
        "value_usd": 900,
    }


def _stored(client: TestClient, model: type, shipment_id: str) -> list[tuple[object, ...]]:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        return list(
            session.execute(
                select(model.arrival_day, model.hs_chapters).where(  # type: ignore[attr-defined]
                    model.shipment_id == uuid.UUID(shipment_id)  # type: ignore[attr-defined]
                )
            )
        )


def _trip_through_a(trip: object, arrive_minute: float = 10) -> list[dict[str, object]]:
    return [
        event("departed", 0),
        event("arrived", arrive_minute, checkpoint_id=trip.a),  # type: ignore[attr-defined]
        event("held", arrive_minute + 5, hold_reason="security"),
        event(
            "fee_paid",
            arrive_minute + 30,
            fee={"amount": "5000", "currency": "IQD", "receipt": True},
        ),
        event("released", arrive_minute + 40),
    ]


def test_a_cargo_edit_before_departure_is_what_the_stops_carry(client: TestClient) -> None:
    trip = make_trip(client)
    cargo = [_line("720851"), _line("040120"), _line("721049")]
    edited = client.patch(
        f"{API}/shipments/{trip.id}", json={"cargo": cargo}, headers=trip.exporter.headers
    )
    assert edited.status_code == 200, edited.text
    assert sync(client, _trip_through_a(trip), trip.driver).status_code == 200

    for model in (Stop, StopHold, StopFee):
        assert {row[1] for row in _stored(client, model, trip.id)} == {"04,72"}
    items = report(client, "commodities", trip.admin.headers)["items"]
    assert {i["hs_chapter"]: i["stops"] for i in items} == {"04": 1, "72": 1}
    assert all(i["top_hold_reasons"] == [{"reason": "security", "count": 1}] for i in items)


def test_cargo_cannot_change_once_a_trip_has_stops(client: TestClient) -> None:
    """So the chapters a stop carries never go stale."""
    trip = make_trip(client)
    assert sync(client, _trip_through_a(trip), trip.driver).status_code == 200
    cargo = [_line("720851")]

    response = client.patch(
        f"{API}/shipments/{trip.id}", json={"cargo": cargo}, headers=trip.exporter.headers
    )

    assert_problem(response, 409)
    assert {row[1] for row in _stored(client, Stop, trip.id)} == {"25"}


def test_a_checkpoint_handed_to_another_agency_counts_for_the_new_one(
    client: TestClient,
) -> None:
    trip = make_trip(client)  # both checkpoints: army, federal
    assert sync(client, _trip_through_a(trip), trip.driver).status_code == 200
    before = report(client, "agencies", trip.admin.headers)["items"]
    assert [(i["authority"], i["jurisdiction"], i["stops"]) for i in before] == [
        ("army", "federal", 1)
    ]

    changed = client.patch(
        f"{API}/checkpoints/{trip.a}",
        json={"authority": "customs", "jurisdiction": "krg"},
        headers=trip.admin.headers,
    )
    assert changed.status_code == 200, changed.text

    after = report(client, "agencies", trip.admin.headers)["items"]
    assert [(i["authority"], i["jurisdiction"], i["stops"], i["checkpoints"]) for i in after] == [
        ("customs", "krg", 1, 1)
    ]
    assert after[0]["p50_dwell_minutes"] == before[0]["p50_dwell_minutes"] == 40.0


def test_a_procedure_run_twice_at_a_stop_counts_the_stop_once(client: TestClient) -> None:
    trip = make_trip(client)
    events = [
        event("departed", 0),
        event("arrived", 10, checkpoint_id=trip.a),
        event("procedure_started", 15, procedure="document_check"),
        event("procedure_completed", 25, procedure="document_check"),
        event("procedure_started", 30, procedure="document_check"),  # again
        event("procedure_completed", 60, procedure="document_check"),
        event("released", 70),
    ]
    assert sync(client, events, trip.driver).status_code == 200
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        runs = session.scalars(
            select(StopProcedure.run_number).order_by(StopProcedure.started_at)
        ).all()
    assert runs == [1, 2]

    (row,) = report(client, "procedures", trip.admin.headers)["items"]

    assert (row["stops_requiring"], row["total_hours"]) == (1, 40 / 60)
    assert (row["p50_minutes"], row["share_of_stop_time"]) == (20.0, pytest.approx(40 / 60))


def test_the_arrival_day_is_the_utc_day(client: TestClient) -> None:
    # BASE_TIME is 20 November 2026, 06:00 in Baghdad: -5 h is 01:00 there, 22:00 UTC the 19th.
    trip = make_trip(client)
    assert sync(client, _trip_through_a(trip, arrive_minute=-300), trip.driver).status_code == 200

    days = {
        row[0] for model in (Stop, StopHold, StopFee) for row in _stored(client, model, trip.id)
    }

    assert days == {(date(2026, 11, 19) - date(1970, 1, 1)).days}


@pytest.mark.parametrize(
    ("arrived", "week", "month"),
    [
        (datetime(2026, 11, 1, 23, 59, tzinfo=UTC), date(2026, 10, 26), date(2026, 11, 1)),
        (datetime(2026, 11, 2, 0, 0, tzinfo=UTC), date(2026, 11, 2), date(2026, 11, 1)),
        (datetime(1970, 1, 1, tzinfo=UTC), date(1969, 12, 29), date(1970, 1, 1)),
        (datetime(2026, 2, 28, 23, 0, tzinfo=UTC), date(2026, 2, 23), date(2026, 2, 1)),
    ],
)
def test_periods_from_arrival_days(arrived: datetime, week: date, month: date) -> None:
    day = arrival_day(arrived)
    assert day is not None

    assert (period_start("week", day), period_start("month", day)) == (week, month)
