"""The differencing attacks, played as an advocate against data built through the API.

k-anonymity on each answer does not stop an advocate from subtracting two answers: two
windows a few hours apart, or a filtered answer from the same answer without the filter,
once differed by exactly one truck's stop. Advocates' answers are now sums of protected cells
(app/privacy.py); these tests try the attacks and check that no pair of answers an
advocate can get isolates fewer than REPORT_MIN_STOPS completed stops:

(a) windows that differ by a little (bisecting `to`, day by day: hours are refused);
(b) a filtered answer against the same answer without the filter (chapter, destination);
(c) overlapping windows chained over time: every nested pair of every window and filter.

The world: two checkpoints (P in Kirkuk, Q in Baghdad), five exporters, three busy days of
twenty trips (P then Q, same UTC day) and a thin fourth day of two trips. Day 1 has one
trip of chapter 68 and one bound for Basra among the cement to Baghdad; day 2 is half steel
(72), half cement (25), so those filtered cells and their complements both pass.
"""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import combinations
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import DatabaseUnderTest, module_database
from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_org,
    make_shipment,
    make_user,
)
from tests.reports.conftest import client_on

MIN_STOPS = 10  # REPORT_MIN_STOPS' default
DAY0 = date(2026, 11, 2)
DAYS = 4  # 0, 1, 2 busy; 3 thin
CARGO = {"25": "252329", "68": "680291", "72": "721420"}
COUNTED = {  # the counts each report row gives, for the differencing checks
    "checkpoints": ("completed_stops",),
    "agencies": ("completed_stops",),
    "commodities": ("completed_stops",),
    "trends": ("completed_stops",),
    "procedures": ("stops_requiring",),
    # the CAREC figures rest on the delivered trips of known distance: a count of their own
    "corridors": ("trips", "delivered_trips_with_distance"),
}
LABELS = {
    "checkpoints": ("checkpoint_code",),
    "agencies": ("authority", "jurisdiction"),
    "commodities": ("hs_chapter",),
    "trends": ("period_start", "checkpoint_code"),
    "procedures": ("procedure", "checkpoint_code"),
    "corridors": ("origin_province", "destination_province"),
}
FILTERS: list[dict[str, str]] = [
    {},
    {"hs_chapter": "25"},
    {"hs_chapter": "72"},
    {"hs_chapter": "68"},
    {"destination_province": "baghdad"},
    {"destination_province": "basra"},
]


@dataclass
class Stop:
    checkpoint: str
    day: int
    org: int
    chapter: str
    destination: str
    dwell: float


@dataclass
class Town:
    client: TestClient
    admin: Actor
    advocate: Actor
    exporters: list[Actor]
    checkpoints: dict[str, str]  # code -> id
    stops: list[Stop]


def _trip_plan(day: int) -> list[tuple[int, str, str]]:
    """(exporter, chapter, destination) of each trip of the day."""
    if day == 3:
        return [(0, "25", "baghdad"), (1, "25", "baghdad")]
    plan = []
    for org in range(5):
        for n in range(4):
            chapter = "72" if day == 2 and n < 2 else "25"
            if day == 1 and (org, n) == (0, 0):
                chapter = "68"
            destination = "basra" if day == 1 and (org, n) == (1, 0) else "baghdad"
            plan.append((org, chapter, destination))
    return plan


def _at(day: int, minutes: float) -> str:
    moment = datetime(DAY0.year, DAY0.month, DAY0.day, 4, tzinfo=UTC) + timedelta(
        days=day, minutes=minutes
    )
    return moment.isoformat()


