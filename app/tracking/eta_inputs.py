"""The ETA's database side: what eta.py needs for a shipment on the road, read and cached.

- The checkpoints ahead: the planned route (route_points, in order) after the last route
  checkpoint the truck has stopped at; the stop it is at now (open) counts as "at it now",
  its dwell conditioned on the minutes already spent. A stop off the route does not move
  the truck along it. Without a route, the checkpoints ahead are not known: the trip is
  given the corridor's mean number of stops per delivered trip (less those already made),
  each with the network's dwell — a rough ETA, flagged `route_known: false` in its basis.
- Each checkpoint's dwell: the dwell minutes of its stops closed in the WINDOW (30 days)
  before `now` that the shipment's exporter may see (Whose rows, below; the latest
  MAX_SAMPLES of them at most). With fewer than MIN_STOPS of them,
  its province's checkpoints pooled; failing that, every checkpoint's (the network). If the
  whole network closed no stop in the window there is nothing to measure an ETA by: `None`
  (GET /shipments/{id} shows `eta: null`).
- The road, split at the last route checkpoint. The last leg (the last stop's release → the
  delivery: driving into the city, finding the consignee, the handover) is not driving at
  road speed: its minutes are measured over the corridor's trips, as one more distribution
  of the sum, conditioned on the minutes since the release once the truck is on it. Before
  it, the speed without delay, trip by trip (the km before the trip's last checkpoint over
  its minutes on the road before then: transit less its stops' dwell and its last leg): the
  road is as uncertain as those trips' speeds (eta.py). Both over the corridor's (origin →
  destination province) trips delivered in the WINDOW with a known distance that the
  exporter may see; fewer than MIN_TRIPS such trips: every corridor's; fewer again,
  DEFAULT_SPEED_KMH for the whole road. A shipment without a route drives all its km and
  adds a last leg (its few km counted twice: the safe side).
- The kilometres left: the shipment's distance × the share of its route's straight-line legs
  still ahead (origin's provincial capital → each route checkpoint → destination's capital),
  less what the truck has driven since it left its last checkpoint (at the median speed,
  never more than the leg it is on). Without a distance, the legs' own length times the road
  detour factor (app/geography.py); without coordinates, the legs count as equal.

Whose rows: the exporter's own of the window up to `now`, and other exporters' only by
whole cells, one checkpoint's (corridor's) settled UTC day, where the other exporters' rows
alone pass the report thresholds (app/privacy.py, `cells_beside_own`; Audience). A
province's or the network's pool is a union of its checkpoints' cells. One other exporter's
waits never show, and two ETAs never differ by one truck that stopped in between. The
window: the WINDOW (30 days) of days that ended SETTLE (2 days) before today began.

The samples are cached per process for CACHE_SECONDS, keyed by database, checkpoint (or
province, network, corridor) and the CACHE_SECONDS-long slot that `now` falls in: the
same `now` always reads the same data, and GET /shipments/{id} reads each checkpoint's 30
days of stops at most once per slot, not once per request.
"""

import math
import statistics
import threading
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app import privacy
from app.checkpoints.models import Checkpoint
from app.geography import PROVINCE_CAPITALS, ROAD_DETOUR_FACTOR, Province, great_circle_km
from app.shipments.models import RoutePoint, Shipment, ShipmentStatus
from app.tracking import eta
from app.tracking.models import Stop
from app.tracking.schemas import EtaBasis, EtaCheckpoint, EtaRead

