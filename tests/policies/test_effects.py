"""The effect of a policy change (GET /reports/effects), against data built through the API
and the truth recorded on the side, recomputed here with numpy and scipy.

The town: checkpoint K (Kirkuk south) with five exporters. Change C1 ("single inspection")
takes effect on day D = Monday 16 November 2026 at 09:00 Baghdad time (06:00 UTC). Busy days
(twelve trips each, the exporters in turn) at K: D-10, D-3, D-2, D-1, D, D+1, D+2; on day D
six trucks arrive before 06:00 UTC and six after, and every truck arriving after the change
clears faster. Thin days (two trucks of one or two exporters, a cell no advocate may use):
D-9 and D-7 at K, D+7 at K and then at N. The trucks of D+1 go on from K to L, so L has one
busy day. C2 takes effect at K a day (and four hours) after C1; C3 at N (thin only) at
midnight of D+7; C4 at M (no stops).
"""

import csv
import io
import json
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient
from scipy.stats import mannwhitneyu

from tests.conftest import DatabaseUnderTest, module_database
from tests.factories import (
    API,
    Actor,
    admin,
    make_checkpoint,
    make_exporter,
    make_org,
    make_shipment,
    make_user,
)
from tests.reports.conftest import client_on

MIN_STOPS = 10  # REPORT_MIN_STOPS' default
MIN_EXPORTERS = 3  # REPORT_MIN_EXPORTERS' default
MIN_COMPLETED = 20  # per window, for a change, an interval and a p-value
SEED = 20261201  # the bootstrap's seed, as app/policies/effects.py documents it
RESAMPLES = 10_000
CENT = Decimal("0.01")
D = date(2026, 11, 16)
EFFECTIVE = datetime(2026, 11, 16, 6, tzinfo=UTC)  # 09:00 in Baghdad
BUSY = (-10, -3, -2, -1, 0, 1, 2)
THIN = {-9: (0, 0), -7: (0, 1), 7: (2, 2)}  # day -> the exporters of its two trucks


@dataclass
class Truth:
    checkpoint: str
    arrived: datetime
    org: int
    dwell: float  # minutes
    held: bool
    fees: dict[str, Decimal] = field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.arrived.date()


@dataclass
class Town:
    client: TestClient
    admin: Actor
    advocate: Actor
    exporters: list[Actor]
    checkpoints: dict[str, str]  # K, L, M, N -> id
    changes: dict[str, str]  # C1 … C4 -> id
    stops: list[Truth]


