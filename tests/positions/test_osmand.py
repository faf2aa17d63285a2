"""Background positions from a GPS tracker (the OsmAnd protocol), through the API on a real
database: device keys, what a fix stores, how fixes corroborate or contradict stops (two
fixes in a row, never one), bad fixes refused with nothing stored, positions never events."""

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine

from app.db import WRITE_OPTION
from app.tracking.models import Position
from tests.factories import API, assert_problem
from tests.positions.helpers import (
    KIRKUK,
    Route,
    device_key,
    ev,
    make_route,
    offset,
    osmand,
)
from tests.tracking.helpers import stored_events


def positions(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Position)) or 0)


@pytest.fixture
def route(client: TestClient) -> Route:
    return make_route(client)


def hours_ago(h: float) -> datetime:
    return (datetime.now(UTC) - timedelta(hours=h)).replace(microsecond=0)


def stop_at_a(route: Route, start: datetime, end: datetime) -> dict[str, Any]:
    for body in (
        ev("arrived", start, checkpoint_id=route.a["id"]),
        ev("released", end),
    ):
        assert route.post(body).status_code == 201
    [stop] = route.stops()
    return stop


def test_a_device_key_is_shown_once_and_stored_as_its_sha256(
    client: TestClient, route: Route, engine: Engine
) -> None:
    response = client.post(
        f"{API}/shipments/{route.id}/device-key",
        json={"valid_days": 3},
        headers=route.exporter.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"key", "expires_at"}
    assert body["key"].startswith("trk_")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=2.9) < expires - datetime.now(UTC) < timedelta(days=3.1)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(text("SELECT * FROM device_keys"))]
    import hashlib

    assert [r["key_hash"] for r in rows] == [hashlib.sha256(body["key"].encode()).hexdigest()]
    assert body["key"][4:20] not in repr(rows)
    bad = client.post(
        f"{API}/shipments/{route.id}/device-key",
        json={"valid_days": 0},
        headers=route.exporter.headers,
    )
    assert_problem(bad, 422)


def test_a_fix_is_stored_with_an_empty_200_by_get_post_and_form(
    client: TestClient, route: Route, engine: Engine
) -> None:
    key = device_key(client, route)
    at = hours_ago(1)
    for method, moment in (("GET", at), ("POST", at + timedelta(seconds=10))):
        response = osmand(client, key, KIRKUK, moment, accuracy=12, method=method)
        assert response.status_code == 200, response.text
        assert response.content == b""
    form = client.post(
        f"{API}/positions/osmand",
        data={
            "id": key,
            "lat": "35.39",
            "lon": "44.37",
            "timestamp": str(int((at + timedelta(seconds=20)).timestamp() * 1000)),  # ms
            "accuracy": "5",
            "speed": "12.5",
            "bearing": "90",  # other OsmAnd fields are ignored
            "batt": "71",
        },
    )
    assert form.status_code == 200, form.text
    with engine.connect() as connection:
        rows = connection.execute(
            select(Position.recorded_at, Position.accuracy_m, Position.speed).order_by(
                Position.recorded_at
            )
        ).all()
    assert [(r.recorded_at.astimezone(UTC), r.accuracy_m, r.speed) for r in rows] == [
        (at, 12, 0),
        (at + timedelta(seconds=10), 12, 0),
        (at + timedelta(seconds=20), 5, 12.5),
    ]


def test_a_fix_sent_again_is_stored_once(client: TestClient, route: Route, engine: Engine) -> None:
    key = device_key(client, route)
    at = hours_ago(1)
    for _ in range(3):
        assert osmand(client, key, KIRKUK, at).status_code == 200
    assert positions(engine) == 1