WINDOW = timedelta(days=30)
# Stops are found by arrival (ix_stops_checkpoint_arrived): one that arrived this long
# before the window and closed inside it is left out.
LONGEST_DWELL = timedelta(days=7)
# As long as a phone's events may come late without being flagged backdated (timeline.py).
SETTLE = timedelta(days=2)
# Trips are found by departure: a longer one is left out (see _trip_speeds).
LONGEST_TRIP = timedelta(days=7)
MIN_STOPS = 20
MIN_TRIPS = 5
# The latest this many stops (trips) of the window at most: see _samples.
MAX_SAMPLES = 5000
MAX_TRIPS = 2000
# Trucks on Iraq's inter-city roads, towns and checkpoint queues aside: used only when no
# delivered trip of the last 30 days has a known distance.
DEFAULT_SPEED_KMH = 50.0
CACHE_SECONDS = 300
_V = TypeVar("_V")
ON_THE_ROAD = frozenset(
    {ShipmentStatus.in_transit, ShipmentStatus.at_checkpoint, ShipmentStatus.held}
)
METHOD = (
    "now + the convolved last-30-days dwell of the checkpoints ahead (p50 and p90 of the sum) "
    "+ the km to the last checkpoint at the corridor's speeds without delay + its measured "
    "last leg (last release to delivery)"
)


@dataclass(frozen=True, slots=True)
class Visit:
    """A stop as of `now`: `closed_at` None while the truck is still there."""

    checkpoint_id: uuid.UUID
    arrived_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Trip:
    """What the ETA knows of a shipment at `now` (the backtest builds it as of any time)."""

    origin_province: str
    destination_province: str
    distance_km: float | None
    departed_at: datetime
    route: Sequence[uuid.UUID]
    visits: Sequence[Visit]
    exporter: uuid.UUID  # the shipment's organisation: see Audience


@dataclass(frozen=True, slots=True)
class Dwell:
    samples: tuple[float, ...]
    source: str  # checkpoint | province | network


@dataclass(frozen=True, slots=True)
class Speed:
    samples: tuple[float, ...]  # km/h before the last checkpoint, one per trip, sorted
    last_leg: tuple[float, ...]  # minutes from the last stop's release to the delivery
    source: str  # corridor | network | default
    stops_per_trip: float | None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass(frozen=True, slots=True)
class _Place:
    code: str
    province: str
    position: tuple[float, float] | None


def shipment_eta(
    session: Session, shipment: Shipment, now: datetime, thresholds: privacy.Thresholds
) -> EtaRead | None:
    """The ETA of a shipment on the road (departed; not delivered, turned back or cancelled),
    else None; None too when the network has no measured stop at all (see the docstring)."""
    if shipment.status not in ON_THE_ROAD or shipment.departed_at is None:
        return None
    route = session.scalars(
        select(RoutePoint.checkpoint_id)
        .where(RoutePoint.shipment_id == shipment.id)
        .order_by(RoutePoint.position)
    ).all()
    stops = session.execute(
        select(Stop.checkpoint_id, Stop.arrived_at, Stop.closed_at)
        .where(Stop.shipment_id == shipment.id)
        .order_by(Stop.seq)
    ).all()
    trip = Trip(
        origin_province=str(shipment.origin_province),
        destination_province=str(shipment.destination_province),
        distance_km=shipment.distance_km,
        departed_at=shipment.departed_at,
        route=list(route),
        visits=[Visit(*row) for row in stops],
        exporter=shipment.organization_id,
    )
    return trip_eta(session, trip, now, thresholds)


