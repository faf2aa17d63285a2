"""The public feed, read without credentials: figures of whole clock hours, each built only
from hour cells (checkpoint × clock hour) that pass the public thresholds, checked against a
hand computation; the forecast by hour of the week; the formats, the caching headers, the
rate limit, bad input; and the attacks: subtracting answers, and looking for anyone in them.

The world is written through the API at times relative to a fixed `now`, which the feed is
made to read as its clock (so no test depends on the minute it runs)."""

import csv
import io
import itertools
import socket
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.public import feed
from tests.auth.redis_helpers import redis_prefix
from tests.conftest import make_settings
from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_shipment,
)
from tests.reports.builders import percentile

FEED = f"{API}/public/checkpoints"
HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
MIN_STOPS, MIN_EXPORTERS = 5, 3  # PUBLIC_MIN_STOPS' and REPORT_MIN_EXPORTERS' defaults
_ids = itertools.count(1)


@dataclass
class Visit:
    """One stop as the test wrote it: the truth the feed is checked against."""

    code: str
    exporter: int
    arrived: datetime
    closed: datetime | None  # None: the truck is still there


@dataclass
class World:
    client: TestClient
    now: datetime
    checkpoints: dict[str, dict[str, Any]]
    exporters: list[Actor]
    visits: list[Visit] = field(default_factory=list)
    shipments: list[dict[str, Any]] = field(default_factory=list)
    event_times: list[datetime] = field(default_factory=list)
    clock: dict[str, datetime] = field(default_factory=dict)  # what the feed reads as now

    def trip(
        self,
        code: str,
        exporter: int,
        arrived: datetime,
        closed: datetime | None,
        located: bool = False,
    ) -> None:
        """A truck of `exporter` at checkpoint `code`: one shipment, its events in one sync.
        Times carry odd seconds, so an event time never equals a window's bounds."""
        arrived += timedelta(seconds=7)
        closed = closed + timedelta(seconds=11) if closed is not None else None
        by = self.exporters[exporter]
        checkpoint = self.checkpoints[code]
        shipment = make_shipment(
            self.client,
            by,
            route=[checkpoint["id"]],
            reference=f"REF-{next(_ids):05d}",
            truck_plate=f"{next(_ids):02d} B {next(_ids):05d} ERB",
            driver_name=f"Driver Hawre {next(_ids)}",
            driver_phone=f"+96477{next(_ids):08d}",
            planned_departure=(arrived - HOUR).isoformat(),
        )
        # The phone's fix at the checkpoint itself, ±10 m: the stop is GPS-confirmed.
        here = {"lat": checkpoint["latitude"], "lon": checkpoint["longitude"], "accuracy_m": 10}
        events = [
            _event("departed", arrived - HOUR),
            _event(
                "arrived",
                arrived,
                checkpoint_id=checkpoint["id"],
                **({"location": here} if located else {}),
            ),
        ]
        if closed is not None:
            events.append(_event("released", closed))
        response = self.client.post(
            f"{API}/sync",
            json={"shipment_id": shipment["id"], "events": events},
            headers=by.headers,
        )
        assert response.status_code == 200, response.text
        self.visits.append(Visit(code, exporter, arrived, closed))
        self.shipments.append(shipment)
        self.event_times += [arrived - HOUR, arrived] + ([closed] if closed else [])

    def stops_closing_in(self, code: str, hour: datetime, exporters: list[int]) -> None:
        """One stop per entry of `exporters`, each closing inside `hour`, dwells 12, 24 …"""
        for n, exporter in enumerate(exporters):
            closed = hour + timedelta(minutes=3 + 4 * n)
            self.trip(code, exporter, closed - timedelta(minutes=12 * (n + 1)), closed)