def test_positions_never_make_events(client: TestClient, route: Route, engine: Engine) -> None:
    key = device_key(client, route)
    for minute in range(5):
        point = offset(KIRKUK, 50_000 - minute * 12_000, 0)
        assert (
            osmand(client, key, point, hours_ago(2) + timedelta(minutes=minute)).status_code == 200
        )
    assert positions(engine) == 5
    assert stored_events(engine) == 0
    assert route.stops() == []
    detail = client.get(f"{API}/shipments/{route.id}", headers=route.driver).json()
    assert detail["status"] == "planned"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "91"}, "lat"),
        ({"lat": "abc"}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"lon": "-181"}, "lon"),
        ({"lon": ""}, "lon"),
        ({"accuracy": "-3"}, "accuracy"),
        ({"accuracy": "inf"}, "accuracy"),
        ({"speed": "fast"}, "speed"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-11-20T08:00:00"}, "timestamp"),  # no offset
        (
            {"timestamp": str(int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))},
            "timestamp",
        ),
        ({"timestamp": "-5"}, "timestamp"),
        ({"timestamp": "1e300"}, "timestamp"),
        # Before the year 1 in UTC: an OverflowError, not a 500.
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        # A device's clock before its first GPS time: no fix of this century.
        ({"timestamp": "0"}, "timestamp"),
        ({"timestamp": "1"}, "timestamp"),
        ({"timestamp": "1e-300"}, "timestamp"),
        ({"timestamp": "1999-12-31T23:59:59Z"}, "timestamp"),
    ],
)
def test_a_bad_fix_is_a_422_problem_and_stores_nothing(
    client: TestClient, route: Route, engine: Engine, params: dict[str, str], field: str
) -> None:
    key = device_key(client, route)
    good = {"id": key, "lat": "35.39", "lon": "44.37", "timestamp": "1764000000"}
    response = client.get(f"{API}/positions/osmand", params={**good, **params})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", field]
    assert key not in response.text
    assert positions(engine) == 0


def test_a_missing_lat_is_a_422(client: TestClient, route: Route, engine: Engine) -> None:
    key = device_key(client, route)
    response = client.get(f"{API}/positions/osmand", params={"id": key, "lon": "44.3"})
    assert_problem(response, 422)
    assert positions(engine) == 0


def test_an_rfc3339_timestamp_is_taken(client: TestClient, route: Route, engine: Engine) -> None:
    key = device_key(client, route)
    response = client.get(
        f"{API}/positions/osmand",
        params={
            "id": key,
            "lat": "35.39",
            "lon": "44.37",
            "timestamp": "2026-11-20T08:00:00+03:00",
        },
    )
    assert response.status_code == 200, response.text
    with engine.connect() as connection:
        at = connection.scalar(select(Position.recorded_at))
    assert at.astimezone(UTC) == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def test_a_trackers_fixes_inside_the_fence_confirm_a_stop_already_stored(
    client: TestClient, route: Route
) -> None:
    start, end = hours_ago(3), hours_ago(2)
    assert stop_at_a(route, start, end)["position_evidence"] == "none"
    key = device_key(client, route)
    # A fix 200 m off, ±40 m, during the stop: the stop is rebuilt there and then.
    assert (
        osmand(
            client, key, offset(KIRKUK, 200, 45), start + timedelta(minutes=20), accuracy=40
        ).status_code
        == 200
    )
    [stop] = route.stops()
    assert stop["position_evidence"] == "confirmed"
    assert stop["anomalies"] == []


def test_a_fix_outside_every_stops_time_changes_nothing(client: TestClient, route: Route) -> None:
    start, end = hours_ago(5), hours_ago(4)
    stop_at_a(route, start, end)
    key = device_key(client, route)
    assert osmand(client, key, KIRKUK, hours_ago(1)).status_code == 200
    assert route.stops()[0]["position_evidence"] == "none"


def test_fixes_before_the_release_tap_corroborate_the_stop_it_closes(
    client: TestClient, route: Route
) -> None:
    """The tracker reports while the truck waits; the stop is written (by the event writer)
    when the driver taps "released", and the writer reads the tracked shipment's fixes."""
    start = hours_ago(3)
    assert route.post(ev("arrived", start, checkpoint_id=route.a["id"])).status_code == 201
    key = device_key(client, route)
    for minute in (30, 60, 90):
        assert (
            osmand(
                client, key, offset(KIRKUK, 100, minute), start + timedelta(minutes=minute)
            ).status_code
            == 200
        )
    assert route.post(ev("released", start + timedelta(minutes=100))).status_code == 201
    [stop] = route.stops()
    assert stop["position_evidence"] == "confirmed"