def trip_eta(
    session: Session, trip: Trip, now: datetime, thresholds: privacy.Thresholds
) -> EtaRead | None:
    """The ETA of `trip` made at `now`, from the data closed by `now` (cached, see above)
    that its exporter may see (`thresholds`: see Audience)."""
    audience = Audience(trip.exporter, thresholds)
    done, current = _progress(trip)
    ahead_ids = ([current.checkpoint_id] if current else []) + list(trip.route[done + 1 :])
    speed = _speed(session, trip.origin_province, trip.destination_province, now, audience)
    places = _places(session, {*trip.route, *ahead_ids})
    dwells = [_dwell(session, cid, places[cid].province, now, audience) for cid in ahead_ids]
    unplanned = _unplanned_stops(trip, speed)
    if unplanned:
        dwells += [_network(session, now, audience)] * unplanned
    if any(not d.samples for d in dwells):
        return None
    elapsed = _elapsed(current, now)
    ahead = [
        eta.Ahead(d.samples, elapsed if i == 0 and current else None) for i, d in enumerate(dwells)
    ]
    before, last = _km_ahead(trip, places, done, current, speed.median, now)
    km = before + last
    last_leg = speed.last_leg if len(speed.last_leg) >= MIN_TRIPS else ()
    if last_leg:
        # The last leg is its measured time, not its km: once on it, the time since leaving.
        on_it = bool(trip.route) and current is None and done == len(trip.route) - 1
        km = before if trip.route else km  # without a route, its few km are counted twice
        ahead.append(eta.Ahead(last_leg, _since_left(trip, now) if on_it else None))
    found = eta.estimate(now, ahead, km, speed.samples)
    checkpoints = [
        EtaCheckpoint(
            checkpoint_id=cid,
            code=places[cid].code,
            source=d.source,
            samples=len(d.samples),
            elapsed_minutes=elapsed if i == 0 and current else None,
        )
        for i, (cid, d) in enumerate(zip(ahead_ids, dwells, strict=False))
    ]
    return EtaRead(
        p50=found.p50,
        p90=found.p90,
        computed_at=now,
        basis=EtaBasis(
            route_known=bool(trip.route),
            checkpoints_ahead=checkpoints,
            unplanned_stops=unplanned,
            remaining_km=round(km, 1),
            speed_kmh=round(speed.median, 1),
            speed_source=speed.source,
            speed_trips=len(speed.samples) if speed.source != "default" else 0,
            last_leg_trips=len(last_leg),
            driving_minutes=round(found.driving_minutes, 1),
            window_days=WINDOW.days,
            method=METHOD,
        ),
    )


def _progress(trip: Trip) -> tuple[int, Visit | None]:
    """The index of the last route checkpoint the truck stopped at (-1: none yet), walking the
    stops in order and the route forward; and the stop it is at now, if any."""
    done = -1
    for visit in trip.visits:
        if visit.checkpoint_id in trip.route[done + 1 :]:
            done = trip.route.index(visit.checkpoint_id, done + 1)
    last = trip.visits[-1] if trip.visits else None
    current = last if last is not None and last.closed_at is None else None
    return done, current


def _elapsed(current: Visit | None, now: datetime) -> float | None:
    if current is None:
        return None
    if current.arrived_at is None:
        return 0.0
    return max(0.0, (now - current.arrived_at).total_seconds() / 60)


def _unplanned_stops(trip: Trip, speed: Speed) -> int:
    """Without a route: the corridor's mean stops per trip not yet made (0 with a route)."""
    if trip.route or speed.stops_per_trip is None:
        return 0
    return max(0, round(speed.stops_per_trip) - len(trip.visits))


def _km_ahead(
    trip: Trip,
    places: dict[uuid.UUID, _Place],
    done: int,
    current: Visit | None,
    speed_kmh: float,
    now: datetime,
) -> tuple[float, float]:
    """The trip's distance × the share of its legs ahead, less what it drove on this leg: on
    the legs before the last checkpoint, and on the last leg (to the destination)."""
    lengths = _legs(
        trip.origin_province, [places[c].position for c in trip.route], trip.destination_province
    )
    distance = trip.distance_km
    if distance is None:
        distance = sum(lengths) * ROAD_DETOUR_FACTOR
    scale = distance / (sum(lengths) or 1.0)
    # Leg k runs from point k to point k + 1; the truck has passed point done + 1 (0: origin).
    ahead = [leg * scale for leg in lengths[done + 1 :]]
    if current is None and ahead:
        driven = _since_left(trip, now) / 60 * speed_kmh
        ahead[0] = max(0.0, ahead[0] - driven)
    if not ahead:
        return 0.0, 0.0
    return sum(ahead[:-1]), ahead[-1]


