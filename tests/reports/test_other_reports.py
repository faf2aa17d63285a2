"""The other reports against the truth: corridors, agencies, commodities, procedures, trends."""

from datetime import date

import pytest
from fastapi.testclient import TestClient

from tests.reports.builders import (
    Params,
    World,
    assert_rows,
    expected_report,
    report,
    resolve,
    stops_matching,
    trips_matching,
)
from tests.tracking.helpers import event, make_trip, sync

CASES: list[tuple[str, Params]] = [
    ("corridors", {}),
    ("corridors", {"from": "2026-10-19T00:00:00+03:00", "to": "2026-11-09T00:00:00+03:00"}),
    ("corridors", {"destination_province": "baghdad"}),
    ("corridors", {"hs_chapter": "72"}),
    ("corridors", {"checkpoint_id": "@KRK-03"}),
    ("corridors", {"province": "erbil"}),
    ("agencies", {}),
    ("agencies", {"province": "kirkuk"}),
    ("agencies", {"hs_chapter": "25", "to": "2026-11-01T00:00:00Z"}),
    ("commodities", {}),
    ("commodities", {"hs_chapter": "04"}),
    ("commodities", {"checkpoint_id": "@BGD-02", "from": "2026-10-26T00:00:00Z"}),
    ("procedures", {}),
    ("procedures", {"by": "checkpoint"}),
    ("procedures", {"checkpoint_id": "@BGD-02"}),
    ("procedures", {"by": "checkpoint", "hs_chapter": "04", "province": "baghdad"}),
    ("trends", {}),
    ("trends", {"interval": "week"}),
    ("trends", {"interval": "month"}),
    ("trends", {"interval": "week", "by": "checkpoint"}),
    ("trends", {"interval": "month", "by": "checkpoint", "hs_chapter": "72"}),
    ("trends", {"interval": "month", "hs_chapter": "72"}),  # the network's cargo months
    ("trends", {"destination_province": "kirkuk", "from": "2026-10-12T00:00:00Z"}),
]


@pytest.mark.parametrize(
    ("name", "params"), CASES, ids=[f"{n}-{'-'.join(p) or 'all'}" for n, p in CASES]
)
def test_report_matches_the_truth(world: World, name: str, params: Params) -> None:
    params = resolve(world, params)

    body = report(world.client, name, world.admin.headers, **params)

    expected, key = expected_report(world, name, params)
    assert_rows(body["items"], expected, key)
    assert body["min_exporters"] is None


# --- corridors ---------------------------------------------------------------------------


def test_corridors_count_started_trips_only(world: World) -> None:
    items = report(world.client, "corridors", world.admin.headers)["items"]

    assert sum(item["trips"] for item in items) == len(world.trips)  # not planned, not cancelled
    assert ("sulaymaniyah", "basra") in {
        (i["origin_province"], i["destination_province"]) for i in items
    }


def test_a_corridor_filtered_by_checkpoint_counts_all_stops_of_the_trips_through_it(
    world: World,
) -> None:
    """`checkpoint_id` selects the trips that stopped there; their other stops count too."""
    params = resolve(world, {"checkpoint_id": "@KRK-03"})
    trips = trips_matching(world, params)

    (row,) = report(world.client, "corridors", world.admin.headers, **params)["items"]

    assert row["trips"] == len(trips) > 0
    assert row["stops_per_trip"] == pytest.approx(sum(len(t.stops) for t in trips) / len(trips))
    assert row["stops_per_trip"] > 1


def test_corridor_per_100km_uses_given_and_estimated_distances(world: World) -> None:
    estimated = [t for t in world.trips if t.shipment["distance_estimated"]]
    given = [t for t in world.trips if not t.shipment["distance_estimated"]]
    assert estimated
    assert given

    items = report(world.client, "corridors", world.admin.headers)["items"]

    for item in items:
        assert item["trips_with_distance"] == item["trips"]  # every trip has a length
        assert item["stops_per_100km"] is not None


# --- agencies and commodities ---------------------------------------------------------------


def test_agencies_group_checkpoints_by_authority_and_jurisdiction(world: World) -> None:
    items = report(world.client, "agencies", world.admin.headers)["items"]

    by_agency = {(i["authority"], i["jurisdiction"]): i for i in items}
    assert by_agency[("army", "federal")]["checkpoints"] == 2  # KRK-01 and BGD-01
    assert by_agency[("security", "krg")]["checkpoints"] == 1
    assert sum(i["stops"] for i in items) == len(world.stops)


def test_a_stop_counts_for_every_chapter_its_shipment_carries(world: World) -> None:
    items = report(world.client, "commodities", world.admin.headers)["items"]

    mixed = sum(len(set(s.trip.chapters)) for s in world.stops)
    assert sum(i["stops"] for i in items) == mixed > len(world.stops)
    names = {i["hs_chapter"]: i["chapter_name"] for i in items}
    assert names["04"].startswith("Dairy")
    assert names["25"].startswith("Salt, stone, cement")
    assert names["72"] == "Iron and steel"


