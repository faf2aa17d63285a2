"""GET /reports/checkpoints: every figure of every row against the truth, under each filter,
in each sort order, and with another service standard."""

from datetime import timedelta
from typing import Any

import pytest

from tests.reports.builders import (
    STANDARD_MINUTES,
    Params,
    World,
    assert_rows,
    checkpoint_key,
    expected_checkpoints,
    report,
    resolve,
    stops_matching,
)
from tests.reports.conftest import client_on

FILTERS: dict[str, Params] = {
    "none": {},
    "from-and-to": {"from": "2026-10-19T00:00:00+03:00", "to": "2026-11-02T00:00:00Z"},
    "from": {"from": "2026-11-09T00:00:00+00:00"},
    # The stop that arrived Monday 12 October 01:30 in Baghdad is 22:30 UTC on the 11th:
    # `from` includes that instant, `to` excludes it.
    "from-the-instant": {"from": "2026-10-11T22:30:00Z", "to": "2026-10-12T06:00:00+03:00"},
    "to-the-instant": {"to": "2026-10-12T01:30:00+03:00"},
    "province-kirkuk": {"province": "kirkuk"},
    "province-baghdad": {"province": "baghdad"},
    "checkpoint": {"checkpoint_id": "@KRK-01"},
    "chapter-72": {"hs_chapter": "72"},
    "chapter-04": {"hs_chapter": "04"},
    "destination-kirkuk": {"destination_province": "kirkuk"},
    "all-at-once": {
        "province": "baghdad",
        "hs_chapter": "25",
        "destination_province": "baghdad",
        "from": "2026-10-12T00:00:00+03:00",
        "to": "2026-11-16T00:00:00+03:00",
    },
    "nothing-matches": {"destination_province": "najaf"},
}


def test_every_row_and_figure_matches_the_truth(world: World) -> None:
    body = report(world.client, "checkpoints", world.admin.headers)

    assert body["report"] == "checkpoints"
    assert body["filters"] == {}
    assert body["service_standard_minutes"] == STANDARD_MINUTES
    assert body["min_exporters"] is None  # admins see every group
    assert_rows(body["items"], expected_checkpoints(world, world.stops), checkpoint_key)
    assert len(body["items"]) == len(world.checkpoints)


@pytest.mark.parametrize("name", FILTERS)
def test_filters_select_stops_by_arrival_place_goods_and_destination(
    world: World, name: str
) -> None:
    params = resolve(world, FILTERS[name])

    body = report(world.client, "checkpoints", world.admin.headers, **params)

    expected = expected_checkpoints(world, stops_matching(world, params))
    assert_rows(body["items"], expected, checkpoint_key)
    assert set(body["filters"]) == set(params)


def test_the_edge_filters_select_what_they_should(world: World) -> None:
    """The boundary cases above are not vacuous: each selects something, and not everything."""
    everything = len(world.stops)
    for name in ("from-the-instant", "to-the-instant", "chapter-04", "all-at-once"):
        selected = len(stops_matching(world, resolve(world, FILTERS[name])))
        assert 0 < selected < everything, name


def _sorted_by(items: list[dict[str, Any]], field: str, descending: bool) -> None:
    values = [item[field] for item in items]
    present = [v for v in values if v is not None]
    assert values[: len(present)] == present, "rows without the figure go last"
    assert present == sorted(present, reverse=descending)


@pytest.mark.parametrize(
    ("sort", "field", "descending"),
    [
        (None, "total_delay_hours", True),  # the default: worst first
        ("-total_delay_hours", "total_delay_hours", True),
        ("p50_dwell_minutes", "p50_dwell_minutes", False),
        ("-p90_dwell_minutes", "p90_dwell_minutes", True),
        ("-hold_rate", "hold_rate", True),
        ("tail_mean_dwell_minutes", "tail_mean_dwell_minutes", False),
        ("checkpoint_code", "checkpoint_code", False),
    ],
)
def test_sort(world: World, sort: str | None, field: str, descending: bool) -> None:
    params = {} if sort is None else {"sort": sort}

    items = report(world.client, "checkpoints", world.admin.headers, **params)["items"]

    _sorted_by(items, field, descending)
    assert_rows(items, expected_checkpoints(world, world.stops), checkpoint_key)


def test_the_worst_checkpoint_comes_first(world: World) -> None:
    expected = expected_checkpoints(world, world.stops)
    worst = max(expected.values(), key=lambda row: row["total_delay_hours"])

    items = report(world.client, "checkpoints", world.admin.headers)["items"]

    assert items[0]["checkpoint_code"] == worst["checkpoint_code"]


def test_advocates_get_suppressed_rows_last_whatever_the_sort(world: World) -> None:
    for sort in ("-total_delay_hours", "p50_dwell_minutes", "checkpoint_code", "-checkpoint_code"):
        items = report(world.client, "checkpoints", world.advocate.headers, sort=sort)["items"]
        flags = [item["suppressed"] for item in items]
        assert flags == sorted(flags), sort
        assert True in flags, "KRK-03 is seen by two exporters only"


@pytest.mark.parametrize(("dwell", "within"), [(59, 1.0), (60, 1.0), (61, 0.0)])
def test_a_stop_of_exactly_the_standard_is_within_it(
    world: World, dwell: int, within: float
) -> None:
    stop = next(
        s for s in world.stops if s.dwell_minutes == dwell and s.checkpoint in ("ERB-01", "KRK-01")
    )
    window = {
        "checkpoint_id": world.checkpoint_id(stop.checkpoint),
        "from": stop.arrived_at.isoformat(),
        "to": (stop.arrived_at + timedelta(seconds=1)).isoformat(),
    }

    (row,) = report(world.client, "checkpoints", world.admin.headers, **window)["items"]

    assert (row["stops"], row["p50_dwell_minutes"]) == (1, dwell)
    assert row["within_standard_share"] == within


def test_another_service_standard(world: World, world_url: str) -> None:
    with client_on(world_url, service_standard_minutes=45) as client:
        body = report(client, "checkpoints", world.admin.headers)

    assert body["service_standard_minutes"] == 45
    expected = expected_checkpoints(world, world.stops, standard=45)
    assert_rows(body["items"], expected, checkpoint_key)
    default = expected_checkpoints(world, world.stops)
    assert any(
        expected[c]["within_standard_share"] != default[c]["within_standard_share"]
        for c in expected
    )