def _since_left(trip: Trip, now: datetime) -> float:
    """Minutes since the truck left its last stop (or its origin)."""
    left_at = trip.visits[-1].closed_at if trip.visits else None
    return max(0.0, (now - (left_at or trip.departed_at)).total_seconds() / 60)


def _legs(
    origin: str, route: Sequence[tuple[float, float] | None], destination: str
) -> list[float]:
    """The straight-line km of each leg, origin's capital → the route's checkpoints →
    destination's capital; a leg with an end of unknown place counts as the mean of the
    others (all as equal when none is known)."""
    points = [_capital(origin), *route, _capital(destination)]
    legs = [_leg_km(a, b) for a, b in zip(points, points[1:], strict=False)]
    known = [leg for leg in legs if leg is not None]
    mean = sum(known) / len(known) if known else 0.0
    lengths = [mean if leg is None else leg for leg in legs]
    if sum(lengths) <= 0:  # no coordinates at all, or every point in one place
        return [1.0] * len(legs)
    return lengths


def _capital(province: str) -> tuple[float, float] | None:
    try:
        return PROVINCE_CAPITALS[Province(province)]
    except ValueError:
        return None


def _leg_km(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float | None:
    return great_circle_km(a, b) if a is not None and b is not None else None


def _places(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, _Place]:
    if not ids:
        return {}
    rows = session.execute(
        select(
            Checkpoint.id,
            Checkpoint.code,
            Checkpoint.province,
            Checkpoint.latitude,
            Checkpoint.longitude,
        ).where(Checkpoint.id.in_(ids))
    )
    return {
        r.id: _Place(
            r.code,
            str(r.province),
            (r.latitude, r.longitude)
            if r.latitude is not None and r.longitude is not None
            else None,
        )
        for r in rows
    }


# --- the measured inputs, cached -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """Whose shipment an ETA is for (its exporter: the driver's link and an admin see the
    same ETA), and the privacy thresholds its others' rows must pass (app/privacy.py)."""

    exporter: uuid.UUID
    thresholds: privacy.Thresholds


# A cell: the rows of one checkpoint (for trips, one corridor: origin, destination) and one
# UTC day. A province's and the network's pools are unions of their checkpoints' cells, so
# that two pools (an ETA over X, one falling back to X's province) differ by whole cells that
# passed, never by a checkpoint-day that failed.
Cell = tuple[Any, date]


@dataclass(frozen=True, slots=True)
class _Pool(Generic[_V]):
    """One key's closed rows (a checkpoint's, a province's, the network's stops; a corridor's
    or every corridor's trips) of the window, each with its exporter and its cell; None for
    a day not settled yet (see SETTLE) and for a day the read may have cut short. `counts`:
    the rows per cell and exporter, for app/privacy.py."""

    # Each row's cell as its number in `counts` (-1: none): a set of small ints is what a
    # request filters 5,000 rows by, not of (UUID, date) tuples hashed again and again.
    rows: tuple[tuple[int, uuid.UUID, _V], ...]
    counts: dict[int, dict[uuid.UUID, int]]

    def visible(self, audience: Audience) -> list[_V]:
        """The exporter's own rows, and the others' of the cells whose others' rows pass the
        thresholds (privacy.cells_beside_own): one other exporter's waits never show in an
        ETA, nor one truck that stopped since the last one, as a settled day's cell is
        final."""
        shown = privacy.cells_beside_own(audience.thresholds, self.counts, audience.exporter)
        return [v for cell, e, v in self.rows if e == audience.exporter or cell in shown]


