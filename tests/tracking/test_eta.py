"""The ETA: the pure sum of the dwell ahead and the road (eta.py) against hand computations
and its properties; its inputs read from a real database (eta_inputs.py); GET /shipments/{id}."""

import math
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.geography import PROVINCE_CAPITALS, Province, great_circle_km
from app.privacy import Thresholds
from app.shipments.models import Shipment, ShipmentStatus
from app.tracking import eta, eta_inputs
from tests.factories import API, admin, make_checkpoint, make_exporter, make_shipment
from tests.tracking.helpers import driver_headers, insert_closed_stops, post_event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# As the app makes them by default (REPORT_MIN_EXPORTERS, REPORT_MIN_STOPS).
THRESHOLDS = Thresholds(min_exporters=3, min_stops=10)


# --- the pure sum -----------------------------------------------------------------------


def test_two_checkpoints_and_an_hour_of_road_add_up_as_computed_by_hand() -> None:
    """{10, 20} + {0, 30}: sums 10, 20, 40, 50, each a quarter; p50 20, p90 50; + 60 min."""
    found = eta.estimate(NOW, [eta.Ahead([20, 10]), eta.Ahead([0, 30])], 60, [60])
    assert found.driving_minutes == 60
    assert (found.p50_minutes, found.p90_minutes) == (80, 110)
    assert found.p50 == NOW + timedelta(minutes=80)
    assert found.p90 == NOW + timedelta(minutes=110)


def test_the_p90_of_the_sum_is_not_the_sum_of_the_p90s() -> None:
    """Two checkpoints, each 0…9 minutes alike: each p90 is 8, but P(sum ≤ 13) = 0.85 and
    P(sum ≤ 14) = 1 − 4·5/200 = 0.9, so the sum's p90 is 14, not 16; its p50 is 9."""
    uniform = list(range(10))
    alone = eta.estimate(NOW, [eta.Ahead(uniform)], 0, [50])
    assert alone.p90_minutes == 8
    both = eta.estimate(NOW, [eta.Ahead(uniform), eta.Ahead(uniform)], 0, [50])
    assert (both.p50_minutes, both.p90_minutes) == (9, 14)


def test_at_a_checkpoint_only_the_dwell_longer_than_the_time_spent_counts() -> None:
    """Dwell 1…100 minutes, 50 already spent: what is left is 1…50 minutes alike, p50 25."""
    assert eta.remaining_dwell(range(1, 101), 50) == [float(m) for m in range(1, 51)]
    found = eta.estimate(NOW, [eta.Ahead(range(1, 101), elapsed_minutes=50)], 0, [50])
    assert (found.p50_minutes, found.p90_minutes) == (25, 45)


def test_a_truck_held_longer_than_nearly_all_gets_the_residual_of_the_longest() -> None:
    """500 minutes spent where no truck stayed over 100: the longest five (96…100) less the
    shortest of them, 0…4 — never a negative wait, never nothing at all."""
    assert eta.remaining_dwell(range(1, 101), 500) == [0, 1, 2, 3, 4]
    assert eta.remaining_dwell(range(1, 101), 97) == [0, 1, 2, 3, 4]
    assert eta.remaining_dwell(range(1, 101), 94) == [1, 2, 3, 4, 5, 6]


def test_a_negative_or_not_finite_dwell_is_no_wait_or_left_out() -> None:
    """A clock that ran backwards gives no wait, never an earlier arrival; inf and NaN are
    left out."""
    assert eta.remaining_dwell([-5.0, math.nan, math.inf, 10.0], None) == [0.0, 10.0]
    found = eta.estimate(NOW, [eta.Ahead([-5.0, math.inf, 10.0])], 0, [50])
    assert (found.p50_minutes, found.p90_minutes) == (0, 10)


def test_many_samples_stand_as_their_quantiles_rounded_to_the_minute() -> None:
    samples = [m / 10 for m in range(10_000)]  # 0.0 … 999.9
    atoms = eta.atoms(samples)
    assert len(atoms) == eta.ATOMS
    assert atoms[0] == round(samples[25])
    assert atoms[-1] == round(samples[9975])
    assert list(atoms) == sorted(atoms)
    assert list(eta.atoms([2.4, 0.6])) == [1, 2]


def test_a_speed_that_is_not_positive_is_refused() -> None:
    for speeds in ([], [0.0], [50.0, -1.0], [math.inf]):
        with pytest.raises(ValueError, match="speed"):
            eta.estimate(NOW, [], 10, speeds)


