"""GET /checkpoints/status: trucks there now, held now, the median dwell of the last six hours
and how fresh it is — against the trucks still on the road in the world. Admins get a sliding
six hours, exactly; everyone else the last six completed clock hours, from protected cells
(checkpoint × clock hour of closing)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.factories import API, admin, make_checkpoint
from tests.reports.builders import (
    MIN_EXPORTERS,
    MIN_STOPS,
    Thresholds,
    World,
    floor_hour,
    live_medians,
    live_truth,
)
from tests.reports.conftest import client_on
from tests.tracking.helpers import driver_headers, event, from_now, make_trip, sync


def status(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get(f"{API}/checkpoints/status", headers=headers)
    assert response.status_code == 200, response.text
    return {item["checkpoint_code"]: item for item in response.json()["items"]}


def test_admin_sees_every_live_figure(world: World) -> None:
    rows = status(world.client, world.admin.headers)

    truth = live_truth(world)
    assert set(rows) == set(truth)
    for code, expected in truth.items():
        row = rows[code]
        assert (row["trucks_now"], row["held_now"]) == (
            expected["trucks_now"],
            expected["held_now"],
        ), code
        assert row["closed_stops_6h"] == len(expected["closed_6h"]), code
        median = np.median(expected["closed_6h"]) if expected["closed_6h"] else None
        assert row["median_dwell_minutes_6h"] == median, code
        assert row["median_suppressed"] is False
        assert datetime.fromisoformat(row["last_event_at"]) == expected["last"], code


def test_the_trucks_on_the_road_now(world: World) -> None:
    """The live trips: A at BGD-01, B held there, D at KRK-01; A's, B's and C's stops at KRK-01
    closed in one clock hour 3–5 hours ago (60, 80 and 45 minutes), C's at BGD-01 in the last
    hour or two (50 minutes); A's stop at BGD-02 closed 7 hours ago."""
    rows = status(world.client, world.admin.headers)

    assert (rows["BGD-01"]["trucks_now"], rows["BGD-01"]["held_now"]) == (2, 1)
    assert (rows["KRK-01"]["trucks_now"], rows["KRK-01"]["held_now"]) == (1, 0)
    assert rows["KRK-01"]["median_dwell_minutes_6h"] == 60.0
    assert rows["BGD-01"]["median_dwell_minutes_6h"] == 50.0
    assert rows["BGD-02"]["closed_stops_6h"] == 0
    assert rows["BGD-02"]["median_dwell_minutes_6h"] is None
    assert sum(r["trucks_now"] for r in rows.values()) == 3  # finished trips are nowhere


@pytest.mark.parametrize(
    ("min_exporters", "min_stops"), [(MIN_EXPORTERS, MIN_STOPS), (MIN_EXPORTERS, 3)]
)
@pytest.mark.parametrize("who", ["advocate", "exporter", "driver"])
def test_a_median_over_too_few_exporters_is_hidden_from_all_but_admins(
    world: World, world_url: str, who: str, min_exporters: int, min_stops: int
) -> None:
    """Everyone but admins: the last six completed clock hours, in which a clock hour's stops
    at a checkpoint count only if they are enough stops from enough exporters."""
    if who == "driver":
        on_the_road = next(t for t in reversed(world.trips) if t.org == "D")
        headers = driver_headers(world.client, world.exporters["D"], on_the_road.shipment)
    elif who == "exporter":
        headers = world.exporters["C"].headers  # even C, whose truck it was
    else:
        headers = world.advocate.headers
    settings = {"report_min_exporters": min_exporters, "report_min_stops": min_stops}

    with client_on(world_url, **settings) as client:
        asked = datetime.now(UTC)
        response = client.get(f"{API}/checkpoints/status", headers=headers)
        answered = datetime.now(UTC)

    assert response.status_code == 200, response.text
    body = response.json()
    rows = {item["checkpoint_code"]: item for item in body["items"]}
    start, end = (datetime.fromisoformat(body[k]) for k in ("window_start", "window_end"))
    assert floor_hour(asked) <= end <= floor_hour(answered)  # whole clock hours, completed
    assert end - start == timedelta(hours=6)
    assert asked - timedelta(seconds=5) <= datetime.fromisoformat(body["as_of"]) <= answered
    expected, excluded = live_medians(world, start, end, Thresholds(min_exporters, min_stops))
    trucks = live_truth(world)
    for code, want in expected.items():
        row = rows[code]
        assert row["trucks_now"] == trucks[code]["trucks_now"], code
        assert row["closed_stops_6h"] == len(want["shown"]), code
        median = float(np.median(want["shown"])) if want["shown"] else None
        assert row["median_dwell_minutes_6h"] == median, code
        assert row["median_suppressed"] is (want["closed"] > 0 and not want["shown"]), code
    assert body["excluded_stops"] == excluded
    # What the world's live trips make sure of, whatever the minute (see builders.py):
    assert rows["BGD-01"]["median_suppressed"] is True  # C's truck alone
    krk = rows["KRK-01"]
    if min_stops <= 3:  # A, B and C within one clock hour
        assert (krk["closed_stops_6h"], krk["median_dwell_minutes_6h"]) == (3, 60.0)
    else:
        assert (krk["median_suppressed"], krk["median_dwell_minutes_6h"]) == (True, None)


def test_no_trucks_no_figures(client: TestClient) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)

    (row,) = status(client, boss.headers).values()

    assert row["checkpoint_id"] == checkpoint["id"]
    assert row["name_ar"] == checkpoint["name_ar"]
    assert (row["trucks_now"], row["held_now"], row["closed_stops_6h"]) == (0, 0, 0)
    assert row["median_dwell_minutes_6h"] is None
    assert row["median_suppressed"] is False
    assert row["last_event_at"] is None


def test_a_cancelled_shipment_is_no_truck_at_the_checkpoint(client: TestClient) -> None:
    trip = make_trip(client)
    events = [
        {**event("departed", 0), "occurred_at": from_now(-30)},
        {**event("arrived", 0, checkpoint_id=trip.a), "occurred_at": from_now(-10)},
    ]
    assert sync(client, events, trip.driver).status_code == 200

    def trucks_at_a() -> int:
        rows = status(client, trip.admin.headers).values()
        return next(r["trucks_now"] for r in rows if r["checkpoint_id"] == trip.a)

    assert trucks_at_a() == 1
    cancelled = client.post(
        f"{API}/shipments/{trip.id}/cancel", json={}, headers=trip.exporter.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert trucks_at_a() == 0