def _event(kind: str, when: datetime, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": kind, "occurred_at": when.isoformat(), **fields}


def _floor(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def world(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> World:
    """Checkpoints ERB-P (busy), ERB-Q (one hour of two exporters), ERB-X (inactive);
    four exporter organisations; and the feed's clock fixed at `now`."""
    boss = admin(client)
    checkpoints = {
        code: make_checkpoint(client, boss, code=code, name=f"Checkpoint {code}")
        for code in ("ERB-P", "ERB-Q", "ERB-X")
    }
    response = client.patch(
        f"{API}/checkpoints/{checkpoints['ERB-X']['id']}",
        json={"active": False},
        headers=boss.headers,
    )
    assert response.status_code == 200, response.text
    now = datetime.now(UTC).replace(microsecond=0)
    built = World(client, now, checkpoints, [make_exporter(client, boss) for _ in range(4)])
    built.clock["now"] = now
    monkeypatch.setattr(feed, "utcnow", lambda: built.clock["now"])
    return built


def set_clock(world: World, when: datetime) -> None:
    world.clock["now"] = when


def feed_of(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(FEED, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row(body: dict[str, Any], code: str) -> dict[str, Any]:
    [found] = [item for item in body["items"] if item["code"] == code]
    return found


# --- the truth, computed again from the visits -------------------------------------------


def expected_window(world: World, code: str, start: datetime, hours: int) -> dict[str, Any]:
    """The window's figures from the visits: hour cells by the hour a stop closed (and the
    hour a truck arrived), each used only with 5 completed stops from 3 exporters."""
    closing: dict[datetime, list[Visit]] = defaultdict(list)
    arriving: dict[datetime, int] = defaultdict(int)
    for visit in world.visits:
        if visit.code != code:
            continue
        if visit.closed is not None:
            closing[_floor(visit.closed)].append(visit)
        arriving[_floor(visit.arrived)] += 1
    end = start + hours * HOUR
    hours_shown = [
        start + n * HOUR
        for n in range(hours)
        if len(closing[start + n * HOUR]) >= MIN_STOPS
        and len({v.exporter for v in closing[start + n * HOUR]}) >= MIN_EXPORTERS
    ]
    bounds = {"window_start": _iso(start), "window_end": _iso(end)}
    if not hours_shown:
        return {**bounds, "insufficient_data": True}
    shown = [v for hour in hours_shown for v in closing[hour]]
    waits = sorted((v.closed - v.arrived).total_seconds() / 60 for v in shown if v.closed)
    return {
        **bounds,
        "arrived": sum(arriving[hour] for hour in hours_shown),
        "completed_stops": len(shown),
        "p50_wait_minutes": percentile(waits, 50),
        "p90_wait_minutes": percentile(waits, 90),
        "gps_confirmed_share": 0.0,
        "method": "reported",
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_window(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys(), (got, want)
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, abs=1e-9), name
        else:
            assert got[name] == value, name


def busy_world(world: World) -> datetime:
    """ERB-P: the last hour passes (6 stops, 3 exporters); three hours before it, two
    exporters only (withheld); four hours before, 5 stops of 3 exporters (shown). ERB-Q: the
    last hour has 5 stops of 2 exporters. Returns the end of the last completed hour."""
    end = _floor(world.now)
    world.stops_closing_in("ERB-P", end - HOUR, [0, 0, 1, 1, 2, 2])
    world.stops_closing_in("ERB-P", end - 3 * HOUR, [0, 1, 0, 1, 0])
    world.stops_closing_in("ERB-P", end - 4 * HOUR, [0, 1, 2, 3, 3])
    world.stops_closing_in("ERB-Q", end - HOUR, [0, 1, 0, 1, 0])
    return end


# --- the figures ----------------------------------------------------------------------------


def test_the_windows_are_sums_of_the_hour_cells_that_pass(world: World) -> None:
    end = busy_world(world)
    body = feed_of(world.client)
    assert [item["code"] for item in body["items"]] == ["ERB-P", "ERB-Q"]  # ERB-X inactive
    assert (body["min_stops"], body["min_exporters"]) == (MIN_STOPS, MIN_EXPORTERS)
    for code in ("ERB-P", "ERB-Q"):
        got = row(body, code)
        assert_window(got["last_hour"], expected_window(world, code, end - HOUR, 1))
        assert_window(got["last_6_hours"], expected_window(world, code, end - 6 * HOUR, 6))
    p = row(body, "ERB-P")
    # 6 + 5 stops shown; the 5 stops of two exporters three hours back are not.
    assert p["last_hour"]["completed_stops"] == 6
    assert p["last_6_hours"]["completed_stops"] == 11
    assert row(body, "ERB-Q")["last_hour"] == {
        "window_start": _iso(end - HOUR),
        "window_end": _iso(end),
        "insufficient_data": True,
    }


def test_method_says_how_many_stops_the_phones_position_confirmed(world: World) -> None:
    end = _floor(world.now)
    for n, exporter in enumerate([0, 0, 1, 1, 2, 2, 3, 3]):
        closed = end - HOUR + timedelta(minutes=5 + n)
        world.trip("ERB-P", exporter, closed - timedelta(minutes=30), closed, located=n < 2)
    evidence = [
        stop["position_evidence"]
        for shipment, visit in zip(world.shipments, world.visits, strict=True)
        for stop in world.client.get(
            f"{API}/shipments/{shipment['id']}/stops",
            headers=world.exporters[visit.exporter].headers,
        ).json()["items"]
    ]
    assert evidence.count("confirmed") == 2, evidence
    p = row(feed_of(world.client), "ERB-P")
    assert p["last_hour"]["gps_confirmed_share"] == 0.25
    assert p["last_hour"]["method"] == "gps"
    assert p["method"] == "gps"


def test_trucks_there_now_are_rounded_to_five(world: World) -> None:
    for n in range(3):  # three trucks at ERB-P now: 5; two at ERB-Q: 0
        world.trip("ERB-P", n, world.now - timedelta(minutes=20 + n), None)
    for n in range(2):
        world.trip("ERB-Q", n, world.now - timedelta(minutes=30 + n), None)
    body = feed_of(world.client)
    assert row(body, "ERB-P")["trucks_now"] == 5
    assert row(body, "ERB-Q")["trucks_now"] == 0
    assert row(body, "ERB-P")["updated_at"] == body["generated_at"]


def test_the_differencing_attack_finds_no_withheld_hour(world: World) -> None:
    """An attacker who reads the feed every hour and subtracts: the six last-hour answers
    add up to the six-hour answer, so the withheld hour never appears as a difference."""
    end = busy_world(world)
    hourly = []
    for n in range(6):  # the clock at each of the six hours of the window's end
        set_clock(world, end - timedelta(hours=5 - n) + timedelta(minutes=2))
        hourly.append(row(feed_of(world.client), "ERB-P")["last_hour"])
    set_clock(world, end + timedelta(minutes=2))
    six = row(feed_of(world.client), "ERB-P")["last_6_hours"]
    shown = [h for h in hourly if not h.get("insufficient_data")]
    assert len(shown) == 2  # four hours back and the last hour
    assert sum(h["completed_stops"] for h in shown) == six["completed_stops"]
    assert sum(h["arrived"] for h in shown) == six["arrived"]


def test_the_forecast_reads_whole_past_weeks_by_hour_of_the_week(world: World) -> None:
    """The hour in progress, one and two weeks back (shown), three weeks back with two
    exporters (withheld), nine weeks back (outside the eight weeks)."""
    hour = _floor(world.now)
    world.stops_closing_in("ERB-P", hour - WEEK, [0, 1, 2, 0, 1])
    world.stops_closing_in("ERB-P", hour - 2 * WEEK, [0, 1, 2, 2, 3, 3])
    world.stops_closing_in("ERB-P", hour - 3 * WEEK, [0, 1, 0, 1, 0])
    world.stops_closing_in("ERB-P", hour - 9 * WEEK, [0, 1, 2, 3, 0])
    body = feed_of(world.client, forecast_hours=3)
    first, *later = row(body, "ERB-P")["forecast"]
    kept = [
        v
        for v in world.visits
        if v.closed is not None and _floor(v.closed) in (hour - WEEK, hour - 2 * WEEK)
    ]
    waits = sorted((v.closed - v.arrived).total_seconds() / 60 for v in kept if v.closed)
    assert len(waits) == 11
    local = hour.astimezone(feed.BAGHDAD)
    assert first["hour_of_week"] == local.weekday() * 24 + local.hour
    assert first["starts_at"] == _iso(hour)
    assert first["p50_wait_minutes"] == pytest.approx(percentile(waits, 50))
    assert first["p90_wait_minutes"] == pytest.approx(percentile(waits, 90))
    assert [h["starts_at"] for h in later] == [_iso(hour + HOUR), _iso(hour + 2 * HOUR)]
    assert all(h["insufficient_data"] for h in later)
    assert all(h["insufficient_data"] for h in row(body, "ERB-Q")["forecast"])


def test_an_hour_old_forecast_is_served_while_it_is_computed_again(world: World) -> None:
    """The forecast is made again once an hour on a thread of its own: meanwhile the feed
    keeps the hour-old one; the next answer after it is in has the new one."""
    app: Any = world.client.app
    ticks = {"now": 0.0}
    cache = feed.FeedCache(app.state.reports_session_factory, clock=lambda: ticks["now"])
    settings = app.state.settings
    hour = _floor(world.now)

    def first_forecast() -> dict[str, Any]:
        with app.state.reports_session_factory() as session:
            made = cache.feed(session, settings, 1)
        [item] = [i for i in made.items if i.code == "ERB-P"]
        return item.forecast[0].model_dump()

    world.stops_closing_in("ERB-P", hour - WEEK, [0, 1, 2, 0, 1])
    before = first_forecast()
    world.stops_closing_in("ERB-P", hour - 2 * WEEK, [0, 1, 2, 3, 3, 3, 3])  # longer waits
    ticks["now"] = feed.FEED_SECONDS + 1  # a new feed, the same forecast
    assert first_forecast() == before
    ticks["now"] = feed.FORECAST_SECONDS + 1  # the forecast is made again, meanwhile the old
    assert first_forecast() == before
    cache.wait_for_refresh()
    after = first_forecast()
    assert after["p90_wait_minutes"] > before["p90_wait_minutes"]


def test_hour_of_week_counts_from_monday_midnight_in_baghdad() -> None:
    # Sunday 21:00 UTC is Monday 00:00 in Baghdad.
    assert feed.hour_of_week(datetime(2026, 12, 6, 21, tzinfo=UTC)) == 0
    assert feed.hour_of_week(datetime(2026, 12, 6, 20, tzinfo=UTC)) == 167
    assert feed.week_start(datetime(2026, 12, 9, 10, tzinfo=UTC)) == datetime(
        2026, 12, 6, 21, tzinfo=UTC
    )


# --- formats and HTTP ---------------------------------------------------------------------


def test_csv_and_geojson_say_what_the_json_says(world: World) -> None:
    busy_world(world)
    body = feed_of(world.client)
    response = world.client.get(FEED, params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["code"] for r in rows] == ["ERB-P", "ERB-Q"]
    p = row(body, "ERB-P")
    assert float(rows[0]["last_6_hours.p90_wait_minutes"]) == pytest.approx(
        p["last_6_hours"]["p90_wait_minutes"]
    )
    assert rows[1]["last_hour.insufficient_data"] == "True"
    assert rows[1]["last_hour.p50_wait_minutes"] == ""
    geo = world.client.get(FEED, params={"format": "geojson"})
    assert geo.headers["content-type"] == "application/geo+json"
    features = geo.json()["features"]
    assert features[0]["geometry"] == {
        "type": "Point",
        "coordinates": [p["longitude"], p["latitude"]],
    }
    assert features[0]["properties"]["last_6_hours"] == p["last_6_hours"]
    one = world.client.get(f"{FEED}/ERB-P")
    assert one.status_code == 200
    assert one.json()["last_6_hours"] == p["last_6_hours"]


def test_anyone_may_read_and_cache_it_and_ask_again_with_its_etag(world: World) -> None:
    response = world.client.get(FEED)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["access-control-allow-origin"] == "*"
    etag = response.headers["etag"]
    again = world.client.get(FEED, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = world.client.get(FEED, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_bad_input_is_a_clear_4xx(world: World) -> None:
    assert_problem(world.client.get(FEED, params={"format": "xml"}), 422)
    assert_problem(world.client.get(FEED, params={"forecast_hours": 0}), 422)
    assert_problem(world.client.get(FEED, params={"forecast_hours": 169}), 422)
    assert_problem(world.client.get(f"{FEED}/NO-SUCH"), 404)
    assert_problem(world.client.get(f"{FEED}/ERB-X"), 404)  # inactive: not on the board


@pytest.fixture
def strict_client(db_url: str, tmp_path: Any) -> Iterator[TestClient]:
    app: FastAPI = create_app(
        make_settings(db_url, attachments_dir=tmp_path, public_rate_limit="3/minute")
    )
    with TestClient(app) as client:
        yield client


def test_past_the_rate_an_address_waits(strict_client: TestClient) -> None:
    for _ in range(3):
        assert strict_client.get(FEED).status_code == 200
    refused = strict_client.get(FEED)
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["access-control-allow-origin"] == "*"


def test_with_redis_every_worker_counts_the_same_requests(db_url: str, tmp_path: Any) -> None:
    with redis_prefix() as (url, prefix):
        settings = make_settings(
            db_url,
            attachments_dir=tmp_path,
            public_rate_limit="3/minute",
            redis_url=url,
            redis_key_prefix=prefix,
        )
        with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
            for worker in (one, two, one):
                assert worker.get(FEED).status_code == 200
            assert_problem(two.get(FEED), 429)


def test_a_redis_that_does_not_answer_leaves_the_board_readable(db_url: str, tmp_path: Any) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = make_settings(
        db_url, attachments_dir=tmp_path, redis_url=f"redis://127.0.0.1:{closed}/0"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get(FEED).status_code == 200


# --- nobody in it ---------------------------------------------------------------------------


def test_no_public_body_names_an_exporter_a_truck_or_an_event_time(world: World) -> None:
    busy_world(world)
    world.trip("ERB-P", 3, world.now - timedelta(minutes=25), None)
    bodies = [
        world.client.get(FEED, params={"format": fmt, "forecast_hours": 168}).text
        for fmt in ("json", "csv", "geojson")
    ] + [world.client.get(f"{FEED}/ERB-P").text]
    secrets: set[str] = set()
    for actor in world.exporters:
        assert actor.organization is not None
        secrets |= {actor.organization["id"], actor.organization["name"], actor.user["email"]}
    for shipment in world.shipments:
        secrets |= {
            shipment["id"],
            shipment["tracking_code"],
            shipment["reference"],
            shipment["truck_plate"],
            shipment["driver_name"],
            shipment["driver_phone"],
        }
    for when in world.event_times:
        secrets |= {_iso(when), when.isoformat(), when.astimezone(feed.BAGHDAD).isoformat()}
        secrets.add(when.strftime("%Y-%m-%dT%H:%M:%S"))
    for body in bodies:
        assert "ERB-P" in body  # a body with the checkpoint's figures in it
        assert [s for s in secrets if s in body] == []