samples = st.lists(st.integers(0, 3000), min_size=1, max_size=40)
checkpoints = st.lists(samples, max_size=5)
elapsed = st.none() | st.integers(0, 4000)
km = st.floats(0, 2000, allow_nan=False)
speeds = st.lists(st.floats(5, 130, allow_nan=False), min_size=1, max_size=30)


def _ahead(lists: list[list[int]], first_elapsed: int | None) -> list[eta.Ahead]:
    return [eta.Ahead(s, first_elapsed if i == 0 else None) for i, s in enumerate(lists)]


@settings(max_examples=300, deadline=None)
@given(
    lists=checkpoints,
    extra=samples,
    where=st.integers(0, 5),
    first=elapsed,
    km=km,
    speeds=speeds,
)
def test_another_checkpoint_ahead_never_makes_the_eta_earlier(
    lists: list[list[int]],
    extra: list[int],
    where: int,
    first: int | None,
    km: float,
    speeds: list[float],
) -> None:
    before = eta.estimate(NOW, _ahead(lists, first), km, speeds)
    # Anywhere after the one the truck may be at now (that one stays first).
    at = min(max(where, 1 if first is not None and lists else 0), len(lists))
    after = eta.estimate(NOW, _ahead([*lists[:at], extra, *lists[at:]], first), km, speeds)
    assert after.p50 >= before.p50
    assert after.p90 >= before.p90


@settings(max_examples=300, deadline=None)
@given(lists=checkpoints, first=elapsed, km=km, more=km, speeds=speeds)
def test_more_road_never_makes_the_eta_earlier(
    lists: list[list[int]], first: int | None, km: float, more: float, speeds: list[float]
) -> None:
    ahead = _ahead(lists, first)
    shorter, longer = (
        eta.estimate(NOW, ahead, km, speeds),
        eta.estimate(NOW, ahead, km + more, speeds),
    )
    assert longer.p50 >= shorter.p50
    assert longer.p90 >= shorter.p90


@settings(max_examples=300, deadline=None)
@given(lists=checkpoints, first=elapsed, km=km, speeds=speeds)
def test_p50_is_never_after_p90_nor_before_the_road_is_driven(
    lists: list[list[int]], first: int | None, km: float, speeds: list[float]
) -> None:
    found = eta.estimate(NOW, _ahead(lists, first), km, speeds)
    fastest = min(eta.driving_minutes(km, s) for s in speeds)
    assert NOW + timedelta(minutes=round(fastest) - 1) <= found.p50 <= found.p90
    assert found.driving_minutes == statistics.median(eta.driving_minutes(km, s) for s in speeds)
    assert found == eta.estimate(NOW, _ahead(lists, first), km, speeds)  # deterministic


@settings(max_examples=300, deadline=None)
@given(
    dwell=st.lists(st.integers(0, 3000), min_size=eta.TAIL_SAMPLES, max_size=400),
    spent=st.integers(0, 3000),
)
def test_time_spent_at_a_checkpoint_never_shortens_the_whole_stay(
    dwell: list[int], spent: int
) -> None:
    """Given `spent` minutes there, the stay's quantiles (spent + what is left) are never
    shorter than the unconditioned ones, nor is what is left negative; with nothing spent
    and every sample positive, nothing changes."""
    left = eta.remaining_dwell(dwell, spent)
    assert left
    assert min(left) >= 0
    if sum(d > spent for d in dwell) >= eta.TAIL_SAMPLES:
        assert sorted(left) == sorted(d - spent for d in dwell if d > spent)
    for q in eta.QUANTILES:
        whole = eta.quantile_minutes(eta.dwell_distribution([eta.Ahead(dwell)]), q)
        rest = eta.quantile_minutes(eta.dwell_distribution([eta.Ahead(dwell, spent)]), q)
        if sum(d > spent for d in dwell) >= eta.TAIL_SAMPLES:
            assert spent + rest >= whole
    positive = [d + 1 for d in dwell]
    assert eta.estimate(NOW, [eta.Ahead(positive, 0)], 0, [50]) == eta.estimate(
        NOW, [eta.Ahead(positive)], 0, [50]
    )


# --- the inputs, from a real database ---------------------------------------------------