def _pool(
    rows: Sequence[tuple[datetime, uuid.UUID, Any, _V]],
    now: datetime,
    complete_after: datetime | None,
) -> _Pool[_V]:
    """`rows` (closed at, exporter, checkpoint or corridor, value) as a pool; cells are the
    settled days, after `complete_after` (a LIMITed read cut short: the days it may have left
    partly unread)."""
    settled = _settled_before(now)
    numbers: dict[Cell, int] = {}
    cells: list[tuple[int, uuid.UUID, _V]] = []
    counts: dict[int, dict[uuid.UUID, int]] = defaultdict(lambda: defaultdict(int))
    for closed_at, exporter, part, value in rows:
        start = _day_start(closed_at)
        number = -1
        if start < settled and (complete_after is None or start > complete_after):
            number = numbers.setdefault((part, start.date()), len(numbers))
            counts[number][exporter] += 1
        cells.append((number, exporter, value))
    return _Pool(tuple(cells), {number: dict(by) for number, by in counts.items()})


def _day_start(at: datetime) -> datetime:
    return datetime.combine(at.astimezone(UTC).date(), time(), UTC)


def _settled_before(now: datetime) -> datetime:
    """Other exporters' rows count by the days that ended SETTLE before today began: a phone
    that synced its queue late has changed them by then (events received later still can,
    and are flagged `backdated`: the README's known limit)."""
    return _day_start(now) - SETTLE


def _window_start(now: datetime) -> datetime:
    """The first moment of the window: WINDOW before the settled days end."""
    return _settled_before(now) - WINDOW


def _dwell(
    session: Session, checkpoint_id: uuid.UUID, province: str, now: datetime, audience: Audience
) -> Dwell:
    own = _cached(
        session, ("checkpoint", checkpoint_id), now, lambda: _samples(session, now, [checkpoint_id])
    ).visible(audience)
    if len(own) >= MIN_STOPS:
        return Dwell(tuple(own), "checkpoint")
    pooled = _cached(
        session, ("province", province), now, lambda: _province_samples(session, province, now)
    ).visible(audience)
    if len(pooled) >= MIN_STOPS:
        return Dwell(tuple(pooled), "province")
    return _network(session, now, audience)


def _network(session: Session, now: datetime, audience: Audience) -> Dwell:
    pool = _cached(session, ("network",), now, lambda: _samples(session, now, None))
    return Dwell(tuple(pool.visible(audience)), "network")


def _province_samples(session: Session, province: str, now: datetime) -> _Pool[float]:
    ids = session.scalars(select(Checkpoint.id).where(Checkpoint.province == province)).all()
    return _samples(session, now, list(ids)) if ids else _Pool((), {})


def _samples(
    session: Session, now: datetime, checkpoint_ids: list[uuid.UUID] | None
) -> _Pool[float]:
    """The dwell minutes of the stops closed in the window (the MAX_SAMPLES latest: plenty for
    ATOMS quantiles, and a read that does not grow with the traffic), sorted, with their
    exporters and cells. A stay longer than LONGEST_DWELL is left out, so that a day's cell
    is the same whenever it is read (stops are found by arrival)."""
    query = select(
        Stop.closed_at, Stop.organization_id, Stop.checkpoint_id, Stop.dwell_minutes
    ).where(
        Stop.closed_at >= _window_start(now),
        Stop.closed_at <= now,
        Stop.dwell_minutes.is_not(None),
        Stop.dwell_minutes <= LONGEST_DWELL.total_seconds() / 60,
    )
    if checkpoint_ids is None:
        found = session.execute(
            query.order_by(Stop.closed_at.desc()).limit(MAX_SAMPLES)  # ix_stops_closed, backwards
        ).all()
        # Cut short: the earliest day read may be partly unread.
        cut = found[-1].closed_at if len(found) == MAX_SAMPLES else None
    else:
        query = query.add_columns(Stop.arrived_at).where(
            Stop.checkpoint_id.in_(checkpoint_ids),
            Stop.arrived_at >= _window_start(now) - LONGEST_DWELL,
            Stop.arrived_at <= now,
        )
        found = session.execute(
            # ix_stops_checkpoint_arrived, backwards
            query.order_by(Stop.arrived_at.desc()).limit(MAX_SAMPLES)
        ).all()
        # Cut short at an arrival: a day is whole only if all its stops arrived after it.
        cut = found[-1].arrived_at + LONGEST_DWELL if len(found) == MAX_SAMPLES else None
    rows = sorted(
        ((r.closed_at, r.organization_id, r.checkpoint_id, float(r.dwell_minutes)) for r in found),
        key=lambda row: row[3],
    )
    return _pool(rows, now, cut)