def _send_trip(
    town: Town, rng: random.Random, day: int, index: int, plan: tuple[int, str, str]
) -> None:
    org, chapter, destination = plan
    exporter = town.exporters[org]
    shipment = make_shipment(
        town.client,
        exporter,
        destination_province=destination,
        destination_city=destination.title(),
        planned_departure=_at(day, index * 10),
        route=[town.checkpoints["P"], town.checkpoints["Q"]],
        cargo=[
            {
                "hs_code": CARGO[chapter],
                "description": f"chapter {chapter}",
                "quantity": 10,
                "unit": "t",
                "weight_kg": 20000,
                "value_usd": 9000,
            }
        ],
    )
    t = index * 10.0
    events: list[dict[str, Any]] = []

    def emit(type_: str, minute: float, **fields: Any) -> None:
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        events.append(
            {"event_id": str(event_id), "type": type_, "occurred_at": _at(day, minute), **fields}
        )

    emit("departed", t)
    for code in ("P", "Q"):
        t += 60
        arrived = t
        emit("arrived", t, checkpoint_id=town.checkpoints[code])
        if code == "P":
            emit("procedure_started", t + 1, procedure="document_check")
            emit("procedure_completed", t + 11, procedure="document_check")
        elif index % 2 == 0:
            emit("procedure_started", t + 1, procedure="xray_scan")
            emit("procedure_completed", t + 21, procedure="xray_scan")
        if (day, index, code) == (0, 0, "Q"):
            emit("procedure_started", t + 22, procedure="physical_inspection")
            emit("procedure_completed", t + 30, procedure="physical_inspection")
        t += rng.randint(35, 200) + rng.randint(0, 59) / 60  # whole seconds
        emit("released", t)
        town.stops.append(Stop(code, day, org, chapter, destination, t - arrived))
    emit("delivered", t + 30)
    response = town.client.post(
        f"{API}/sync",
        json={"shipment_id": shipment["id"], "events": events},
        headers=exporter.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(events), response.text


def build_town(client: TestClient) -> Town:
    boss = admin(client)
    checkpoints = {
        "P": make_checkpoint(client, boss, code="KRK-P", province="kirkuk", authority="army")["id"],
        "Q": make_checkpoint(
            client, boss, code="BGD-Q", province="baghdad", authority="customs", kind="customs"
        )["id"],
    }
    exporters = [make_exporter(client, boss, make_org(client, boss, f"E{n}")) for n in range(5)]
    town = Town(client, boss, make_user(client, boss, "advocate"), exporters, checkpoints, [])
    rng = random.Random(20261102)
    for day in range(DAYS):
        for index, plan in enumerate(_trip_plan(day)):
            _send_trip(town, rng, day, index, plan)
    return town


@pytest.fixture(scope="module")
def town(database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    with module_database(database, tmp_path_factory, "town") as url, client_on(url) as client:
        yield build_town(client)


# --- asking ---------------------------------------------------------------------------------


def day(n: int) -> str:
    return f"{(DAY0 + timedelta(days=n)).isoformat()}T00:00:00Z"


def ask(town: Town, name: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = town.client.get(f"{API}/reports/{name}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def counts(name: str, body: dict[str, Any]) -> dict[tuple[Any, ...], int]:
    """Each row's counts, keyed by the row and the count's name (a suppressed row counts
    nothing)."""
    return {
        (*(item.get(label) for label in LABELS[name]), field): item.get(field) or 0
        for item in body["items"]
        for field in COUNTED[name]
    }


def isolated(bigger: dict[tuple[Any, ...], int], smaller: dict[tuple[Any, ...], int]) -> list:
    """Rows whose difference would single out between 1 and MIN_STOPS - 1 stops (or trips)."""
    return [
        (row, bigger.get(row, 0), smaller.get(row, 0))
        for row in set(bigger) | set(smaller)
        if 0 < abs(bigger.get(row, 0) - smaller.get(row, 0)) < MIN_STOPS
    ]


# --- (a) windows that differ by a little ---------------------------------------------------


def test_bisecting_the_window_finds_no_single_stop(town: Town) -> None:
    """The attack of the issue: the same checkpoint, `to` moved on day by day."""
    p = town.checkpoints["P"]
    answers = [
        ask(
            town,
            "checkpoints",
            town.advocate.headers,
            checkpoint_id=p,
            **{"from": day(0)},
            to=day(n),
        )
        for n in range(1, DAYS + 2)
    ]
    for earlier, later in zip(answers, answers[1:], strict=False):
        assert not isolated(counts("checkpoints", later), counts("checkpoints", earlier))
    # The thin day (two trucks) is in neither answer: they are the same figures …
    (before,), (after,) = answers[2]["items"], answers[3]["items"]
    assert before["completed_stops"] == 60
    # (floats to the last bits: PostgreSQL may add a cell's dwell times in another order)
    for name, value in before.items():
        if isinstance(value, float):
            assert after[name] == pytest.approx(value, rel=1e-12), name
        else:
            assert after[name] == value, name
    # … where an admin sees the two trucks (the attack that worked before).
    exact = [
        ask(town, "checkpoints", town.admin.headers, checkpoint_id=p, **{"from": day(0)}, to=day(n))
        for n in (3, 4)
    ]
    assert [a["items"][0]["completed_stops"] for a in exact] == [60, 62]
    assert answers[3]["excluded_stops"] == 2
    assert exact[1]["excluded_stops"] == 0


def test_an_advocates_window_is_whole_utc_days(town: Town) -> None:
    """Hours would let two windows differ by part of a day: refused, with what to send."""
    half_day = f"{DAY0.isoformat()}T12:00:00Z"
    local_midnight = f"{DAY0.isoformat()}T00:00:00+03:00"
    for value in (half_day, local_midnight):
        response = town.client.get(
            f"{API}/reports/checkpoints", params={"to": value}, headers=town.advocate.headers
        )
        problem = assert_problem(response, 422)
        assert "whole UTC day" in problem["detail"]
    exact = town.client.get(
        f"{API}/reports/checkpoints", params={"to": half_day}, headers=town.admin.headers
    )
    assert exact.status_code == 200, exact.text


# --- (b) a filtered answer against the same answer without the filter ----------------------


@pytest.mark.parametrize("filters", FILTERS[1:], ids=lambda f: "-".join(f.values()))
def test_a_filter_never_leaves_a_few_stops_behind(town: Town, filters: dict[str, str]) -> None:
    for n in range(DAYS):
        window = {"from": day(n), "to": day(n + 1)}
        whole = ask(town, "checkpoints", town.advocate.headers, **window)
        part = ask(town, "checkpoints", town.advocate.headers, **window, **filters)
        assert not isolated(counts("checkpoints", whole), counts("checkpoints", part)), n


def test_complementary_suppression_on_the_days_it_matters(town: Town) -> None:
    def completed(n: int, **filters: str) -> list[int | None]:
        body = ask(
            town, "checkpoints", town.advocate.headers, **{"from": day(n)}, to=day(n + 1), **filters
        )
        return [item["completed_stops"] for item in body["items"]]

    # Day 0 is all cement to Baghdad: the filter takes the whole cell, nothing is left over.
    assert completed(0, hs_chapter="25") == completed(0) == [20, 20]
    # Day 1: one truck of marble, one bound for Basra. Cement alone (19) would leave the
    # marble truck as the difference: withheld, like the marble truck itself.
    assert completed(1) == [20, 20]
    assert completed(1, hs_chapter="25") == [None, None]
    assert completed(1, hs_chapter="68") == [None, None]
    assert completed(1, destination_province="baghdad") == [None, None]
    # Day 2: ten steel and ten cement trucks from five exporters: both halves pass.
    assert completed(2, hs_chapter="25") == completed(2, hs_chapter="72") == [10, 10]


def test_withheld_cells_are_counted_in_excluded_stops(town: Town) -> None:
    body = ask(town, "checkpoints", town.advocate.headers, hs_chapter="25")
    # Cement stops: day 0 (40) and day 2 (20) shown; day 1 (38) withheld as the marble
    # truck's complement; the thin day 3 (4) withheld.
    assert [item["completed_stops"] for item in body["items"]] == [30, 30]
    assert body["excluded_stops"] == 38 + 4
    assert body["min_stops"] == MIN_STOPS


# --- (c) overlapping windows chained over time, for every report ----------------------------


def _windows() -> list[tuple[int, int]]:
    return [(a, b) for a in range(DAYS + 1) for b in range(a + 1, DAYS + 2)]


@pytest.mark.parametrize("name", list(COUNTED))
def test_no_two_nested_answers_isolate_a_few_stops(town: Town, name: str) -> None:
    """Every whole-day window with every filter; every pair of answers where one's stops
    contain the other's (a wider window, or the same window without the filter)."""
    extra = {"interval": "week", "by": "checkpoint"} if name == "trends" else {}
    if name == "procedures":
        extra = {"by": "checkpoint"}
    answers: dict[tuple[tuple[int, int], int], dict[tuple[Any, ...], int]] = {}
    for window in _windows():
        for f, filters in enumerate(FILTERS):
            params = {"from": day(window[0]), "to": day(window[1]), **filters, **extra}
            answers[(window, f)] = counts(name, ask(town, name, town.advocate.headers, **params))
    found = []
    for (w1, f1), (w2, f2) in combinations(answers, 2):
        for (small_w, small_f), (big_w, big_f) in (((w1, f1), (w2, f2)), ((w2, f2), (w1, f1))):
            nested = big_w[0] <= small_w[0] and small_w[1] <= big_w[1]
            if nested and big_f in (0, small_f):
                differences = isolated(answers[(big_w, big_f)], answers[(small_w, small_f)])
                found += [(small_w, small_f, big_w, big_f, d) for d in differences]
    assert not found, found[:5]
    # The attacks had something to find: the exact answers differ by the thin day's trucks.
    assert any(counts(name, ask(town, name, town.advocate.headers, **extra)).values())


# --- what stays exact ------------------------------------------------------------------------


def test_the_figures_left_are_exact(town: Town) -> None:
    """P over days 0-2, as an advocate: every cell passes, so the figures are those of all
    sixty stops, to the last digit."""
    body = ask(
        town,
        "checkpoints",
        town.advocate.headers,
        checkpoint_id=town.checkpoints["P"],
        **{"from": day(0)},
        to=day(3),
    )
    (row,) = body["items"]
    dwell = [s.dwell for s in town.stops if s.checkpoint == "P" and s.day < 3]
    assert row["completed_stops"] == len(dwell) == 60
    assert row["p50_dwell_minutes"] == pytest.approx(float(np.percentile(dwell, 50)), rel=1e-9)
    assert row["p90_dwell_minutes"] == pytest.approx(float(np.percentile(dwell, 90)), rel=1e-9)
    assert row["total_delay_hours"] == pytest.approx(sum(dwell) / 60, rel=1e-9)
    assert body["excluded_stops"] == 0


def test_an_exporter_keeps_its_own_thin_day(town: Town) -> None:
    """E0's own report counts its lone truck of day 3, which advocates never see."""
    body = ask(town, "checkpoints", town.exporters[0].headers, **{"from": day(3)}, to=day(4))
    assert [item["completed_stops"] for item in body["items"]] == [1, 1]
    assert body["excluded_stops"] == 0
    hourly = town.client.get(
        f"{API}/reports/checkpoints",
        params={"from": f"{(DAY0 + timedelta(days=3)).isoformat()}T04:30:00Z"},
        headers=town.exporters[0].headers,
    )
    assert hourly.status_code == 200, hourly.text
