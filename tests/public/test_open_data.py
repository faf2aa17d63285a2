"""Open data (`/public/daily`, `/public/dictionary`): no credentials; each published row equal
to a hand computation from the stops the test wrote; protected cells with no figure at all;
a cell marked by a late event exact before any refresh; the CSV and Parquet files equal to
the JSON; bad input a clear 4xx; ETag, CORS and the rate limit; and nothing in any body that
names a company, a truck, a driver or a shipment, or dates one event to the minute."""

import csv
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.main import create_app
from app.public.open_data import DailyAnswer
from app.public.schemas import (
    ForecastHour,
    InsufficientForecastHour,
    InsufficientWindow,
    PublicCheckpoint,
    PublicFeed,
    Window,
)
from app.reports import rollups
from app.reports.models import DayCell, RollupDirty
from app.types import EPOCH
from tests.conftest import DatabaseUnderTest, drop_pg_database, make_settings, module_database
from tests.factories import API, assert_problem
from tests.reports.builders import (
    Route,
    TruthStop,
    TruthTrip,
    World,
    _create_shipment,
    _empty_world,
    _send,
    _Trip,
    percentile,
)
from tests.reports.conftest import client_on
from tests.reports.test_reports_replica import copy_database

DAILY = f"{API}/public/daily"
DICTIONARY = f"{API}/public/dictionary"
TODAY = datetime.now(UTC).date()
D1 = TODAY - timedelta(days=3)
D2 = TODAY - timedelta(days=2)


@dataclass(frozen=True)
class Visit:
    """One one-stop trip: who, where, when (minutes after the day's 06:00 UTC), how long,
    how it ended, and what happened there."""

    org: str
    code: str
    day: date
    start: int
    minutes: int | None  # None: never released (an open stop)
    outcome: str = "released"
    hold: str | None = None
    fees: tuple[tuple[str, str], ...] = ()  # (amount, currency)


# The published cells: ERB-01 on D1 (4 exporters, 5 completed stops of 6) and BGD-01 on D2
# (3 exporters, 5 completed). Protected: KRK-01 on D1 (2 exporters), KRK-02 on D2 (4 completed
# stops). Not yet over: ERB-01 today (passes the thresholds, but the day is not over).
VISITS = [
    Visit("A", "ERB-01", D1, 0, 35, fees=(("25000", "IQD"),)),
    Visit("A", "ERB-01", D1, 20, 90, hold="missing_document", fees=(("10000", "IQD"),)),
    Visit("B", "ERB-01", D1, 45, 12, fees=(("12.50", "USD"), ("5000", "IQD"))),
    Visit("B", "ERB-01", D1, 70, 240, hold="permit_required"),
    Visit("C", "ERB-01", D1, 100, 61, outcome="turned_back"),
    Visit("D", "ERB-01", D1, 130, None),
    Visit("A", "KRK-01", D1, 0, 30),
    Visit("A", "KRK-01", D1, 30, 40),
    Visit("B", "KRK-01", D1, 60, 50),
    Visit("B", "KRK-01", D1, 90, 60),
    Visit("B", "KRK-01", D1, 120, 70),
    Visit("A", "BGD-01", D2, 0, 15),
    Visit("B", "BGD-01", D2, 10, 25, fees=(("7.25", "USD"),)),
    Visit("C", "BGD-01", D2, 20, 125, hold="security"),
    Visit("C", "BGD-01", D2, 30, 45),
    Visit("A", "BGD-01", D2, 40, 55),
    Visit("A", "KRK-02", D2, 0, 20),
    Visit("B", "KRK-02", D2, 10, 20),
    Visit("C", "KRK-02", D2, 20, 20),
    Visit("D", "KRK-02", D2, 30, 20),
]