def _send_trip(town: Town, rng: random.Random, day: int, index: int, org: int) -> None:
    """One truck: arrives at K at 05:00 UTC + 10 min × index (then L on D+1, N on D+7)."""
    exporter = town.exporters[org]
    route = ["K", "L"] if day == 1 else ["K", "N"] if day == 7 else ["K"]
    start = datetime.combine(D + timedelta(days=day), datetime.min.time(), UTC) + timedelta(
        hours=4, minutes=10 * index
    )
    shipment = make_shipment(
        town.client,
        exporter,
        planned_departure=start.isoformat(),
        route=[town.checkpoints[code] for code in route],
    )
    events: list[dict[str, Any]] = []

    def emit(type_: str, at: datetime, **fields: Any) -> None:
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        events.append(
            {"event_id": str(event_id), "type": type_, "occurred_at": at.isoformat(), **fields}
        )

    emit("departed", start)
    t = start
    for code in route:
        t += timedelta(hours=1)
        arrived = t
        emit("arrived", t, checkpoint_id=town.checkpoints[code])
        after = arrived >= EFFECTIVE and code == "K"
        seconds = rng.randint(30 * 60, 95 * 60) if after else rng.randint(60 * 60, 200 * 60)
        held = index % 4 == 0
        fees: dict[str, Decimal] = {}
        if held:
            emit("held", t + timedelta(minutes=2), hold_reason="missing_document")
        if index % 3 == 0:
            amount = Decimal(25000 + 500 * index)
            fees["IQD"] = amount
            emit(
                "fee_paid",
                t + timedelta(minutes=5),
                fee={"amount": str(amount), "currency": "IQD", "receipt": index % 2 == 0},
            )
        if index % 5 == 0:
            fees["USD"] = Decimal("12.50")
            emit(
                "fee_paid",
                t + timedelta(minutes=6),
                fee={"amount": "12.50", "currency": "USD", "receipt": False},
            )
        t += timedelta(seconds=seconds)
        emit("released", t)
        town.stops.append(Truth(code, arrived, org, seconds / 60, held, fees))
    emit("delivered", t + timedelta(minutes=30))
    response = town.client.post(
        f"{API}/sync",
        json={"shipment_id": shipment["id"], "events": events},
        headers=exporter.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(events), response.text


def _change(town: Town, title: str, effective: datetime, *codes: str) -> str:
    response = town.client.post(
        f"{API}/policy-changes",
        json={
            "title": title,
            "effective_at": effective.isoformat(),
            "checkpoint_ids": [town.checkpoints[code] for code in codes],
            "description": "Agreed with the governorate.",
            "source_url": "https://example.org/minutes",
        },
        headers=town.admin.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def build_town(client: TestClient) -> Town:
    boss = admin(client)
    checkpoints = {code: make_checkpoint(client, boss, code=f"KRK-{code}")["id"] for code in "KLMN"}
    exporters = [make_exporter(client, boss, make_org(client, boss, f"X{n}")) for n in range(5)]
    town = Town(client, boss, make_user(client, boss, "advocate"), exporters, checkpoints, {}, [])
    rng = random.Random(16)
    for day in BUSY:
        for index in range(12):
            _send_trip(town, rng, day, index, index % 5)
    for day, orgs in THIN.items():
        for index, org in enumerate(orgs):
            _send_trip(town, rng, day, index, org)
    town.changes = {
        "C1": _change(town, "Single inspection at Kirkuk south", EFFECTIVE, "K", "L"),
        "C2": _change(town, "Second lane opened", EFFECTIVE + timedelta(days=1, hours=4), "K"),
        "C3": _change(town, "Night opening", midnight(D + timedelta(days=7)), "N"),
        "C4": _change(town, "Escort dropped", EFFECTIVE, "M"),
    }
    return town


@pytest.fixture(scope="module")
def town(database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    with module_database(database, tmp_path_factory, "policy") as url, client_on(url) as client:
        yield build_town(client)


def effects(town: Town, who: Actor, change: str, weeks: int = 1) -> dict[str, Any]:
    response = town.client.get(
        f"{API}/reports/effects",
        params={"policy_change_id": town.changes[change], "weeks": weeks},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def row_of(town: Town, body: dict[str, Any], code: str) -> dict[str, Any]:
    (row,) = [r for r in body["items"] if r["checkpoint_id"] == town.checkpoints[code]]
    return row


# --- the same figures, computed here --------------------------------------------------------


def bootstrap(before: list[float], after: list[float]) -> list[float]:
    """effects.py's interval, written again from its documentation: each window's resample
    medians from the middle order statistics (Beta draws), before first, then after."""
    rng = np.random.default_rng(SEED)

    def medians(values: list[float]) -> Any:
        x = np.sort(np.asarray(values))
        n = len(x)
        m = (n + 1) // 2
        u = rng.beta(m, n - m + 1, size=RESAMPLES)
        low = x[np.minimum(np.floor(n * u), n - 1).astype(int)]
        if n % 2:
            return low
        v = u + (1 - u) * (1 - rng.random(RESAMPLES) ** (1 / (n - m)))
        return (low + x[np.minimum(np.floor(n * v), n - 1).astype(int)]) / 2

    medians_before = medians(before)  # drawn first
    differences = medians(after) - medians_before
    return [float(q) for q in np.percentile(differences, [2.5, 97.5])]


def allowed_days(town: Town, code: str) -> set[date]:
    """The advocate's rule for this checkpoint's cells: enough exporters and completed stops."""
    orgs: dict[date, set[int]] = defaultdict(set)
    count: dict[date, int] = defaultdict(int)
    for s in town.stops:
        if s.checkpoint == code:
            orgs[s.day].add(s.org)
            count[s.day] += 1
    return {d for d in orgs if len(orgs[d]) >= MIN_EXPORTERS and count[d] >= MIN_STOPS}


def window_truth(
    town: Town, code: str, start: datetime, end: datetime, days: set[date] | None
) -> list[Truth]:
    return [
        s
        for s in town.stops
        if s.checkpoint == code and start <= s.arrived < end and (days is None or s.day in days)
    ]


def figures(stops: list[Truth]) -> dict[str, Any]:
    dwell = [s.dwell for s in stops]
    fees: dict[str, Decimal] = defaultdict(Decimal)
    for s in stops:
        for currency, amount in s.fees.items():
            fees[currency] += amount
    return {
        "stops": len(stops),
        "completed_stops": len(stops),
        "p50_dwell_minutes": float(np.percentile(dwell, 50)) if dwell else None,
        "p90_dwell_minutes": float(np.percentile(dwell, 90)) if dwell else None,
        "hold_rate": sum(s.held for s in stops) / len(stops) if stops else None,
        "fees_per_stop": [
            {
                "currency": currency,
                "total": float(total),
                "per_stop": float((total / len(stops)).quantize(CENT)),
            }
            for currency, total in sorted(fees.items())
        ],
    }


def assert_close(got: Any, want: Any, where: str) -> None:
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9), where
    elif isinstance(want, dict):
        assert set(got) == set(want), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{n}]")
    else:
        assert got == want, where


def expected_row(
    town: Town, code: str, pivot: datetime, weeks: int, days: set[date] | None
) -> dict[str, Any]:
    span = timedelta(days=7 * weeks)
    before = window_truth(town, code, pivot - span, pivot, days)
    after = window_truth(town, code, pivot, pivot + span, days)
    want: dict[str, Any] = {"before": figures(before), "after": figures(after)}
    b, a = [s.dwell for s in before], [s.dwell for s in after]
    if len(b) < MIN_COMPLETED or len(a) < MIN_COMPLETED:
        want.update(
            insufficient_data=True,
            median_change_minutes=None,
            median_change_ci95=None,
            mann_whitney_p=None,
        )
    else:
        want.update(
            insufficient_data=False,
            median_change_minutes=float(np.median(a) - np.median(b)),
            median_change_ci95=bootstrap(b, a),
            mann_whitney_p=float(mannwhitneyu(a, b, alternative="two-sided").pvalue),
        )
    return want


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- the figures ------------------------------------------------------------------------------


@pytest.mark.parametrize("weeks", [1, 2])
def test_admin_effect_is_exact_and_splits_at_the_instant(town: Town, weeks: int) -> None:
    body = effects(town, town.admin, "C1", weeks)
    assert body["windows"]["before"] == {
        "from": (EFFECTIVE - timedelta(weeks=weeks)).isoformat().replace("+00:00", "Z"),
        "to": "2026-11-16T06:00:00Z",
    }
    row = row_of(town, body, "K")
    assert row["suppressed"] is False
    assert_close(
        {k: row[k] for k in expected_row(town, "K", EFFECTIVE, weeks, None)},
        expected_row(town, "K", EFFECTIVE, weeks, None),
        "K",
    )
    # Six trucks of day D came before 06:00: the admin's "before" holds them.
    # (D-7's two trucks came at 05:00 and 05:10, before the window opened at 06:00.)
    assert row["before"]["stops"] == {1: 36 + 6, 2: 12 + 2 + 2 + 36 + 6}[weeks]
    # It helped: faster after, surely.
    assert row["median_change_minutes"] < 0
    lo, hi = row["median_change_ci95"]
    assert lo <= row["median_change_minutes"] <= hi < 0
    assert row["mann_whitney_p"] < 0.001
    assert body["excluded_stops"] == 0
    assert body["min_exporters"] is None


def test_advocate_effect_uses_whole_days_and_allowed_cells_only(town: Town) -> None:
    body = effects(town, town.advocate, "C1", 1)
    assert body["windows"] == {
        "before": {"from": "2026-11-09T00:00:00Z", "to": "2026-11-16T00:00:00Z"},
        "after": {"from": "2026-11-16T00:00:00Z", "to": "2026-11-23T00:00:00Z"},
    }
    row = row_of(town, body, "K")
    want = expected_row(town, "K", midnight(D), 1, allowed_days(town, "K"))
    assert_close({k: row[k] for k in want}, want, "K")
    # Whole days: the six early trucks of day D count after; the thin day D-7 not at all.
    assert row["before"]["stops"] == 36
    assert row["after"]["stops"] == 36
    assert body["excluded_stops"] == 2
    assert (body["min_exporters"], body["min_stops"]) == (MIN_EXPORTERS, MIN_STOPS)


def test_exporter_sees_the_effect_on_its_own_stops_only(town: Town) -> None:
    exporter = town.exporters[0]
    row = row_of(town, effects(town, exporter, "C1", 1), "K")
    own = [s for s in town.stops if s.org == 0]
    span = timedelta(weeks=1)
    before = [s for s in own if s.checkpoint == "K" and EFFECTIVE - span <= s.arrived < EFFECTIVE]
    after = [s for s in own if s.checkpoint == "K" and EFFECTIVE <= s.arrived < EFFECTIVE + span]
    assert_close(row["before"], figures(before), "before")
    assert_close(row["after"], figures(after), "after")
    assert row["insufficient_data"] is True  # under 20 of its own each side
    assert row["suppressed"] is False


def test_the_interval_is_reproducible(town: Town) -> None:
    first = row_of(town, effects(town, town.admin, "C1", 2), "K")
    second = row_of(town, effects(town, town.admin, "C1", 2), "K")
    assert first["median_change_ci95"] == second["median_change_ci95"]
    assert first["mann_whitney_p"] == second["mann_whitney_p"]
    want = expected_row(town, "K", EFFECTIVE, 2, None)["median_change_ci95"]
    assert first["median_change_ci95"] == pytest.approx(want, rel=1e-9)
    # … and it is a real interval, not a point.
    assert first["median_change_ci95"][0] < first["median_change_ci95"][1]


def test_under_twenty_completed_stops_is_insufficient_data(town: Town) -> None:
    for who in (town.admin, town.advocate):
        row = row_of(town, effects(town, who, "C1", 1), "L")  # L: twelve stops, all after
        assert row["insufficient_data"] is True
        assert row["before"]["stops"] == 0
        assert row["after"]["completed_stops"] == 12
        assert row["after"]["p50_dwell_minutes"] is not None
        assert row["median_change_minutes"] is None
        assert row["median_change_ci95"] is None
        assert row["mann_whitney_p"] is None


def test_a_change_with_no_stops_answers_insufficient_data(town: Town) -> None:
    for who in (town.admin, town.advocate):
        body = effects(town, who, "C4", 8)
        (row,) = body["items"]
        assert row["checkpoint_id"] == town.checkpoints["M"]
        assert row["suppressed"] is False
        assert row["insufficient_data"] is True
        assert row["before"]["stops"] == row["after"]["stops"] == 0
        assert row["before"]["fees_per_stop"] == []


def test_advocate_sees_a_row_with_only_thin_cells_suppressed(town: Town) -> None:
    (row,) = effects(town, town.advocate, "C3", 1)["items"]
    assert row["suppressed"] is True
    assert row["before"] is None
    assert row["after"] is None
    assert row["median_change_minutes"] is None
    # The admin sees the two trucks.
    (exact,) = effects(town, town.admin, "C3", 1)["items"]
    assert exact["suppressed"] is False
    assert exact["after"]["stops"] == 2


# --- differencing -----------------------------------------------------------------------------


def _counts(town: Town, body: dict[str, Any]) -> dict[str, int]:
    row = row_of(town, body, "K")
    if row["suppressed"]:
        return {"before": 0, "after": 0}
    return {side: row[side]["completed_stops"] for side in ("before", "after")}


def test_differencing_weeks_and_adjacent_changes_isolates_no_small_group(town: Town) -> None:
    """Every pair of answers an advocate can get here (weeks 1 and 2 of C1 and of C2, which
    took effect a day later) differs, window by window, by 0 or at least MIN_STOPS stops:
    nested windows by whole allowed cells, and so do shifted ones here (no two cells hold
    the same count). The thin days' trucks are in none of them."""
    answers = [
        _counts(town, effects(town, town.advocate, change, weeks))
        for change in ("C1", "C2")
        for weeks in (1, 2, 3)
    ]
    sides = [a[side] for a in answers for side in ("before", "after")]
    for one in sides:
        for other in sides:
            assert not 0 < abs(one - other) < MIN_STOPS, (one, other, answers)
    # What an admin sees for the same questions does show the thin days: weeks 1 and 2 of
    # C1 differ by the twelve trucks of D-10 and the two of D-9 and of D-7 (whose 05:00 and
    # 05:10 arrivals an admin's window, opening at 06:00, leaves out of week 1).
    c1 = [_counts(town, effects(town, town.admin, "C1", weeks)) for weeks in (1, 2)]
    assert c1[1]["before"] - c1[0]["before"] == 16
    # The sum of all advocate answers is a sum of busy days: multiples of twelve.
    assert all(side % 12 == 0 for side in sides)


# --- files ----------------------------------------------------------------------------------


def test_csv_and_xlsx_carry_the_json_figures(town: Town) -> None:
    params = {"policy_change_id": town.changes["C1"], "weeks": 1}
    url = f"{API}/reports/effects"
    body = town.client.get(url, params=params, headers=town.advocate.headers).json()
    response = town.client.get(
        url, params={**params, "format": "csv"}, headers=town.advocate.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-excluded-stops"] == "2"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == len(body["items"])
    by_id = {row["checkpoint_id"]: row for row in rows}
    for item in body["items"]:
        row = by_id[item["checkpoint_id"]]
        for side in ("before", "after"):
            for name, value in item[side].items():
                cell = row[f"{side}.{name}"]
                if isinstance(value, list):
                    assert json.loads(cell) == value
                elif value is None:
                    assert cell == ""
                else:
                    assert float(cell) == value  # every digit kept
        ci = item["median_change_ci95"]
        assert (json.loads(row["median_change_ci95"]) if ci else None) == ci
        assert row["insufficient_data"] == ("true" if item["insufficient_data"] else "false")
    xlsx = town.client.get(url, params={**params, "format": "xlsx"}, headers=town.admin.headers)
    assert xlsx.status_code == 200, xlsx.text
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    header, *values = list(book.worksheets[0].values)
    k = dict(zip(header, values[[v[0] for v in values].index(town.checkpoints["K"])], strict=True))
    exact = row_of(town, effects(town, town.admin, "C1", 1), "K")
    assert k["before.stops"] == exact["before"]["stops"]
    assert k["median_change_minutes"] == exact["median_change_minutes"]
    filters = dict(list(book["filters"].values)[1:])
    assert filters["policy_change_id"] == town.changes["C1"]
    assert filters["weeks"] == "1"