def test_filtering_by_a_chapter_keeps_the_other_chapters_of_the_same_shipments(
    world: World,
) -> None:
    items = report(world.client, "commodities", world.admin.headers, hs_chapter="04")["items"]

    assert {i["hs_chapter"] for i in items} == {"04", "25"}  # D ships milk with cement
    row = next(i for i in items if i["hs_chapter"] == "04")
    assert row["stops"] == len(stops_matching(world, {"hs_chapter": "04"}))


# --- procedures -----------------------------------------------------------------------------


def test_procedure_shares_are_of_the_stops_and_stop_time_in_scope(world: World) -> None:
    overall = report(world.client, "procedures", world.admin.headers)["items"]
    per_checkpoint = report(world.client, "procedures", world.admin.headers, by="checkpoint")[
        "items"
    ]

    assert all(i["checkpoint_id"] is None for i in overall)
    assert all(i["checkpoint_id"] is not None for i in per_checkpoint)
    for name in {i["procedure"] for i in overall}:
        (total,) = [i for i in overall if i["procedure"] == name]
        parts = [i for i in per_checkpoint if i["procedure"] == name]
        assert sum(p["stops_requiring"] for p in parts) == total["stops_requiring"]
        assert sum(p["total_hours"] for p in parts) == pytest.approx(total["total_hours"])
    assert sum(i["share_of_stop_time"] for i in overall) < 1  # the rest is waiting


# --- trends ---------------------------------------------------------------------------------


def test_weeks_start_on_monday_utc_and_months_on_the_first(world: World) -> None:
    weeks = report(world.client, "trends", world.admin.headers, interval="week")["items"]
    months = report(world.client, "trends", world.admin.headers, interval="month")["items"]

    starts = [date.fromisoformat(i["period_start"]) for i in weeks]
    assert all(d.weekday() == 0 for d in starts)
    assert starts == sorted(starts)
    assert {i["period_start"] for i in months} >= {"2026-09-01", "2026-10-01", "2026-11-01"}
    assert sum(i["stops"] for i in weeks) == sum(i["stops"] for i in months) == len(world.stops)


@pytest.mark.parametrize(
    ("interval", "window", "period"),
    [
        # Monday 12 October 01:30 in Baghdad is Sunday 22:30 UTC: the week of 5 October.
        ("week", ("2026-10-12T01:30:00+03:00", "2026-10-12T01:31:00+03:00"), "2026-10-05"),
        # 1 November 02:00 in Baghdad is 31 October 23:00 UTC: October.
        ("month", ("2026-11-01T02:00:00+03:00", "2026-11-01T02:01:00+03:00"), "2026-10-01"),
    ],
)
def test_periods_are_utc(world: World, interval: str, window: tuple[str, str], period: str) -> None:
    params = {"interval": interval, "from": window[0], "to": window[1]}

    (row,) = report(world.client, "trends", world.admin.headers, **params)["items"]

    assert (row["period_start"], row["stops"]) == (period, 1)


def test_trends_report_the_change_against_the_previous_period(world: World) -> None:
    items = report(world.client, "trends", world.admin.headers, interval="week")["items"]
    by_start = {i["period_start"]: i for i in items}

    first, second = by_start["2026-09-28"], by_start["2026-10-05"]
    assert first["change_stops"] is None  # nothing before it
    assert second["change_stops"] == second["stops"] - first["stops"]
    assert second["change_p50_dwell_minutes"] == pytest.approx(
        second["p50_dwell_minutes"] - first["p50_dwell_minutes"], rel=1e-9
    )


def test_a_procedure_never_takes_more_than_all_of_the_stop_time(client: TestClient) -> None:
    """A stop never released has no known time; its procedure minutes are not a share of the
    time of the other stops (that gave shares above 1)."""
    trip = make_trip(client)
    events = [
        event("departed", 0),
        event("arrived", 10, checkpoint_id=trip.a),  # never released
        event("procedure_started", 15, procedure="document_check"),
        event("procedure_completed", 135, procedure="document_check"),
        event("arrived", 200, checkpoint_id=trip.b),
        event("procedure_started", 205, procedure="document_check"),
        event("procedure_completed", 215, procedure="document_check"),
        event("released", 230),
        event("delivered", 300),
    ]
    assert sync(client, events, trip.driver).status_code == 200

    (row,) = report(client, "procedures", trip.admin.headers)["items"]

    assert (row["stops_requiring"], row["total_hours"]) == (2, 130 / 60)
    assert (row["p50_minutes"], row["p90_minutes"]) == (65.0, 109.0)
    assert row["share_of_stop_time"] == pytest.approx(10 / 30, rel=1e-9)