def _speed(
    session: Session, origin: str, destination: str, now: datetime, audience: Audience
) -> Speed:
    corridor = _trips(
        _cached(
            session,
            ("corridor", origin, destination),
            now,
            lambda: _trip_speeds(session, now, origin, destination),
        ).visible(audience)
    )
    if len(corridor.speeds) >= MIN_TRIPS:
        return Speed(corridor.speeds, corridor.last_legs, "corridor", corridor.stops_per_trip)
    network = _trips(
        _cached(
            session, ("corridors",), now, lambda: _trip_speeds(session, now, None, None)
        ).visible(audience)
    )
    stops_per_trip = corridor.stops_per_trip if corridor.speeds else network.stops_per_trip
    if len(network.speeds) >= MIN_TRIPS:
        return Speed(network.speeds, network.last_legs, "network", stops_per_trip)
    return Speed((DEFAULT_SPEED_KMH,), (), "default", stops_per_trip)


@dataclass(frozen=True, slots=True)
class _TripRow:
    speed: float | None  # km/h before its last checkpoint; None: no road time to measure
    last_leg: float | None  # minutes from its last stop's release to the delivery
    stops: int


@dataclass(frozen=True, slots=True)
class _Trips:
    speeds: tuple[float, ...]
    last_legs: tuple[float, ...]
    stops_per_trip: float | None


def _trips(rows: Sequence[_TripRow]) -> _Trips:
    return _Trips(
        tuple(sorted(r.speed for r in rows if r.speed is not None)),
        tuple(sorted(r.last_leg for r in rows if r.last_leg is not None)),
        sum(r.stops for r in rows) / len(rows) if rows else None,
    )


def _trip_speeds(
    session: Session, now: datetime, origin: str | None, destination: str | None
) -> _Pool[_TripRow]:
    """The trips delivered in the window with a distance (and a transit of LONGEST_TRIP at
    most, so that a day's cell is the same whenever it is read): each one's last leg (its
    last stop's release → the delivery, in minutes) and its speed without delay before it
    (the km before its last route checkpoint, as a share of its legs, over its minutes on the
    road before then: transit less the dwell of its stops and the last leg); a trip without a
    route or a stop gives its whole trip's speed and no last leg. And its number of stops."""
    trips = select(
        Shipment.id,
        Shipment.organization_id,
        Shipment.distance_km,
        Shipment.transit_minutes,
        Shipment.departed_at,
        Shipment.delivered_at,
        Shipment.origin_province,
        Shipment.destination_province,
    ).where(
        # Found by departure (ix_shipments_departed, or the corridor's index).
        Shipment.departed_at >= _window_start(now) - LONGEST_TRIP,
        Shipment.delivered_at >= _window_start(now),
        Shipment.delivered_at <= now,
        Shipment.status == ShipmentStatus.delivered,
        Shipment.distance_km > 0,
        Shipment.transit_minutes > 0,
        Shipment.transit_minutes <= LONGEST_TRIP.total_seconds() / 60,
    )
    if origin is not None:
        trips = trips.where(
            Shipment.origin_province == origin, Shipment.destination_province == destination
        )
    rows = session.execute(trips.order_by(Shipment.departed_at.desc()).limit(MAX_TRIPS)).all()
    stops, routes = _stops_and_routes(session, [row.id for row in rows])
    found = []
    for row in rows:
        dwell, count, last_closed = stops.get(row.id, (0.0, 0, None))
        found.append(
            (
                row.delivered_at,
                row.organization_id,
                (row.origin_province, row.destination_province),
                _trip_row(row, dwell, count, last_closed, routes.get(row.id)),
            )
        )
    # Cut short at a departure: a day is whole only if all its deliveries left after it.
    cut = rows[-1].departed_at + LONGEST_TRIP if len(rows) == MAX_TRIPS else None
    return _pool(found, now, cut)