def today_visits() -> list[Visit]:
    """Six stops today at ERB-01 from four exporters, released by now (none when the day
    is younger than ten minutes: the day is not over either way)."""
    now = datetime.now(UTC)
    minutes = int((now - datetime.combine(TODAY, datetime.min.time(), UTC)).total_seconds() // 60)
    if minutes < 10:
        return []
    start = -360  # relative to 06:00: midnight
    return [Visit(org, "ERB-01", TODAY, start + 1 + n, 2) for n, org in enumerate("ABCDAB")]


def send_visits(world: World, visits: list[Visit], seed: int) -> None:
    rng = random.Random(seed)
    for n, visit in enumerate(visits):
        arrived = datetime.combine(visit.day, datetime.min.time(), UTC) + timedelta(
            hours=6, minutes=visit.start
        )
        truth = TruthTrip(visit.org, "erbil", "baghdad", ("25",), arrived - timedelta(hours=1))
        route = Route("erbil", "baghdad", (visit.code,), 100.0)
        _create_shipment(world, visit.org, route, truth, f"{visit.org}-OPEN-{seed}-{n}")
        trip = _Trip(rng, truth, tz=UTC)
        trip.depart()
        trip.arrive(visit.code, arrived)
        for amount, currency in visit.fees:
            trip.fee(arrived + timedelta(minutes=1), float(amount), currency, receipt=False)
        if visit.hold:
            trip.hold(arrived + timedelta(minutes=2), visit.hold)
        if visit.minutes is None:
            trip.leave_unreleased()
        else:
            trip.close(arrived + timedelta(minutes=visit.minutes), visit.outcome)
        _send(world, trip)
        world.trips.append(truth)


def build(client: TestClient, seed: int = 1) -> World:
    world = _empty_world(client)
    send_visits(world, VISITS + today_visits(), seed)
    return world


def refresh(client: TestClient) -> None:
    rollups.refresh_all(client.app.state.session_factory)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def world(database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with (
        module_database(database, tmp_path_factory, "open_data") as url,
        client_on(url) as client,
    ):
        world = build(client)
        refresh(client)
        yield world


# --- the truth, by hand --------------------------------------------------------------------


def expected_row(stops: list[TruthStop]) -> dict[str, Any]:
    """A published row's figures, computed from the stops the test wrote."""
    waits = [s.dwell_minutes for s in stops if s.dwell_minutes is not None]
    fees: dict[str, Decimal] = {}
    for stop in stops:
        for amount, currency, _ in stop.fees:
            fees[currency] = fees.get(currency, Decimal(0)) + amount
    return {
        "insufficient_data": False,
        "stops": len(stops),
        "completed_stops": sum(s.outcome != "open" for s in stops),
        "p50_wait_minutes": percentile(waits, 50),
        "p90_wait_minutes": percentile(waits, 90),
        "hold_rate": sum(bool(s.holds) for s in stops) / len(stops),
        "turn_back_rate": sum(s.outcome == "turned_back" for s in stops) / len(stops),
        "fee_events": sum(len(s.fees) for s in stops),
        "fees": [{"currency": c, "total": float(t)} for c, t in sorted(fees.items())],
    }


def assert_figures(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    """The same fields; floats to 1e-12 (sums added in another order), the rest exactly."""
    assert got.keys() == want.keys(), where
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-12), (where, name)
        else:
            assert got[name] == value, (where, name)


def cell_stops(world: World, code: str, day: date) -> list[TruthStop]:
    return [s for s in world.stops if s.checkpoint == code and s.arrived_at.date() == day]


def by_cell(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["checkpoint_code"], row["day"]): row for row in body["items"]}


def figures_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("checkpoint_code", "day")}