def _delivered(
    engine: Engine, shipment: dict[str, Any], departed: datetime, transit: float, dwell: float
) -> None:
    """Mark a shipment delivered after `transit` minutes, `dwell` of them at its route's first
    checkpoint."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(Shipment)
            .where(Shipment.id == uuid.UUID(shipment["id"]))
            .values(
                status=ShipmentStatus.delivered,
                departed_at=departed,
                delivered_at=departed + timedelta(minutes=transit),
                transit_minutes=transit,
            )
        )
    checkpoint_id = shipment["route"][0]
    insert_closed_stops(
        engine, shipment, checkpoint_id, [dwell], departed + timedelta(minutes=transit / 2)
    )


def _eta(engine: Engine, shipment_id: str, now: datetime) -> Any:
    with Session(engine) as session:
        shipment = session.get_one(Shipment, uuid.UUID(shipment_id))
        return eta_inputs.shipment_eta(session, shipment, now, THRESHOLDS)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _at(now: datetime, minutes: float) -> str:
    return (now + timedelta(minutes=minutes)).isoformat()


def _event(type_: str, when: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": when, **fields}


@pytest.fixture
def world(client: TestClient, engine: Engine) -> dict[str, Any]:
    """Checkpoints A (Kirkuk: 25 stops of its own in the last 30 days, and 40 older), B
    (Kirkuk: 3 stops: pooled with A's) and C (Basra: none; Basra has no other: the
    network's), and a shipment Sulaymaniyah → Baghdad planned over A, B, C."""
    boss = admin(client)
    a = make_checkpoint(client, boss, province="kirkuk", latitude=35.4, longitude=44.3)
    b = make_checkpoint(client, boss, province="kirkuk", latitude=34.9, longitude=44.6)
    c = make_checkpoint(client, boss, province="basra", latitude=33.6, longitude=44.5)
    exporter = make_exporter(client, boss)
    holder = make_shipment(client, exporter, reference="history")
    now = _now()
    insert_closed_stops(
        engine, holder, a["id"], [float(m) for m in range(30, 55)], now - timedelta(days=2)
    )
    insert_closed_stops(engine, holder, a["id"], [900.0] * 40, now - timedelta(days=34))  # too old
    insert_closed_stops(engine, holder, b["id"], [5.0, 6.0, 7.0], now - timedelta(hours=3))
    trip = make_shipment(client, exporter, route=[a["id"], b["id"], c["id"]], distance_km=300)
    return {"a": a, "b": b, "c": c, "exporter": exporter, "trip": trip, "now": now}


def test_a_truck_at_its_first_checkpoint_waits_there_then_at_the_rest_of_its_route(
    client: TestClient, engine: Engine, world: dict[str, Any]
) -> None:
    now, trip, exporter = world["now"], world["trip"], world["exporter"]
    for body in (
        _event("departed", _at(now, -90)),
        _event("arrived", _at(now, -40), checkpoint_id=world["a"]["id"]),
    ):
        assert post_event(client, trip["id"], body, exporter.headers).status_code == 201

    found = _eta(engine, trip["id"], now)

    a_own = [float(m) for m in range(30, 55)]
    pooled = sorted([*a_own, 5.0, 6.0, 7.0])
    network = pooled  # every stop closed in the last 30 days is A's or B's
    ahead = found.basis.checkpoints_ahead
    assert [(c.code, c.source, c.samples) for c in ahead] == [
        (world["a"]["code"], "checkpoint", 25),
        (world["b"]["code"], "province", 28),
        (world["c"]["code"], "network", 28),
    ]
    assert ahead[0].elapsed_minutes == 40
    assert ahead[1].elapsed_minutes is None
    # No delivered trip anywhere: the documented constant speed.
    assert (found.basis.speed_source, found.basis.speed_kmh) == ("default", 50.0)
    # At A: the legs A → B → C → Baghdad of Sulaymaniyah → A → B → C → Baghdad, × 300 km.
    points = [
        PROVINCE_CAPITALS[Province.sulaymaniyah],
        (35.4, 44.3),
        (34.9, 44.6),
        (33.6, 44.5),
        PROVINCE_CAPITALS[Province.baghdad],
    ]
    legs = [great_circle_km(p, q) for p, q in zip(points, points[1:], strict=False)]
    km = 300 * sum(legs[1:]) / sum(legs)
    assert found.basis.remaining_km == round(km, 1)
    expected = eta.estimate(
        now, [eta.Ahead(a_own, 40), eta.Ahead(pooled), eta.Ahead(network)], km, [50]
    )
    assert (found.p50, found.p90) == (expected.p50, expected.p90)
    assert found.computed_at == now


def test_after_leaving_a_checkpoint_the_road_driven_since_is_taken_off(
    client: TestClient, engine: Engine, world: dict[str, Any]
) -> None:
    """Released at A 30 minutes ago at the default 50 km/h: 25 km of the leg to B are behind."""
    now, trip, exporter = world["now"], world["trip"], world["exporter"]
    for body in (
        _event("departed", _at(now, -120)),
        _event("arrived", _at(now, -80), checkpoint_id=world["a"]["id"]),
        _event("released", _at(now, -30)),
    ):
        assert post_event(client, trip["id"], body, exporter.headers).status_code == 201
    found = _eta(engine, trip["id"], now)
    assert [c.code for c in found.basis.checkpoints_ahead] == [
        world["b"]["code"],
        world["c"]["code"],
    ]
    at_a = _eta(engine, trip["id"], now - timedelta(minutes=30))  # just released
    assert found.basis.remaining_km == pytest.approx(at_a.basis.remaining_km - 25, abs=0.1)


def _corridor(client: TestClient, engine: Engine, world: dict[str, Any], km: list[float]) -> float:
    """Trips Sulaymaniyah → A → Baghdad of these km, delivered in 300 minutes: 90 on the
    road to A, 60 at A, 150 from A's release to the delivery (the last leg). Returns the
    share of their km before A (straight-line legs)."""
    now = world["now"]
    for n, distance in enumerate(km):
        done = make_shipment(
            client, world["exporter"], route=[world["a"]["id"]], distance_km=distance
        )
        _delivered(engine, done, now - timedelta(days=1 + n), 300, 60)
    to_a = great_circle_km(PROVINCE_CAPITALS[Province.sulaymaniyah], (35.4, 44.3))
    from_a = great_circle_km((35.4, 44.3), PROVINCE_CAPITALS[Province.baghdad])
    return to_a / (to_a + from_a)


def test_the_corridors_speeds_are_its_trips_km_over_their_time_on_the_road(
    client: TestClient, engine: Engine, world: dict[str, Any]
) -> None:
    """Five trips, four of 200 km and one of 300: their speeds before the last checkpoint are
    their km before it over their 90 minutes on the road to it; the last leg is its 150
    minutes, not its km. The road's time is as uncertain as those speeds; the basis shows
    their median."""
    share = _corridor(client, engine, world, [300, 200, 200, 200, 200])
    now = world["now"]
    old = make_shipment(client, world["exporter"], route=[world["a"]["id"]], distance_km=900)
    _delivered(engine, old, now - timedelta(days=40), 300, 60)  # left before the window
    post_event(
        client, world["trip"]["id"], _event("departed", _at(now, -5)), world["exporter"].headers
    )
    found = _eta(engine, world["trip"]["id"], now)
    assert (found.basis.speed_source, found.basis.speed_trips) == ("corridor", 5)
    assert found.basis.last_leg_trips == 5
    speeds = [300 * share / 1.5, *[200 * share / 1.5] * 4]
    assert found.basis.speed_kmh == round(200 * share / 1.5, 1)
    with Session(engine) as session:
        exporter = uuid.UUID(world["trip"]["organization_id"])
        trip = eta_inputs.Trip("sulaymaniyah", "baghdad", 300, now, [], [], exporter)
        alone = eta_inputs.trip_eta(session, trip, now, THRESHOLDS)
    assert alone is not None
    # No route: one leg of 300 km at those speeds, the last leg's 150 minutes (its km counted
    # twice), and the corridor's one stop a trip with the network's dwell.
    network = sorted([*range(30, 55), 5, 6, 7, *[60] * 5])
    expected = eta.estimate(now, [eta.Ahead(network), eta.Ahead([150] * 5)], 300, speeds)
    assert (alone.p50, alone.p90) == (expected.p50, expected.p90)


def test_on_the_last_leg_only_its_measured_time_left_counts(
    client: TestClient, engine: Engine, world: dict[str, Any]
) -> None:
    """Released at its last checkpoint 100 minutes ago, where last legs took 150: 50 left."""
    _corridor(client, engine, world, [200] * 5)
    now, exporter = world["now"], world["exporter"]
    trip = make_shipment(client, exporter, route=[world["a"]["id"]], distance_km=200)
    for body in (
        _event("departed", _at(now, -300)),
        _event("arrived", _at(now, -200), checkpoint_id=world["a"]["id"]),
        _event("released", _at(now, -100)),
    ):
        assert post_event(client, trip["id"], body, exporter.headers).status_code == 201
    found = _eta(engine, trip["id"], now)
    assert found.basis.checkpoints_ahead == []
    assert found.basis.remaining_km == 0
    assert found.p50 == found.p90 == now + timedelta(minutes=50)


def test_a_shipment_without_a_route_expects_its_corridors_usual_stops(
    client: TestClient, engine: Engine, world: dict[str, Any]
) -> None:
    share = _corridor(client, engine, world, [200] * 5)  # one stop a trip
    now = world["now"]
    loose = make_shipment(client, world["exporter"], distance_km=250)
    post_event(client, loose["id"], _event("departed", _at(now, -5)), world["exporter"].headers)
    found = _eta(engine, loose["id"], now)
    assert found.basis.route_known is False
    assert found.basis.checkpoints_ahead == []
    assert found.basis.unplanned_stops == 1
    # The network's dwell: the 28 stops of A and B of the world, and the five trips' 60s.
    network = sorted([*range(30, 55), 5, 6, 7, *[60] * 5])
    # One leg, Sulaymaniyah → Baghdad, 250 km, 5 minutes of it driven at the median speed.
    speed = 200 * share / 1.5
    km = 250 - 5 / 60 * speed
    assert found.basis.remaining_km == round(km, 1)
    expected = eta.estimate(now, [eta.Ahead(network), eta.Ahead([150] * 5)], km, [speed] * 5)
    assert (found.p50, found.p90) == (expected.p50, expected.p90)


def test_the_samples_are_read_once_per_five_minutes(
    client: TestClient, engine: Engine, world: dict[str, Any]
) -> None:
    now, trip = world["now"], world["trip"]
    post_event(client, trip["id"], _event("departed", _at(now, -5)), world["exporter"].headers)
    slot = datetime.fromtimestamp(
        (now.timestamp() // eta_inputs.CACHE_SECONDS) * eta_inputs.CACHE_SECONDS, UTC
    )
    first = _eta(engine, trip["id"], slot)
    holder = make_shipment(client, world["exporter"])
    insert_closed_stops(engine, holder, world["a"]["id"], [500.0] * 30, slot - timedelta(hours=1))
    same_slot = _eta(engine, trip["id"], slot + timedelta(seconds=eta_inputs.CACHE_SECONDS - 1))
    assert same_slot.basis.checkpoints_ahead[0].samples == 25
    next_slot = _eta(engine, trip["id"], slot + timedelta(seconds=eta_inputs.CACHE_SECONDS))
    assert next_slot.basis.checkpoints_ahead[0].samples == 55
    assert next_slot.p50 > first.p50


def test_without_a_single_measured_stop_there_is_no_eta(client: TestClient, engine: Engine) -> None:
    boss = admin(client)
    a = make_checkpoint(client, boss)
    exporter = make_exporter(client, boss)
    trip = make_shipment(client, exporter, route=[a["id"]])
    now = _now()
    post_event(client, trip["id"], _event("departed", _at(now, -5)), exporter.headers)
    assert _eta(engine, trip["id"], now) is None
    got = client.get(f"{API}/shipments/{trip['id']}", headers=exporter.headers)
    assert got.status_code == 200
    assert got.json()["eta"] is None


def test_get_shipment_has_an_eta_on_the_road_and_null_when_planned_or_delivered(
    client: TestClient, world: dict[str, Any]
) -> None:
    now, trip, exporter = world["now"], world["trip"], world["exporter"]
    url = f"{API}/shipments/{trip['id']}"
    assert client.get(url, headers=exporter.headers).json()["eta"] is None  # planned
    driver = driver_headers(client, exporter, trip)
    post_event(client, trip["id"], _event("departed", _at(now, -60)), driver)
    post_event(
        client, trip["id"], _event("arrived", _at(now, -20), checkpoint_id=world["a"]["id"]), driver
    )

    for headers in (exporter.headers, driver):  # the driver link sees it too
        body = client.get(url, headers=headers).json()
        assert body["status"] == "at_checkpoint"
        found = body["eta"]
        assert found is not None
        assert datetime.fromisoformat(found["p50"]) <= datetime.fromisoformat(found["p90"])
        assert datetime.fromisoformat(found["p50"]) > datetime.fromisoformat(found["computed_at"])
        assert [c["source"] for c in found["basis"]["checkpoints_ahead"]] == [
            "checkpoint",
            "province",
            "network",
        ]
        assert found["basis"]["method"]
    page = client.get(f"{API}/driver/shipment", headers=driver)  # the driver's page's own
    assert page.status_code == 200
    assert page.json()["eta"] is not None

    post_event(client, trip["id"], _event("released", _at(now, -10)), driver)
    post_event(client, trip["id"], _event("delivered", _at(now, -1)), driver)
    assert client.get(url, headers=exporter.headers).json()["eta"] is None


# --- privacy: what other exporters' stops and trips an ETA may show (app/privacy.py) --------


@pytest.fixture
def road(client: TestClient) -> dict[str, Any]:
    """Checkpoint X, the only one of its province (Duhok) and of the network; exporter A's
    trip over it, on the road; and four other exporters, each with a shipment to hold stops."""
    boss = admin(client)
    x = make_checkpoint(client, boss, province="duhok")
    a = make_exporter(client, boss)
    trip = make_shipment(client, a, route=[x["id"]], distance_km=200)
    now = _now()
    assert post_event(client, trip["id"], _event("departed", _at(now, -60)), a.headers).status_code
    others: dict[str, Any] = {}
    for name in "BCDE":
        exporter = make_exporter(client, boss)
        others[name] = make_shipment(client, exporter, reference=f"history {name}")
        others[f"{name}_actor"] = exporter
    own = make_shipment(client, a, reference="history A")
    return {"x": x, "a": a, "boss": boss, "trip": trip, "own": own, "now": now, **others}


def _settled(now: datetime, days_before: int = 0) -> datetime:
    """Noon of the latest day whose stops others may count (it ended two days before today
    began: eta_inputs.SETTLE), or of a day `days_before` that."""
    today = datetime.combine(now.date(), datetime.min.time(), UTC)
    return today - eta_inputs.SETTLE - timedelta(days=1 + days_before, hours=-12)


def _x(found: Any) -> tuple[str, int] | None:
    """The source and samples of the ETA's dwell at its one checkpoint, None without one."""
    if found is None:
        return None
    (x,) = found.basis.checkpoints_ahead
    return x.source, x.samples


def _trip_over(road: dict[str, Any], checkpoint_id: str, exporter: str = "trip") -> Any:
    """A trip of `exporter`'s organisation (A's by default) over one checkpoint, just left."""
    return eta_inputs.Trip(
        "erbil",
        "baghdad",
        200,
        road["now"],
        [uuid.UUID(checkpoint_id)],
        [],
        uuid.UUID(road[exporter]["organization_id"]),
    )


def _eta_of(engine: Engine, trip: Any, now: datetime) -> Any:
    with Session(engine) as session:
        return eta_inputs.trip_eta(session, trip, now, THRESHOLDS)


def test_one_other_exporters_waits_never_show_in_an_eta(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """B alone stopped at X 30 times on a settled day, and is the whole province and network:
    A's ETA has nothing it may be built from (null), in GET /shipments/{id} too. A's own stops
    need no cover: with 25 of them, the ETA is built from those, and from none of B's."""
    now, x = road["now"], road["x"]["id"]
    insert_closed_stops(engine, road["B"], x, [600.0] * 30, _settled(now))
    assert _eta(engine, road["trip"]["id"], now) is None
    got = client.get(f"{API}/shipments/{road['trip']['id']}", headers=road["a"].headers)
    assert got.status_code == 200
    assert got.json()["eta"] is None

    own = [float(m) for m in range(30, 55)]
    insert_closed_stops(engine, road["own"], x, own, _settled(now))
    later = now + timedelta(seconds=eta_inputs.CACHE_SECONDS)
    found = _eta(engine, road["trip"]["id"], later)
    assert _x(found) == ("checkpoint", 25)
    expected = eta.estimate(later, [eta.Ahead(own)], found.basis.remaining_km, [50])
    assert (found.p50, found.p90) == (expected.p50, expected.p90)


def test_a_days_cell_shows_only_when_its_other_exporters_stops_pass(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """At X on a settled day: B 4 stops, C 3, D 3 (10 from three others: it passes); the day
    before, B alone 12 (it fails, and is left out whole). A has 20 of its own."""
    now, x = road["now"], road["x"]["id"]
    for name, count in (("B", 4), ("C", 3), ("D", 3)):
        insert_closed_stops(engine, road[name], x, [100.0] * count, _settled(now))
    insert_closed_stops(engine, road["B"], x, [900.0] * 12, _settled(now, 1))
    insert_closed_stops(engine, road["own"], x, [20.0] * 20, _settled(now, 2))
    found = _eta(engine, road["trip"]["id"], now)
    assert _x(found) == ("checkpoint", 30)
    expected = eta.estimate(
        now, [eta.Ahead([20.0] * 20 + [100.0] * 10)], found.basis.remaining_km, [50]
    )
    assert (found.p50, found.p90) == (expected.p50, expected.p90)


def test_an_exporters_own_stops_are_no_cover_for_the_others_in_its_cell(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """At X on a settled day: A 10 stops, B 5, C 5. To A, the others are two exporters (B and
    C): it could take its own 10 away and read theirs, so the cell is not shown to A. To E, a
    third party, the three exporters' 20 stops pass."""
    now, x = road["now"], road["x"]["id"]
    insert_closed_stops(engine, road["own"], x, [10.0] * 10, _settled(now))
    insert_closed_stops(engine, road["B"], x, [200.0] * 5, _settled(now))
    insert_closed_stops(engine, road["C"], x, [300.0] * 5, _settled(now))
    to_a = _eta_of(engine, _trip_over(road, x), now)
    to_e = _eta_of(engine, _trip_over(road, x, "E"), now)
    assert _x(to_e) == ("checkpoint", 20)
    # A's 10 only: too few for X, for Duhok, and for the network alike.
    assert _x(to_a) == ("network", 10)


def test_one_truck_that_stopped_today_never_moves_the_eta_today_or_after(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """A settled day's cell passes (B, C, D: 12 stops). E's one stop today, of 5,000 minutes,
    changes nothing: not in the next five minutes (today is not a cell until it is over and
    settled), nor days later (its day, one stop of one exporter, fails). Two ETAs never
    differ by it."""
    now, x = road["now"], road["x"]["id"]
    if (now + timedelta(minutes=10)).date() != now.date():
        now -= timedelta(minutes=15)  # the first two ETAs on one UTC day
    for name in "BCD":
        insert_closed_stops(engine, road[name], x, [100.0, 110.0, 120.0, 130.0], _settled(now))
    insert_closed_stops(engine, road["own"], x, [60.0] * 10, _settled(now))
    shown = [60.0] * 10 + [100.0, 110.0, 120.0, 130.0] * 3
    insert_closed_stops(engine, road["E"], x, [5000.0], now)
    for later in (now, now + timedelta(minutes=5), now + timedelta(days=4)):
        found = _eta(engine, road["trip"]["id"], later)
        assert _x(found) == ("checkpoint", 22), later
        # The same waits: only the road left (driven since) differs.
        expected = eta.estimate(later, [eta.Ahead(shown)], found.basis.remaining_km, [50])
        assert (found.p50, found.p90) == (expected.p50, expected.p90), later


def test_a_days_stops_count_for_others_only_once_the_day_has_settled(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """Today at X: C, D and E 4 stops each (a cell that passes). A phone may still sync a
    stop of today for two days after it (events later than that are flagged backdated), so
    the cell is not shown today, nor two days on; on the third, settled, it is."""
    now, x = road["now"], road["x"]["id"]
    insert_closed_stops(engine, road["own"], x, [60.0] * 20, now - timedelta(hours=1))
    stopped = now - timedelta(minutes=30)
    for name in "CDE":
        insert_closed_stops(engine, road[name], x, [200.0] * 4, stopped)
    trip = _trip_over(road, x)
    # The stops' own UTC day: just after midnight, that is yesterday.
    today = datetime.combine(stopped.date(), datetime.min.time(), UTC)
    for at, samples in (
        (now, 20),
        (today + timedelta(days=2, hours=23), 20),
        (today + timedelta(days=3), 32),
    ):
        assert _x(_eta_of(engine, trip, at)) == ("checkpoint", samples), at


def test_a_province_falls_back_only_to_its_checkpoints_cells_that_pass(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """In Duhok on a settled day: at X, B 4, C 3, D 3 stops and A's 10; at Y, E alone 1 of
    5,000 minutes. An ETA over Z (no stops: its province's) must not be X's pool plus E's
    stop, or the two ETAs would differ by exactly that one stop: Y's cell fails on its own,
    whatever the province's day holds."""
    now, x = road["now"], road["x"]["id"]
    y = make_checkpoint(client, road["boss"], province="duhok")["id"]
    z = make_checkpoint(client, road["boss"], province="duhok")["id"]
    for name, count in (("B", 4), ("C", 3), ("D", 3)):
        insert_closed_stops(engine, road[name], x, [100.0] * count, _settled(now))
    insert_closed_stops(engine, road["own"], x, [20.0] * 10, _settled(now))
    insert_closed_stops(engine, road["E"], y, [5000.0], _settled(now))
    assert _x(_eta_of(engine, _trip_over(road, x), now)) == ("checkpoint", 20)
    assert _x(_eta_of(engine, _trip_over(road, z), now)) == ("province", 20)


def test_the_corridors_speeds_come_only_from_cells_of_enough_other_exporters(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """B alone delivered 10 trips on A's corridor on a settled day: A's ETA drives at the
    default speed, not B's. Once C and D have delivered 5 each that day too, the corridor's
    20 trips (three exporters) give its speed."""
    now, x = road["now"], road["x"]["id"]

    def deliver(name: str, count: int, **corridor: str) -> None:
        for _ in range(count):
            done = make_shipment(
                client, road[f"{name}_actor"], route=[x], distance_km=200, **corridor
            )
            _delivered(engine, done, _settled(now) - timedelta(minutes=300), 300, 60)

    insert_closed_stops(engine, road["own"], x, [30.0] * 20, _settled(now))  # waits A may see
    deliver("B", 10)
    found = _eta(engine, road["trip"]["id"], now)
    assert found.basis.speed_source == "default"
    deliver("C", 5)
    deliver("D", 5)
    later = now + timedelta(seconds=eta_inputs.CACHE_SECONDS)
    found = _eta(engine, road["trip"]["id"], later)
    assert (found.basis.speed_source, found.basis.speed_trips) == ("corridor", 20)


def test_every_corridors_speeds_are_a_union_of_corridor_cells_that_pass(
    client: TestClient, engine: Engine, road: dict[str, Any]
) -> None:
    """A's corridor (Erbil → Baghdad) has no trips. On a settled day B, C and D delivered 4
    each from Sulaymaniyah to Baghdad (12: a cell that passes), and E alone 1 from Duhok to
    Basra: the network's speeds are the 12, never 13 (E's trip would be the difference
    between this ETA and one on the busy corridor)."""
    now, x = road["now"], road["x"]["id"]
    insert_closed_stops(engine, road["own"], x, [30.0] * 20, _settled(now))

    def deliver(name: str, count: int, origin: str, destination: str) -> None:
        for _ in range(count):
            done = make_shipment(
                client,
                road[f"{name}_actor"],
                route=[x],
                distance_km=200,
                origin_province=origin,
                destination_province=destination,
            )
            _delivered(engine, done, _settled(now) - timedelta(minutes=300), 300, 60)

    for name in "BCD":
        deliver(name, 4, "sulaymaniyah", "baghdad")
    deliver("E", 1, "duhok", "basra")
    found = _eta_of(engine, _trip_over(road, x), now)
    assert (found.basis.speed_source, found.basis.speed_trips) == ("network", 12)


def test_a_read_cut_short_never_shows_a_part_of_a_day(
    client: TestClient, engine: Engine, road: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads stop at MAX_SAMPLES (here 30) rows. At X, B, C and D stopped 4 times each on a
    settled day, and 8 times each the day before (B's the shortest, D's the longest): 36
    stops. X's read (latest arrivals first) gets the day's 12 and 18 of the day before (B's
    8, C's 8, D's 2: enough to pass, were they a whole day). It cannot tell which days it
    read whole, so it shows none of the others'. The network's read (latest closed first)
    got the later day whole: its 12 are shown, no part of the day before."""
    monkeypatch.setattr(eta_inputs, "MAX_SAMPLES", 30)
    now, x = road["now"], road["x"]["id"]
    for name, minutes in (("B", 40.0), ("C", 50.0), ("D", 60.0)):
        insert_closed_stops(engine, road[name], x, [10.0] * 4, _settled(now))
        insert_closed_stops(engine, road[name], x, [minutes] * 8, _settled(now, 1))
    found = _eta(engine, road["trip"]["id"], now)
    assert _x(found) == ("network", 12)
    expected = eta.estimate(now, [eta.Ahead([10.0] * 12)], found.basis.remaining_km, [50])
    assert (found.p50, found.p90) == (expected.p50, expected.p90)


def test_a_long_stay_cut_from_a_read_keeps_its_day_from_being_shown(
    client: TestClient, engine: Engine, road: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads stop at 22 rows. On a settled day at X: B, C and D 4 short stops each, and C one
    of three days; three days before, A 10 of its own. X's read, latest arrivals first, gets
    the 12 short ones, the long one and 9 of A's: the oldest arrival it read is three days
    before that day, and a stop may stay up to LONGEST_DWELL (7 days), so a stop of that day
    that arrived earlier still may be unread: X shows A's 9 only (too few). The network's
    read, latest closed first, gets that day whole (13) and 9 of A's: 22, every other
    exporter's stop of a whole day."""
    monkeypatch.setattr(eta_inputs, "MAX_SAMPLES", 22)
    now, x = road["now"], road["x"]["id"]
    insert_closed_stops(engine, road["own"], x, [5.0] * 10, _settled(now, 3))
    for name in "BCD":
        insert_closed_stops(engine, road[name], x, [30.0] * 4, _settled(now))
    insert_closed_stops(engine, road["C"], x, [3 * 24 * 60.0], _settled(now))
    found = _eta(engine, road["trip"]["id"], now)
    assert _x(found) == ("network", 22)