def _trip_row(
    row: Any,
    dwell: float,
    count: int,
    last_closed: datetime | None,
    route: list[tuple[float, float] | None] | None,
) -> _TripRow:
    moving = float(row.transit_minutes) - dwell
    km_before = float(row.distance_km)
    last_leg = None
    # Only a trip with a route and a stop says where its last leg began.
    if route and count and last_closed is not None:
        last_leg = (row.delivered_at - last_closed).total_seconds() / 60
        legs = _legs(str(row.origin_province), route, str(row.destination_province))
        if last_leg < 0 or moving - last_leg <= 0:
            # Stops logged outside departure → delivery: no road time to measure.
            return _TripRow(None, None, count)
        moving -= last_leg
        km_before *= 1 - legs[-1] / sum(legs)
    speed = km_before / moving * 60 if moving > 0 and km_before > 0 else None
    return _TripRow(speed, last_leg, count)


def _stops_and_routes(
    session: Session, ids: list[uuid.UUID]
) -> tuple[
    dict[uuid.UUID, tuple[float, int, datetime | None]],
    dict[uuid.UUID, list[tuple[float, float] | None]],
]:
    """The trips' dwell, stop count and last release; and their routes' places. By id, apart
    from the trips' query (ix_stops_shipment): a join to the LIMITed trips took SQLite 7× as
    long on the demo data."""
    stops: dict[uuid.UUID, tuple[float, int, datetime | None]] = {}
    routes: dict[uuid.UUID, list[tuple[float, float] | None]] = {}
    for first in range(0, len(ids), 500):
        chunk = ids[first : first + 500]
        stops.update(
            (shipment_id, (float(dwell or 0.0), int(count), last))
            for shipment_id, dwell, count, last in session.execute(
                select(
                    Stop.shipment_id,
                    func.sum(Stop.dwell_minutes),
                    func.count(),
                    func.max(Stop.closed_at),
                )
                .where(Stop.shipment_id.in_(chunk))
                .group_by(Stop.shipment_id)
            )
        )
        for shipment_id, lat, lon in session.execute(
            select(RoutePoint.shipment_id, Checkpoint.latitude, Checkpoint.longitude)
            .join(Checkpoint, Checkpoint.id == RoutePoint.checkpoint_id)
            .where(RoutePoint.shipment_id.in_(chunk))
            .order_by(RoutePoint.shipment_id, RoutePoint.position)
        ):
            place = (lat, lon) if lat is not None and lon is not None else None
            routes.setdefault(shipment_id, []).append(place)
    return stops, routes


_T = TypeVar("_T")
# Per engine (a server has one; each test's app its own), so that a database emptied and
# refilled under the same URL, as the tests do, is never answered from another's samples.
_caches: "weakref.WeakKeyDictionary[Engine, dict[tuple[Any, ...], tuple[int, Any]]]" = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def _cached(session: Session, key: tuple[Any, ...], now: datetime, load: Callable[[], _T]) -> _T:
    """`load()`'s value for this engine, key and `now`'s CACHE_SECONDS slot; one value per
    key is kept (a new slot replaces it), so the cache holds one entry per checkpoint."""
    slot = math.floor(now.timestamp() / CACHE_SECONDS)
    engine = session.get_bind().engine
    with _cache_lock:
        cache = _caches.setdefault(engine, {})
        found = cache.get(key)
    if found is not None and found[0] == slot:
        return found[1]  # type: ignore[no-any-return]
    value = load()
    with _cache_lock:
        cache[key] = (slot, value)
    return value