def daily(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(DAILY, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    DailyAnswer.model_validate(response.json())  # the shape the OpenAPI schema documents
    return response.json()  # type: ignore[no-any-return]


# --- the rows --------------------------------------------------------------------------------


def test_published_cells_equal_a_hand_computation_without_credentials(world: World) -> None:
    body = daily(world.client, **{"from": str(D1), "to": str(D2)})
    rows = by_cell(body)
    for code, day in (("ERB-01", D1), ("BGD-01", D2)):
        want = expected_row(cell_stops(world, code, day))
        assert_figures(figures_of(rows[(code, day.isoformat())]), want, f"{code} {day}")
    erb = rows[("ERB-01", D1.isoformat())]
    assert erb["stops"] == 6
    assert erb["completed_stops"] == 5
    assert [f["currency"] for f in erb["fees"]] == ["IQD", "USD"]
    assert body["min_stops"] == 5
    assert body["min_exporters"] == 3
    assert body["from"] == D1.isoformat()
    assert body["to"] == D2.isoformat()
    assert body["next_cursor"] is None
    assert body["generated_at"].endswith(":00Z")


def test_published_cells_equal_the_admins_checkpoint_report_of_that_day(world: World) -> None:
    rows = by_cell(daily(world.client, **{"from": str(D1), "to": str(D2)}))
    for code, day in (("ERB-01", D1), ("BGD-01", D2)):
        params = {
            "checkpoint_id": world.checkpoint_id(code),
            "from": f"{day}T00:00:00Z",
            "to": f"{day + timedelta(days=1)}T00:00:00Z",
        }
        response = world.client.get(
            f"{API}/reports/checkpoints", params=params, headers=world.admin.headers
        )
        assert response.status_code == 200, response.text
        (report,) = response.json()["items"]
        row = rows[(code, day.isoformat())]
        for name in ("stops", "completed_stops", "hold_rate", "turn_back_rate"):
            assert row[name] == report[name], (code, name)
        assert row["p50_wait_minutes"] == report["p50_dwell_minutes"]
        assert row["p90_wait_minutes"] == report["p90_dwell_minutes"]
        fees = [{"currency": f["currency"], "total": f["total"]} for f in report["fees"]]
        assert row["fees"] == fees


def test_every_checkpoint_has_a_row_each_day_and_failing_cells_show_nothing(
    world: World,
) -> None:
    body = daily(world.client, **{"from": str(D1), "to": str(D2)})
    rows = by_cell(body)
    codes = sorted(world.checkpoints)
    assert [(r["day"], r["checkpoint_code"]) for r in body["items"]] == [
        (day.isoformat(), code) for day in (D1, D2) for code in codes
    ]
    published = {("ERB-01", D1.isoformat()), ("BGD-01", D2.isoformat())}
    for cell, row in rows.items():
        if cell not in published:
            # Two exporters (KRK-01), four completed stops (KRK-02), or no stop at all: the
            # same three keys, so a protected cell and an empty one look alike.
            assert row == {"checkpoint_code": cell[0], "day": cell[1], "insufficient_data": True}


def test_today_is_never_published_and_the_default_is_the_last_30_completed_days(
    world: World,
) -> None:
    # The service's today, read beside the request: a run that crosses midnight after the
    # world was built must not fail for it.
    body = daily(world.client)
    today = datetime.now(UTC).date()
    if body["to"] != str(today - timedelta(days=1)):  # midnight fell between the two
        body = daily(world.client)
    days = sorted({row["day"] for row in body["items"]})
    assert days[0] == (today - timedelta(days=30)).isoformat()
    assert days[-1] == (today - timedelta(days=1)).isoformat()
    assert len(days) == 30
    asked = daily(world.client, **{"from": str(D2), "to": str(today + timedelta(days=2))})
    assert {row["day"] for row in asked["items"]} == {
        str(D2 + timedelta(days=n)) for n in range((today - D2).days)
    }
    only_today = daily(world.client, **{"from": str(today), "to": str(today)})
    assert only_today["items"] == []


def test_one_checkpoint(world: World) -> None:
    body = daily(world.client, **{"from": str(D1), "to": str(D2), "checkpoint": "BGD-01"})
    assert [(r["checkpoint_code"], r["day"]) for r in body["items"]] == [
        ("BGD-01", D1.isoformat()),
        ("BGD-01", D2.isoformat()),
    ]
    assert body["items"][0]["insufficient_data"] is True
    assert body["items"][1]["completed_stops"] == 5


def test_a_late_event_is_counted_before_any_refresh(client: TestClient) -> None:
    world = build(client, seed=2)
    refresh(client)
    window = {"from": str(D1), "to": str(D1)}
    before = by_cell(daily(client, **window))
    assert before[("KRK-01", D1.isoformat())]["insufficient_data"] is True
    # A phone back online: a third exporter's stop at KRK-01, and one more at ERB-01.
    send_visits(
        world,
        [
            Visit("C", "KRK-01", D1, 200, 33, fees=(("2000", "IQD"),)),
            Visit("D", "ERB-01", D1, 210, 500, hold="permit_required"),
        ],
        seed=3,
    )
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        marked = set(session.execute(select(RollupDirty.checkpoint_id, RollupDirty.arrival_day)))
        stored = session.scalar(
            select(DayCell.stops).where(
                DayCell.checkpoint_id == uuid.UUID(world.checkpoints["ERB-01"]["id"]),
                DayCell.arrival_day == D1.toordinal() - EPOCH,
            )
        )
    assert len(marked) == 2, "both cells wait for a refresh"
    assert stored == 6, "the stored cell is the old one"
    after = by_cell(daily(client, **window))
    for code in ("KRK-01", "ERB-01"):
        want = expected_row(cell_stops(world, code, D1))
        assert_figures(figures_of(after[(code, D1.isoformat())]), want, code)
    assert after[("ERB-01", D1.isoformat())]["stops"] == 7
    refresh(client)
    assert by_cell(daily(client, **window)) == after


def test_an_inactive_checkpoint_has_rows_only_when_a_day_of_it_is_published(
    client: TestClient,
) -> None:
    world = build(client, seed=4)
    for code in ("ERB-01", "KRK-01", "KRK-03"):  # published on D1; protected; no stops
        response = client.patch(
            f"{API}/checkpoints/{world.checkpoints[code]['id']}",
            json={"active": False},
            headers=world.admin.headers,
        )
        assert response.status_code == 200, response.text
    rows = daily(client, **{"from": str(D1), "to": str(D2)})["items"]
    codes = {row["checkpoint_code"] for row in rows}
    assert codes == {"ERB-01", "KRK-02", "BGD-01", "BGD-02"}
    later = daily(client, **{"from": str(D2), "to": str(D2)})["items"]
    assert "ERB-01" not in {row["checkpoint_code"] for row in later}


def test_daily_reads_the_reports_database(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With REPORTS_DATABASE_URL, the rows come from there (a replica a late stop has not
    reached yet), whatever the primary holds."""
    window = {"from": str(D1), "to": str(D2)}
    with module_database(database, tmp_path_factory, "open_data_primary") as primary:
        with client_on(primary) as client:
            world = build(client, seed=5)
            refresh(client)
            copied = daily(client, **window)["items"]
        replica = copy_database(database.backend, primary, tmp_path_factory.mktemp("r") / "r.db")
        try:
            with client_on(primary, reports_database_url=replica) as client:
                world.client = client
                send_visits(world, [Visit("C", "KRK-01", D1, 200, 33)], seed=6)
                refresh(client)
                assert daily(client, **window)["items"] == copied
            with client_on(primary) as client:
                moved_on = by_cell(daily(client, **window))
            assert moved_on[("KRK-01", D1.isoformat())]["insufficient_data"] is False
            assert by_cell({"items": copied})[("KRK-01", D1.isoformat())]["insufficient_data"]
        finally:
            if database.backend == "postgres":
                drop_pg_database(replica)


# --- the files -------------------------------------------------------------------------------

INTEGERS = {"stops", "completed_stops", "fee_events"}


def flattened(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON rows as the files should hold them: a fees_XXX column per currency."""
    currencies = sorted({f["currency"] for row in items for f in row.get("fees", [])})
    names = [
        "checkpoint_code",
        "day",
        "insufficient_data",
        "stops",
        "completed_stops",
        "p50_wait_minutes",
        "p90_wait_minutes",
        "hold_rate",
        "turn_back_rate",
        "fee_events",
    ]
    rows = []
    for item in items:
        row = {name: item.get(name) for name in names}
        paid = {f["currency"]: f["total"] for f in item.get("fees", [])}
        for currency in currencies:
            row[f"fees_{currency}"] = None if item["insufficient_data"] else paid.get(currency, 0.0)
        rows.append(row)
    return rows


def parse_csv(text: str) -> list[dict[str, Any]]:
    def typed(name: str, value: str) -> Any:
        if value == "":
            return None
        if name == "insufficient_data":
            return {"true": True, "false": False}[value]
        if name in INTEGERS:
            return int(value)
        if name in ("checkpoint_code", "day"):
            return value
        return float(value)

    return [
        {name: typed(name, value) for name, value in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def test_csv_and_parquet_hold_the_json_rows(world: World) -> None:
    window = {"from": str(D1 - timedelta(days=1)), "to": str(D2)}
    want = flattened(daily(world.client, **window)["items"])
    assert {"fees_IQD", "fees_USD"} <= set(want[0])

    response = world.client.get(DAILY, params={**window, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(response.text)))[0] == list(want[0])
    assert parse_csv(response.text) == want

    response = world.client.get(DAILY, params={**window, "format": "parquet"})
    assert response.status_code == 200, response.text
    table = pq.read_table(io.BytesIO(response.content))
    types = {field.name: str(field.type) for field in table.schema}
    assert types["day"] == "date32[day]"
    assert types["stops"] == "int64"
    assert types["fee_events"] == "int64"
    assert types["p50_wait_minutes"] == "double"
    assert types["fees_IQD"] == "double"
    assert types["insufficient_data"] == "bool"
    rows = table.to_pylist()
    for row in rows:
        row["day"] = row["day"].isoformat()
    assert rows == want


def test_the_dictionary_defines_every_field_of_every_answer(world: World) -> None:
    response = world.client.get(DICTIONARY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["min_stops"], body["min_exporters"]) == (5, 3)
    assert "5 completed stops" in body["protection"]
    datasets = {d["name"]: d for d in body["datasets"]}
    assert set(datasets) == {"checkpoints", "daily"}
    for dataset in datasets.values():
        for field in dataset["fields"]:
            assert field["definition"], field
            assert field["type"], field
    daily_fields = {f["name"] for f in datasets["daily"]["fields"]}
    items = daily(world.client, **{"from": str(D1), "to": str(D1)})["items"]
    answered = {name for row in items for name in row} - {"fees"}
    assert answered <= daily_fields
    assert {"fees[].currency", "fees[].total", "fees_{CURRENCY}"} <= daily_fields
    feed = {f["name"] for f in datasets["checkpoints"]["fields"]}
    assert feed == feed_fields()

    as_csv = world.client.get(DICTIONARY, params={"format": "csv"})
    assert as_csv.status_code == 200
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == sum(len(d["fields"]) for d in datasets.values())
    assert rows[0].keys() == {"dataset", "name", "type", "unit", "definition"}


def feed_fields() -> set[str]:
    """Every field the live board's JSON can hold, from its schemas (app/public/schemas.py)."""
    nested = {"items", "last_hour", "last_6_hours", "forecast"}
    found = set(PublicFeed.model_fields) | set(PublicCheckpoint.model_fields)
    for window in ("last_hour", "last_6_hours"):
        for shape in (Window, InsufficientWindow):
            found |= {f"{window}.{name}" for name in shape.model_fields}
    for shape in (ForecastHour, InsufficientForecastHour):
        found |= {f"forecast[].{name}" for name in shape.model_fields}
    return found - nested


def test_the_dictionary_names_what_the_board_answers(world: World) -> None:
    body = world.client.get(f"{API}/public/checkpoints").json()
    answered = {name for name in body if name != "items"}
    for item in body["items"]:
        answered |= {name for name in item if name not in ("last_hour", "last_6_hours", "forecast")}
        for window in ("last_hour", "last_6_hours"):
            answered |= {f"{window}.{name}" for name in item[window]}
        answered |= {f"forecast[].{name}" for hour in item["forecast"] for name in hour}
    assert len(body["items"]) == len(world.checkpoints)
    datasets = {d["name"]: d for d in world.client.get(DICTIONARY).json()["datasets"]}
    documented = {f["name"] for f in datasets["checkpoints"]["fields"]}
    assert answered <= documented


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"format": "xml"}, 422),
        ({"from": "2026-11-10", "to": "2026-11-09"}, 422),
        ({"from": "2025-01-01", "to": "2026-01-02"}, 422),  # 366 days and one
        ({"from": "2026-13-01"}, 422),
        ({"to": "yesterday"}, 422),
        ({"to": "0"}, 422),  # not Unix seconds: a day is written out
        ({"from": "2026-1-5"}, 422),
        ({"to": "0001-01-05"}, 422),  # no 30 days end there
        ({"checkpoint": "NOPE-99"}, 422),
    ],
)
def test_bad_input_is_a_clear_problem(world: World, params: dict[str, str], status: int) -> None:
    problem = assert_problem(world.client.get(DAILY, params=params), status)
    assert problem["errors"][0]["loc"][0] == "query"


def test_a_full_year_of_366_days_is_allowed(world: World) -> None:
    body = daily(world.client, **{"from": "2024-01-01", "to": "2024-12-31"})  # a leap year
    assert len(body["items"]) == 366 * len(world.checkpoints)


def test_the_dictionary_refuses_an_unknown_format(world: World) -> None:
    assert_problem(world.client.get(DICTIONARY, params={"format": "xml"}), 422)


# --- caching, CORS, rate limit ---------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"format": "csv"}, {"format": "parquet"}])
def test_etag_304_and_cors(world: World, params: dict[str, str]) -> None:
    first = world.client.get(DAILY, params=params)
    assert first.headers["access-control-allow-origin"] == "*"
    assert first.headers["cache-control"] == "public, max-age=60"
    again = world.client.get(DAILY, params=params, headers={"If-None-Match": first.headers["etag"]})
    if again.status_code == 200:
        # The minute changed between the two (JSON's generated_at): the next one is the same.
        assert again.json()["generated_at"] != first.json()["generated_at"]
        tag = again.headers["etag"]
        again = world.client.get(DAILY, params=params, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["access-control-allow-origin"] == "*"
    dictionary = world.client.get(DICTIONARY)
    tag = dictionary.headers["etag"]
    assert world.client.get(DICTIONARY, headers={"If-None-Match": tag}).status_code == 304


def test_the_fourth_request_in_a_minute_is_refused(db_url: str) -> None:
    settings = make_settings(db_url, public_rate_limit="3/minute")
    with TestClient(create_app(settings)) as client:
        for path in (DAILY, DICTIONARY, DAILY):
            assert client.get(path).status_code == 200
        refused = client.get(DICTIONARY)
        assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["access-control-allow-origin"] == "*"


# --- privacy ---------------------------------------------------------------------------------


def secrets_of(world: World) -> list[str]:
    """Who the exporters are, which truck, driver and shipment, and when each event was."""
    found = world.secrets()
    for trip in world.trips:
        shipment = trip.shipment
        found += [shipment["truck_plate"], shipment["driver_name"], shipment["driver_phone"]]
        moments = [trip.departed_at] + [s.arrived_at for s in trip.stops]
        moments += [s.closed_at for s in trip.stops if s.closed_at is not None]
        for moment in moments:
            found.append(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
            found.append(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))
    return found


def test_no_public_body_names_anyone_or_dates_an_event(world: World) -> None:
    window = {"from": str(D1), "to": str(D2)}
    client = world.client
    bodies = [
        client.get(DAILY, params=window).text,
        client.get(DAILY, params={**window, "checkpoint": "ERB-01"}).text,
        client.get(DAILY, params={**window, "format": "csv"}).text,
        client.get(DICTIONARY).text,
        client.get(DICTIONARY, params={"format": "csv"}).text,
    ]
    parquet = client.get(DAILY, params={**window, "format": "parquet"}).content
    bodies.append(str(pq.read_table(io.BytesIO(parquet)).to_pylist()))
    bodies.append(parquet.decode("latin-1"))  # the raw file too: its metadata
    secrets = secrets_of(world)
    assert len(secrets) > 100
    for body in bodies:
        leaked = [secret for secret in secrets if secret in body]
        assert not leaked, leaked