def test_two_fixes_in_a_row_clearly_elsewhere_contradict_the_stop(
    client: TestClient, route: Route
) -> None:
    start, end = hours_ago(4), hours_ago(2)
    stop_at_a(route, start, end)
    key = device_key(client, route)
    far = offset(KIRKUK, 40_000, 200)
    for minute, point in ((10, KIRKUK), (30, far), (31, far), (60, KIRKUK)):
        assert osmand(client, key, point, start + timedelta(minutes=minute)).status_code == 200
    [stop] = route.stops()
    assert stop["position_evidence"] == "contradicted"
    [anomaly] = stop["anomalies"]
    assert anomaly["code"] == "position_contradicts_checkpoint"
    assert "tracker" in anomaly["detail"]


def test_one_jump_far_away_is_not_an_exit(client: TestClient, route: Route) -> None:
    """Traccar's users know them: a fix hundreds of metres (here 40 km) off that claims a few
    metres of accuracy. One such fix between fixes at the checkpoint contradicts nothing."""
    start, end = hours_ago(4), hours_ago(2)
    stop_at_a(route, start, end)
    key = device_key(client, route)
    for minute, point in ((10, KIRKUK), (30, offset(KIRKUK, 40_000, 10)), (31, KIRKUK)):
        assert (
            osmand(client, key, point, start + timedelta(minutes=minute), accuracy=3).status_code
            == 200
        )
    [stop] = route.stops()
    assert stop["position_evidence"] == "confirmed"
    assert stop["anomalies"] == []


def test_a_revoked_or_replaced_key_is_a_401_and_stores_nothing(
    client: TestClient, route: Route, engine: Engine
) -> None:
    first = device_key(client, route)
    second = device_key(client, route)  # replaces the first
    assert_problem(osmand(client, first, KIRKUK, hours_ago(1)), 401)
    assert osmand(client, second, KIRKUK, hours_ago(1)).status_code == 200
    revoked = client.delete(
        f"{API}/shipments/{route.id}/device-key", headers=route.exporter.headers
    )
    assert revoked.status_code == 204
    assert_problem(osmand(client, second, KIRKUK, hours_ago(0.5)), 401)
    assert positions(engine) == 1


def test_an_expired_key_is_a_401(client: TestClient, route: Route, engine: Engine) -> None:
    key = device_key(client, route)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE device_keys SET expires_at = :past"),
            {"past": datetime.now(UTC) - timedelta(minutes=1)},
        )
    assert_problem(osmand(client, key, KIRKUK, hours_ago(1)), 401)
    assert positions(engine) == 0


@pytest.mark.parametrize("which", ["none", "unknown", "driver_link", "api_key"])
def test_only_a_device_key_sends_positions(
    client: TestClient, route: Route, engine: Engine, which: str
) -> None:
    device_key(client, route)
    api_key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=route.exporter.headers)
    ids = {
        "none": None,
        "unknown": "trk_" + "A" * 43,
        "driver_link": route.driver["Authorization"].removeprefix("Bearer "),
        "api_key": api_key.json()["key"],
    }
    response = osmand(client, ids[which], KIRKUK, hours_ago(1), method="POST")
    assert_problem(response, 401)
    assert positions(engine) == 0


def test_a_cancelled_shipment_takes_no_positions_and_no_new_key(
    client: TestClient, route: Route, engine: Engine
) -> None:
    key = device_key(client, route)
    cancelled = client.post(f"{API}/shipments/{route.id}/cancel", headers=route.exporter.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert_problem(osmand(client, key, KIRKUK, hours_ago(1)), 409)
    again = client.post(f"{API}/shipments/{route.id}/device-key", headers=route.exporter.headers)
    assert_problem(again, 409)
    assert positions(engine) == 0


def test_a_fix_at_null_island_is_a_200_that_stores_nothing(
    client: TestClient, route: Route, engine: Engine
) -> None:
    """lat=0 and lon=0 exactly is a device without a fix (Traccar's filter.zero). It is
    answered 200, or the tracker would resend it forever, and stored nowhere: two of them in
    a row during a stop are no exit clearly elsewhere."""
    start, end = hours_ago(4), hours_ago(2)
    stop_at_a(route, start, end)
    key = device_key(client, route)
    for minute, point in ((10, KIRKUK), (30, (0.0, 0.0)), (31, (0.0, 0.0)), (60, KIRKUK)):
        response = osmand(client, key, point, start + timedelta(minutes=minute))
        assert response.status_code == 200, response.text
        assert response.content == b""
    assert positions(engine) == 2
    [stop] = route.stops()
    assert stop["position_evidence"] == "confirmed"
    assert stop["anomalies"] == []
    # Zero on one axis only is a place (the equator, the prime meridian).
    assert osmand(client, key, (0.0, 44.37), hours_ago(1)).status_code == 200
    assert positions(engine) == 3


@pytest.fixture
def write_transactions(engine: Engine) -> Iterator[list[str]]:
    """One entry for each write transaction that begins (WRITE_OPTION: BEGIN IMMEDIATE on
    SQLite), as tests/organizations/test_password_hashing.py counts them."""
    entries: list[str] = []

    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            entries.append("write")

    event.listen(engine, "begin", on_begin)
    yield entries
    event.remove(engine, "begin", on_begin)


def test_a_bad_device_key_is_refused_without_a_write_transaction(
    client: TestClient, route: Route, engine: Engine, write_transactions: list[str]
) -> None:
    replaced = device_key(client, route)
    key = device_key(client, route)
    write_transactions.clear()
    for bad in ("trk_garbage", "trk_" + "A" * 43, replaced):
        assert_problem(osmand(client, bad, KIRKUK, hours_ago(1)), 401)
    assert write_transactions == []
    assert positions(engine) == 0
    # A good key's fix is written in one.
    assert osmand(client, key, KIRKUK, hours_ago(1)).status_code == 200
    assert write_transactions == ["write"]
    assert positions(engine) == 1


def test_a_bad_device_key_is_answered_at_once_while_the_write_lock_is_held(
    client: TestClient, route: Route, engine: Engine
) -> None:
    if engine.dialect.name != "sqlite" or engine.url.database is None:
        pytest.skip("SQLite's database-wide write lock")
    device_key(client, route)
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert_problem(osmand(client, "trk_garbage", KIRKUK, hours_ago(1)), 401)
        assert time.monotonic() - started < 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("end", ["delivered", "turned_back"])
def test_an_ended_trip_takes_its_buffered_fixes_and_nothing_later_and_no_new_key(
    client: TestClient, route: Route, engine: Engine, end: str
) -> None:
    start = hours_ago(5)
    key = device_key(client, route)
    ended = start + timedelta(hours=2)
    bodies = [ev("arrived", start, checkpoint_id=route.a["id"])]
    if end == "delivered":
        bodies += [ev("released", start + timedelta(minutes=30)), ev("delivered", ended)]
    else:
        bodies += [ev("turned_back", ended)]
    for body in bodies:
        response = route.post(body)
        assert response.status_code == 201, response.text
    detail = client.get(f"{API}/shipments/{route.id}", headers=route.driver).json()
    assert detail["status"] == end
    # Fixes the tracker buffered during the trip, up to the margin after its end, are stored.
    for at in (ended - timedelta(minutes=1), ended + timedelta(minutes=9)):
        assert osmand(client, key, KIRKUK, at).status_code == 200
    assert positions(engine) == 2
    # Later ones are answered 200 (the tracker stops resending them) and stored nowhere.
    for at in (ended + timedelta(minutes=11), hours_ago(1)):
        response = osmand(client, key, KIRKUK, at)
        assert response.status_code == 200, response.text
    assert positions(engine) == 2
    again = client.post(f"{API}/shipments/{route.id}/device-key", headers=route.exporter.headers)
    assert_problem(again, 409)
