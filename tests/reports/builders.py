"""A small, deterministic world of exporters, checkpoints and trips, built through the API,
and the truth about it recorded on the side, independently of the app.

`build_world(client)` creates, as real clients would:
- six checkpoints in Erbil, Kirkuk and Baghdad run by five kinds of agency;
- four exporter organisations (A–D) with one exporter user each, and an advocate;
- 49 finished trips from September to November 2026 (cement 25, steel 72, dairy 04, stone
  articles 68), each a shipment plus one POST /sync of its events: departed, per checkpoint
  arrived / procedures / fees / holds / released or turned back (or, now and then, no release
  at all), delivered;
- five trips still on the road, timed within the last hours, for the live status;
- one planned and one cancelled shipment, which must not count anywhere.

While it sends the events it writes down what the stops must be (`TruthStop`), and the
second half of this module computes every report figure from that truth with numpy and
plain counting. The tests compare the two. An advocate's figures are computed the same way over
the protected cells, the rule written again over the truth (StopCells, corridor_cells_allowed,
live_medians); `build_cells_world` builds one day laid out for each branch of that rule.

Groups that the privacy tests rely on (fewer than three exporter organisations):
checkpoint KRK-03 and agency joint/joint (A and B only), chapter 68 (A only), the corridor
sulaymaniyah → basra (D only), procedure transshipment (D only), and the week of 28 September
and the month of September (A's lone early trip).
"""

import dataclasses
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.reports.hs_chapters import chapter_name
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

BAGHDAD = timezone(timedelta(hours=3))  # the phones' local time
SEED = 20261005
FIRST_MONDAY = datetime(2026, 10, 5, tzinfo=BAGHDAD)
WEEKS = 7  # trips depart in the weeks of 5 October … 16 November 2026
TRIPS_PER_ORG = 12
STANDARD_MINUTES = 60  # SERVICE_STANDARD_MINUTES' default
MIN_EXPORTERS = 3  # REPORT_MIN_EXPORTERS' default
MIN_STOPS = 10  # REPORT_MIN_STOPS' default
CENT = Decimal("0.01")
T = TypeVar("T")


# --- the world's fixed parts ------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointSpec:
    code: str
    name: str
    province: str
    kind: str
    authority: str
    jurisdiction: str
    latitude: float
    longitude: float


CHECKPOINTS = [
    CheckpointSpec(
        "ERB-01", "Erbil south exit", "erbil", "internal", "security", "krg", 36.1, 44.0
    ),
    CheckpointSpec(
        "KRK-01", "Kirkuk north entry", "kirkuk", "province_entry", "army", "federal", 35.6, 44.2
    ),
    CheckpointSpec(
        "KRK-02", "Kirkuk ring road", "kirkuk", "internal", "police", "federal", 35.5, 44.4
    ),
    CheckpointSpec(
        "KRK-03", "Kirkuk joint post", "kirkuk", "internal", "joint", "joint", 35.3, 44.5
    ),
    CheckpointSpec(
        "BGD-01", "Baghdad north entry", "baghdad", "province_entry", "army", "federal", 33.5, 44.3
    ),
    CheckpointSpec(
        "BGD-02", "Baghdad customs yard", "baghdad", "customs", "customs", "federal", 33.4, 44.4
    ),
]
SPEC = {c.code: c for c in CHECKPOINTS}


@dataclass(frozen=True)
class Route:
    origin: str
    destination: str
    checkpoints: tuple[str, ...]
    km: float | None  # given to the API, else the API estimates it from the route


ALONG_THE_MAIN_ROAD = ("ERB-01", "KRK-01", "KRK-02", "BGD-01", "BGD-02")
THROUGH_THE_JOINT_POST = ("ERB-01", "KRK-01", "KRK-03", "BGD-01", "BGD-02")
ROUTES = {
    "erbil-baghdad": Route("erbil", "baghdad", ALONG_THE_MAIN_ROAD, 372.0),
    "erbil-baghdad-joint": Route("erbil", "baghdad", THROUGH_THE_JOINT_POST, None),
    "sulaymaniyah-baghdad": Route("sulaymaniyah", "baghdad", ("KRK-01", "KRK-02", "BGD-01"), 331.5),
    "erbil-kirkuk": Route("erbil", "kirkuk", ("ERB-01", "KRK-01"), None),
    "sulaymaniyah-basra": Route("sulaymaniyah", "basra", ("KRK-01", "BGD-01", "BGD-02"), 842.0),
}

CARGO = {
    "04": ("040120", "UHT milk, cartons", "carton", 1800),
    "25": ("252329", "Portland cement, bagged", "bag", 600),
    "68": ("680291", "Marble tiles", "m2", 900),
    "72": ("721420", "Steel rebar, 12 mm", "t", 28),
}


@dataclass(frozen=True)
class OrgSpec:
    label: str
    name: str
    routes: tuple[str, ...]
    chapters: tuple[tuple[str, ...], ...]  # cycled through, one per trip


ORGS = [
    OrgSpec(
        "A",
        "Sulaimani Cement Company",
        ("erbil-baghdad", "sulaymaniyah-baghdad", "erbil-kirkuk", "erbil-baghdad-joint"),
        (("25",), ("25",), ("25", "72"), ("68",)),
    ),
    OrgSpec(
        "B",
        "Hawler Steel Works",
        ("erbil-baghdad", "sulaymaniyah-baghdad", "erbil-kirkuk", "erbil-baghdad-joint"),
        (("72",), ("72",), ("04",)),
    ),
    OrgSpec(
        "C",
        "Duhok Dairy Cooperative",
        ("erbil-baghdad", "sulaymaniyah-baghdad", "erbil-kirkuk"),
        (("04",), ("04",), ("25",)),
    ),
    OrgSpec(
        "D",
        "Kurdistan Building Supplies",
        ("erbil-baghdad", "sulaymaniyah-baghdad", "sulaymaniyah-basra"),
        (("25", "72"), ("72",), ("04", "25")),
    ),
]


@dataclass(frozen=True)
class Profile:
    """How a checkpoint treats a truck: minutes are drawn uniformly from (low, high)."""

    queue: tuple[int, int]
    procedures: tuple[tuple[str, int, int, float], ...]  # (procedure, low, high, probability)
    hold_probability: float
    hold_reasons: tuple[str, ...]
    fees: tuple[tuple[float, str, float], ...]  # (amount, currency, probability of a receipt)
    fee_probability: float
    turn_back_probability: float


PROFILES = {
    "ERB-01": Profile(
        (0, 10), (("document_check", 3, 15, 0.9), ("xray_scan", 10, 25, 0.3)),
        0.15, ("security",), ((10000, "IQD", 1.0),), 0.2, 0.0,
    ),
    "KRK-01": Profile(
        (10, 90), (("queue", 5, 60, 0.5), ("document_check", 10, 40, 0.9),
                   ("physical_inspection", 20, 70, 0.5), ("permit_verification", 15, 45, 0.4)),
        0.4, ("missing_document", "permit_required", "security"),
        ((25000, "IQD", 0.2), (50000, "IQD", 0.4), (20, "USD", 0.0)), 0.6, 0.06,
    ),
    "KRK-02": Profile(
        (0, 15), (("document_check", 5, 20, 0.8),),
        0.1, ("missing_document",), ((5000, "IQD", 0.0),), 0.3, 0.0,
    ),
    "KRK-03": Profile(
        (5, 30), (("document_check", 10, 30, 0.8), ("escort_wait", 30, 120, 0.5)),
        0.3, ("security", "road_closed"), ((15000, "IQD", 0.0),), 0.4, 0.0,
    ),
    "BGD-01": Profile(
        (10, 60), (("queue", 10, 45, 0.6), ("document_check", 10, 30, 0.8),
                   ("physical_inspection", 15, 60, 0.4)),
        0.3, ("permit_required", "product_banned", "road_closed"),
        ((10000, "IQD", 0.0), (12.5, "USD", 0.5)), 0.5, 0.05,
    ),
    "BGD-02": Profile(
        (15, 60), (("document_check", 15, 45, 0.9), ("xray_scan", 10, 30, 0.5),
                   ("fee_payment", 5, 20, 0.7), ("quality_testing", 60, 240, 1.0),
                   ("transshipment", 45, 120, 1.0)),
        0.35, ("classification_dispute", "quality_test_pending", "fee_dispute"),
        ((150000, "IQD", 1.0), (250000, "IQD", 0.8), (50, "USD", 0.3)), 0.8, 0.04,
    ),
}  # fmt: skip


# --- the truth ------------------------------------------------------------------------


@dataclass(eq=False)
class TruthStop:
    trip: "TruthTrip"
    checkpoint: str  # its code
    arrived_at: datetime
    closed_at: datetime | None = None
    outcome: str = "open"  # released | turned_back | open (never released)
    holds: list[str] = field(default_factory=list)  # one reason per hold
    procedures: list[tuple[str, float]] = field(default_factory=list)  # (procedure, minutes)
    fees: list[tuple[Decimal, str, bool]] = field(default_factory=list)  # amount, currency, receipt
    last_event_at: datetime | None = None

    @property
    def dwell_minutes(self) -> float | None:
        if self.closed_at is None:
            return None
        return (self.closed_at - self.arrived_at).total_seconds() / 60

    @property
    def org(self) -> str:
        return self.trip.org

    @property
    def spec(self) -> CheckpointSpec:
        return SPEC[self.checkpoint]


@dataclass(eq=False)
class TruthTrip:
    org: str
    origin: str
    destination: str
    chapters: tuple[str, ...]
    departed_at: datetime
    delivered_at: datetime | None = None
    distance_km: float | None = None
    stops: list[TruthStop] = field(default_factory=list)
    shipment: dict[str, Any] = field(default_factory=dict)  # as the API created it

    @property
    def transit_minutes(self) -> float | None:
        if self.delivered_at is None:
            return None
        return (self.delivered_at - self.departed_at).total_seconds() / 60


@dataclass
class World:
    client: TestClient
    admin: Actor
    advocate: Actor
    exporters: dict[str, Actor]  # by organisation label A–D
    checkpoints: dict[str, dict[str, Any]]  # by code, as the API created them
    trips: list[TruthTrip]
    other_shipments: list[dict[str, Any]]  # planned and cancelled: in no report
    now: datetime

    @property
    def stops(self) -> list[TruthStop]:
        return [s for t in self.trips for s in t.stops]

    def checkpoint_id(self, code: str) -> str:
        return str(self.checkpoints[code]["id"])

    def code_of(self, checkpoint_id: str) -> str:
        return next(c for c, body in self.checkpoints.items() if body["id"] == checkpoint_id)

    def secrets(self) -> list[str]:
        """What no report may ever show: who the exporters are and which shipment is whose."""
        found = []
        for exporter in self.exporters.values():
            assert exporter.organization is not None
            found += [exporter.organization["id"], exporter.organization["name"]]
        for shipment in [t.shipment for t in self.trips] + self.other_shipments:
            found += [shipment["id"], shipment["tracking_code"], shipment["reference"]]
        return found


# --- building it through the API ---------------------------------------------------------


class _Trip:
    """Writes one trip's events and its truth side by side."""

    def __init__(self, rng: random.Random, truth: TruthTrip, tz: timezone = BAGHDAD) -> None:
        self.rng = rng
        self.truth = truth
        self.tz = tz
        self.events: list[dict[str, Any]] = []
        self.stop: TruthStop | None = None

    def emit(self, type_: str, when: datetime, **fields: Any) -> None:
        event_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        occurred = when.astimezone(self.tz).isoformat()
        self.events.append(
            {"event_id": str(event_id), "type": type_, "occurred_at": occurred, **fields}
        )
        if self.stop is not None and type_ not in ("departed", "delivered"):
            self.stop.last_event_at = max(self.stop.last_event_at or when, when)

    def depart(self) -> None:
        self.emit("departed", self.truth.departed_at)

    def arrive(self, code: str, when: datetime) -> TruthStop:
        self.stop = TruthStop(self.truth, code, when, last_event_at=when)
        self.truth.stops.append(self.stop)
        self.emit("arrived", when, checkpoint_id=code)  # the code becomes the id when sent
        return self.stop

    def procedure(self, name: str, start: datetime, minutes: int) -> None:
        assert self.stop is not None
        self.emit("procedure_started", start, procedure=name)
        self.emit("procedure_completed", start + timedelta(minutes=minutes), procedure=name)
        self.stop.procedures.append((name, float(minutes)))

    def fee(self, when: datetime, amount: float, currency: str, receipt: bool) -> None:
        assert self.stop is not None
        self.emit(
            "fee_paid", when, fee={"amount": amount, "currency": currency, "receipt": receipt}
        )
        self.stop.fees.append((Decimal(str(amount)).quantize(CENT), currency, receipt))

    def hold(self, when: datetime, reason: str) -> None:
        assert self.stop is not None
        self.emit("held", when, hold_reason=reason)
        self.stop.holds.append(reason)

    def close(self, when: datetime, outcome: str) -> None:
        assert self.stop is not None
        self.emit(outcome, when)
        self.stop.closed_at, self.stop.outcome = when, outcome
        self.stop = None

    def leave_unreleased(self) -> None:
        """The driver never tapped "released": the stop stays open (and is flagged)."""
        self.stop = None

    def deliver(self, when: datetime) -> None:
        self.emit("delivered", when)
        self.truth.delivered_at = when


def _visit(trip: _Trip, code: str, arrival: datetime, fixed_dwell: int | None) -> bool:
    """One stop at `code`, drawn from its profile. False when the truck was turned back."""
    rng, profile, truth = trip.rng, PROFILES[code], trip.truth
    trip.arrive(code, arrival)
    if fixed_dwell is not None:
        trip.close(arrival + timedelta(minutes=fixed_dwell), "released")
        return True
    t = arrival + timedelta(minutes=rng.randint(*profile.queue))
    if rng.random() < profile.fee_probability:
        amount, currency, receipt_probability = rng.choice(profile.fees)
        trip.fee(
            arrival + timedelta(minutes=1), amount, currency, rng.random() < receipt_probability
        )
    for name, low, high, probability in profile.procedures:
        if name == "quality_testing" and "04" not in truth.chapters:
            continue
        if name == "transshipment" and truth.org != "D":
            continue
        if rng.random() < probability:
            minutes = rng.randint(low, high) * (2 if "72" in truth.chapters else 1)
            trip.procedure(name, t, minutes)
            t += timedelta(minutes=minutes + rng.randint(0, 5))
    if rng.random() < profile.hold_probability:
        trip.hold(t, rng.choice(profile.hold_reasons))
        t += timedelta(minutes=rng.randint(20, 240))
        if rng.random() < 0.25:  # still held, for another reason (flagged held_while_held)
            trip.hold(t, rng.choice(profile.hold_reasons))
            t += timedelta(minutes=rng.randint(10, 90))
    t += timedelta(minutes=rng.randint(1, 8))
    roll = rng.random()
    if roll < profile.turn_back_probability:
        trip.close(t, "turned_back")
        return False
    if roll > 0.95:
        trip.leave_unreleased()
    else:
        trip.close(t, "released")
    return True


# Trips with a fixed departure (local time) or a fixed first stop, for the edges of the report
# periods and of the service standard.
DEPARTURES = {
    # arrives Monday 12 October 01:30 in Baghdad = Sunday 11 October 22:30 UTC: week of 5 Oct
    ("B", 1): (datetime(2026, 10, 12, 0, 20, tzinfo=BAGHDAD), 70),
    # arrives 1 November 02:00 in Baghdad = 31 October 23:00 UTC: October
    ("D", 3): (datetime(2026, 11, 1, 0, 30, tzinfo=BAGHDAD), 90),
}
FIXED_FIRST_DWELL = {("A", 0): 60, ("A", 1): 61, ("C", 0): 59}  # around the 60-min standard


def _cargo(chapters: Iterable[str]) -> list[dict[str, Any]]:
    lines = []
    for chapter in chapters:
        hs_code, description, unit, quantity = CARGO[chapter]
        lines.append(
            {
                "hs_code": hs_code,
                "description": description,
                "quantity": quantity,
                "unit": unit,
                "weight_kg": 28000,
                "value_usd": 9000,
            }
        )
    return lines


def _create_shipment(
    world: World, org: str, route: Route, trip: TruthTrip, reference: str
) -> dict[str, Any]:
    extra = {} if route.km is None else {"distance_km": route.km}
    shipment = make_shipment(
        world.client,
        world.exporters[org],
        origin_province=route.origin,
        origin_city=route.origin.title(),
        destination_province=route.destination,
        destination_city=route.destination.title(),
        planned_departure=trip.departed_at.isoformat(),
        route=[world.checkpoint_id(c) for c in route.checkpoints],
        cargo=_cargo(trip.chapters),
        reference=reference,
        **extra,
    )
    trip.shipment = shipment
    trip.distance_km = shipment["distance_km"]  # given, or the API's estimate from the route
    return shipment


def _send(world: World, trip: _Trip) -> None:
    """The trip's events, in one POST /sync with the exporter's credential."""
    for event in trip.events:
        if "checkpoint_id" in event:
            event["checkpoint_id"] = world.checkpoint_id(event["checkpoint_id"])
    response = world.client.post(
        f"{API}/sync",
        json={"shipment_id": trip.truth.shipment["id"], "events": trip.events},
        headers=world.exporters[trip.truth.org].headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(trip.events), response.text


def _finished_trip(
    world: World, rng: random.Random, org: OrgSpec, i: int, departed: datetime, first_leg: int
) -> None:
    route = ROUTES[org.routes[i % len(org.routes)]]
    truth = TruthTrip(
        org.label, route.origin, route.destination, org.chapters[i % len(org.chapters)], departed
    )
    _create_shipment(world, org.label, route, truth, f"{org.label}-2026-{i:03d}")
    trip = _Trip(rng, truth)
    trip.depart()
    t = departed + timedelta(minutes=first_leg)
    for n, code in enumerate(route.checkpoints):
        fixed = FIXED_FIRST_DWELL.get((org.label, i)) if n == 0 else None
        if not _visit(trip, code, t, fixed):
            break
        last = truth.stops[-1]
        t = (last.closed_at or last.last_event_at or t) + timedelta(minutes=rng.randint(40, 150))
    else:
        trip.deliver(t + timedelta(minutes=rng.randint(0, 60)))
    _send(world, trip)
    world.trips.append(truth)


def floor_hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _live_trips(world: World) -> None:
    """Trucks on the road now: at KRK-01 (D), at BGD-01 (A), held at BGD-01 (B); C is between
    checkpoints; A's second truck left BGD-02 seven hours ago (outside the six-hour window).

    A's, B's and C's stops at KRK-01 closed within one clock hour, four hours before the hour
    the world was built in (dwell 60, 80 and 45 minutes), and C's at BGD-01 in the hour before
    it (50 minutes): whatever the minute, and for two hours after, they are in the sliding
    six hours and in the last six completed clock hours, each checkpoint's in one hour."""
    now = world.now
    krk = floor_hour(now) - timedelta(hours=4)  # the hour of the stops closed at KRK-01
    bgd = floor_hour(now) - timedelta(hours=1)  # and of C's at BGD-01

    def ago(minutes: int) -> datetime:
        return now - timedelta(minutes=minutes)

    def at(hour: datetime, minutes: int) -> datetime:
        return hour + timedelta(minutes=minutes)

    # checkpoint, arrived, closed (None: still there), hold reason
    Visit = tuple[str, datetime, datetime | None, str | None]
    plans: list[tuple[str, str, list[Visit]]] = [
        ("A", "sulaymaniyah-baghdad", [
            ("KRK-01", at(krk, -55), at(krk, 5), None),
            ("BGD-01", ago(100), None, None),
        ]),
        ("B", "sulaymaniyah-baghdad", [
            ("KRK-01", at(krk, -45), at(krk, 35), None),
            ("BGD-01", ago(90), None, "permit_required"),
        ]),
        ("C", "erbil-baghdad", [
            ("KRK-01", at(krk, -25), at(krk, 20), None),
            ("BGD-01", at(bgd, -20), at(bgd, 30), None),
        ]),
        ("D", "sulaymaniyah-basra", [("KRK-01", ago(30), None, None)]),
        ("A", "erbil-baghdad", [("BGD-02", ago(480), ago(420), None)]),
    ]  # fmt: skip
    rng = random.Random(SEED + 1)
    for n, (org, route_name, visits) in enumerate(plans):
        route = ROUTES[route_name]
        departed = visits[0][1] - timedelta(minutes=60)
        truth = TruthTrip(org, route.origin, route.destination, ("25",), departed)
        _create_shipment(world, org, route, truth, f"{org}-LIVE-{n}")
        trip = _Trip(rng, truth, tz=UTC)
        trip.depart()
        for code, arrived, closed, reason in visits:
            trip.arrive(code, arrived)
            if reason is not None:
                trip.hold(arrived + timedelta(minutes=30), reason)
            if closed is not None:
                trip.close(closed, "released")
        _send(world, trip)
        world.trips.append(truth)


def _empty_world(client: TestClient) -> World:
    """The checkpoints, the four exporter organisations and an advocate; no trips yet."""
    boss = admin(client)
    checkpoints = {}
    for spec in CHECKPOINTS:
        checkpoints[spec.code] = make_checkpoint(
            client,
            boss,
            code=spec.code,
            name=spec.name,
            province=spec.province,
            kind=spec.kind,
            authority=spec.authority,
            jurisdiction=spec.jurisdiction,
            latitude=spec.latitude,
            longitude=spec.longitude,
        )
    exporters = {
        org.label: make_exporter(client, boss, make_org(client, boss, org.name)) for org in ORGS
    }
    world = World(
        client=client,
        admin=boss,
        advocate=make_user(client, boss, "advocate"),
        exporters=exporters,
        checkpoints=checkpoints,
        trips=[],
        other_shipments=[],
        now=datetime.now(UTC).replace(microsecond=0),
    )
    return world


def build_world(client: TestClient) -> World:
    world = _empty_world(client)
    exporters = world.exporters
    rng = random.Random(SEED)
    # A's lone early trip: the week of 28 September and September have one exporter only.
    _finished_trip(world, rng, ORGS[0], 99, datetime(2026, 9, 29, 8, 0, tzinfo=BAGHDAD), 45)
    for i in range(TRIPS_PER_ORG):
        for org in ORGS:
            departed, first_leg = DEPARTURES.get((org.label, i), (None, rng.randint(40, 150)))
            if departed is None:
                day = FIRST_MONDAY + timedelta(days=7 * (i % WEEKS) + rng.randint(0, 6))
                departed = day + timedelta(minutes=rng.randint(4 * 60, 11 * 60))
            _finished_trip(world, rng, org, i, departed, first_leg)
    _live_trips(world)
    # Neither a planned nor a cancelled shipment is a trip.
    planned = make_shipment(
        client, exporters["C"], reference="C-PLANNED", destination_province="basra"
    )
    cancelled = make_shipment(client, exporters["D"], reference="D-CANCELLED")
    response = client.post(
        f"{API}/shipments/{cancelled['id']}/cancel", json={}, headers=exporters["D"].headers
    )
    assert response.status_code == 200, response.text
    world.other_shipments += [planned, cancelled]
    _check_variety(world)
    return world


# One day of one-stop trips, laid out so that the protected-cell rule's every branch decides
# something at two exporters and two completed stops a cell (see test_privacy.py):
# (org, checkpoint, chapters, destination, released?)
CELLS_DAY = datetime(2026, 8, 4, 8, 0, tzinfo=UTC)
CELLS_TRIPS: list[tuple[str, str, tuple[str, ...], str, bool]] = [
    # ERB-01: chapters 25 (A, B) and 72 (A, C) each pass, with a passing rest; D's lone milk
    # truck (never released) fails, and would be the cell minus 25 and 72: 25 is withheld too.
    ("A", "ERB-01", ("25",), "baghdad", True),
    ("B", "ERB-01", ("25",), "baghdad", True),
    ("A", "ERB-01", ("72",), "baghdad", True),
    ("C", "ERB-01", ("72",), "baghdad", True),
    ("D", "ERB-01", ("04",), "baghdad", False),
    # KRK-01: 25 and 72, Baghdad and Basra all pass; crossed, 25 to Baghdad passes and leaves
    # passing rests; 72 to Basra is B's one truck; 72 to Baghdad and 25 to Basra pass but
    # would leave it behind.
    ("A", "KRK-01", ("25",), "baghdad", True),
    ("B", "KRK-01", ("25",), "baghdad", True),
    ("C", "KRK-01", ("25",), "basra", True),
    ("D", "KRK-01", ("25",), "basra", True),
    ("A", "KRK-01", ("72",), "baghdad", True),
    ("C", "KRK-01", ("72",), "baghdad", True),
    ("B", "KRK-01", ("72",), "basra", True),
]


def build_cells_world(client: TestClient) -> World:
    """The world of CELLS_TRIPS: one day, two checkpoints, every trip from Erbil with one
    stop (a document check each; an X-ray scan for A's first cement truck only)."""
    world = _empty_world(client)
    rng = random.Random(SEED + 2)
    for n, (org, code, chapters, destination, released) in enumerate(CELLS_TRIPS):
        departed = CELLS_DAY + timedelta(minutes=7 * n)
        route = Route("erbil", destination, (code,), 100.0)
        truth = TruthTrip(org, route.origin, route.destination, chapters, departed)
        _create_shipment(world, org, route, truth, f"{org}-CELLS-{n}")
        trip = _Trip(rng, truth, tz=UTC)
        trip.depart()
        arrived = departed + timedelta(minutes=90)
        trip.arrive(code, arrived)
        trip.procedure("document_check", arrived + timedelta(minutes=5), 10 + n)
        if n == 0:
            trip.procedure("xray_scan", arrived + timedelta(minutes=16), 10)
        if released:
            trip.close(arrived + timedelta(minutes=30 + 11 * n), "released")
        else:
            trip.leave_unreleased()
        trip.deliver(arrived + timedelta(minutes=300))
        _send(world, trip)
        world.trips.append(truth)
    return world


def _check_variety(world: World) -> None:
    """The seed must give the reports something to count (else change the seed)."""
    stops = world.stops
    assert any(s.outcome == "turned_back" for s in stops)
    assert any(s.outcome == "open" and s.trip.delivered_at is not None for s in stops)
    assert any(len(s.holds) == 2 for s in stops)
    assert any(s.dwell_minutes == STANDARD_MINUTES for s in stops)
    fees = [f for s in stops for f in s.fees]
    assert {c for _, c, _ in fees} == {"IQD", "USD"}
    assert {r for _, _, r in fees} == {True, False}
    assert any(p == "transshipment" for s in stops for p, _ in s.procedures)


# --- selecting the truth like the filters do ------------------------------------------------

Params = dict[str, str]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def stops_matching(world: World, params: Params, org: str | None = None) -> list[TruthStop]:
    """The stops a report's filters select (by arrival); only `org`'s for an exporter."""
    selected = []
    for stop in world.stops:
        trip = stop.trip
        if org is not None and stop.org != org:
            continue
        if "from" in params and stop.arrived_at < _when(params["from"]):
            continue
        if "to" in params and stop.arrived_at >= _when(params["to"]):
            continue
        if "province" in params and stop.spec.province != params["province"]:
            continue
        if (
            "checkpoint_id" in params
            and world.checkpoint_id(stop.checkpoint) != params["checkpoint_id"]
        ):
            continue
        if "hs_chapter" in params and params["hs_chapter"] not in trip.chapters:
            continue
        if "destination_province" in params and trip.destination != params["destination_province"]:
            continue
        selected.append(stop)
    return selected


def trips_matching(world: World, params: Params, org: str | None = None) -> list[TruthTrip]:
    """The corridor report's trips: from/to by departure; province and checkpoint select the
    trips that stopped there."""
    selected = []
    for trip in world.trips:
        if org is not None and trip.org != org:
            continue
        if "from" in params and trip.departed_at < _when(params["from"]):
            continue
        if "to" in params and trip.departed_at >= _when(params["to"]):
            continue
        if "hs_chapter" in params and params["hs_chapter"] not in trip.chapters:
            continue
        if "destination_province" in params and trip.destination != params["destination_province"]:
            continue
        if "province" in params and all(s.spec.province != params["province"] for s in trip.stops):
            continue
        if "checkpoint_id" in params and all(
            world.checkpoint_id(s.checkpoint) != params["checkpoint_id"] for s in trip.stops
        ):
            continue
        selected.append(trip)
    return selected


# --- the figures, computed from the truth ---------------------------------------------------

FIGURES = (
    "stops",
    "completed_stops",
    "p50_dwell_minutes",
    "p90_dwell_minutes",
    "mean_dwell_minutes",
    "tail_mean_dwell_minutes",
    "within_standard_share",
    "hold_rate",
    "turn_back_rate",
    "total_delay_hours",
    "top_hold_reasons",
    "fees",
)


def percentile(values: list[float], q: float) -> float | None:
    """numpy's default (linear) percentile, which is PostgreSQL's percentile_cont."""
    return float(np.percentile(values, q)) if values else None


def delay_figures(stops: list[TruthStop], standard: int = STANDARD_MINUTES) -> dict[str, Any]:
    dwell = sorted(s.dwell_minutes for s in stops if s.dwell_minutes is not None)
    tail = dwell[len(dwell) - math.ceil(len(dwell) / 10) :] if dwell else []
    reasons: dict[str, int] = defaultdict(int)
    for stop in stops:
        for reason in stop.holds:
            reasons[reason] += 1
    totals: dict[str, Decimal] = defaultdict(Decimal)
    unreceipted: dict[str, Decimal] = defaultdict(Decimal)
    for stop in stops:
        for amount, currency, receipt in stop.fees:
            totals[currency] += amount
            if not receipt:
                unreceipted[currency] += amount
    return {
        "suppressed": False,
        "stops": len(stops),
        "completed_stops": sum(s.outcome != "open" for s in stops),
        "p50_dwell_minutes": percentile(dwell, 50),
        "p90_dwell_minutes": percentile(dwell, 90),
        "mean_dwell_minutes": float(np.mean(dwell)) if dwell else None,
        "tail_mean_dwell_minutes": float(np.mean(tail)) if tail else None,
        "within_standard_share": sum(d <= standard for d in dwell) / len(dwell) if dwell else None,
        "hold_rate": sum(bool(s.holds) for s in stops) / len(stops),
        "turn_back_rate": sum(s.outcome == "turned_back" for s in stops) / len(stops),
        "total_delay_hours": sum(dwell) / 60,
        "top_hold_reasons": dict(reasons),
        "fees": {
            currency: (total, float(Fraction(unreceipted[currency]) / Fraction(total)))
            for currency, total in totals.items()
        },
    }


def suppressed_row(fields: Iterable[str], **labels: Any) -> dict[str, Any]:
    return {**labels, "suppressed": True, **{f: None for f in fields}}


def organisations(stops: Iterable[TruthStop]) -> int:
    return len({s.org for s in stops})


def _grouped(items: Iterable[T], key: Callable[[T], Any]) -> dict[Any, list[T]]:
    groups: dict[Any, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


# --- an advocate's protected cells, from the truth -----------------------------------------
#
# The rule (app/privacy.py), written again here over the truth, in plain Python: an
# advocate's answer sums cells (checkpoint × UTC day of arrival; for the corridors origin ×
# destination × UTC day of departure). A cell passes with enough exporters and enough
# completed stops (trips); a filtered part of a cell is shown only if it passes and what it
# leaves behind in the cell is empty or passes.

Condition = tuple[str, str]  # ("hs", "25"): carrying chapter 25; ("to", "basra"): bound there


@dataclass(frozen=True)
class Thresholds:
    min_exporters: int
    min_stops: int

    def passes(self, items: list[Any]) -> bool:
        """Stops (completed: not open) or trips (each counts)."""
        completed = sum(1 for i in items if getattr(i, "outcome", "released") != "open")
        return len({i.org for i in items}) >= self.min_exporters and completed >= self.min_stops

    def hides(self, items: list[Any]) -> bool:
        """Neither shown nor left over as a difference; an empty set reveals nothing."""
        return bool(items) and not self.passes(items)


def stop_cell(stop: TruthStop) -> tuple[str, date]:
    return (stop.checkpoint, stop.arrived_at.astimezone(UTC).date())


def trip_cell(trip: TruthTrip) -> tuple[str, str, date]:
    return (trip.origin, trip.destination, trip.departed_at.astimezone(UTC).date())


def _values_of(stop: TruthStop, kind: str) -> set[str]:
    return set(stop.trip.chapters) if kind == "hs" else {stop.trip.destination}


def _meets(stop: TruthStop, condition: Condition) -> bool:
    return condition[1] in _values_of(stop, condition[0])


class StopCells:
    """The cells of an advocate's stop-based question. `whole`: the stops in scope before the
    chapter and destination filters; `asked`: the conditions those filters put on a cell."""

    def __init__(
        self, whole: list[TruthStop], thresholds: Thresholds, asked: frozenset[Condition]
    ) -> None:
        self.cells = _grouped(whole, stop_cell)
        self.thresholds = thresholds
        self.asked = asked

    def published(self, cell: Any, kind: str) -> set[str]:
        """The values of a dimension a cell may be cut by: each part passes and leaves an
        empty or passing rest; together they leave an empty or passing remainder, else the
        smallest (fewest completed stops, then the value) is withheld too, and so on."""
        stops = self.cells.get(cell, [])
        rule = self.thresholds

        def having(value: str) -> list[TruthStop]:
            return [s for s in stops if value in _values_of(s, kind)]

        def without(values: set[str]) -> list[TruthStop]:
            return [s for s in stops if not _values_of(s, kind) & values]

        values = {v for s in stops for v in _values_of(s, kind)}
        shown = {v for v in values if rule.passes(having(v)) and not rule.hides(without({v}))}
        while shown and rule.hides(without(shown)):
            completed = {v: sum(s.outcome != "open" for s in having(v)) for v in shown}
            shown.remove(min(shown, key=lambda v: (completed[v], v)))
        return shown

    def allows(self, cell: Any, extra: Iterable[Condition] = ()) -> bool:
        conditions = self.asked | frozenset(extra)
        stops = self.cells.get(cell, [])
        rule = self.thresholds
        if not rule.passes(stops):
            return False
        if any(value not in self.published(cell, kind) for kind, value in conditions):
            return False
        if len(conditions) < 2:
            return True

        def meeting(these: Iterable[Condition]) -> list[TruthStop]:
            return [s for s in stops if all(_meets(s, c) for c in these)]

        inside = meeting(conditions)
        if not rule.passes(inside):
            return False
        for dropped in conditions:
            rest = [s for s in meeting(conditions - {dropped}) if s not in inside]
            if rule.hides(rest):
                return False
        return True

    def keeps(self, stop: TruthStop, extra: Iterable[Condition] = ()) -> bool:
        return self.allows(stop_cell(stop), extra)


def stop_cells(world: World, filters: Params, min_exporters: int, min_stops: int) -> StopCells:
    whole = {k: v for k, v in filters.items() if k not in ("hs_chapter", "destination_province")}
    asked = set()
    if "hs_chapter" in filters:
        asked.add(("hs", filters["hs_chapter"]))
    if "destination_province" in filters:
        asked.add(("to", filters["destination_province"]))
    return StopCells(
        stops_matching(world, whole), Thresholds(min_exporters, min_stops), frozenset(asked)
    )


def corridor_cells_allowed(
    world: World, filters: Params, min_exporters: int, min_stops: int
) -> set[tuple[str, str, date]]:
    """The corridor cells an advocate may see: the trips asked pass, and the cell's other
    trips (not carrying the chapter, not through the checkpoint or province) are none or pass."""
    rule = Thresholds(min_exporters, min_stops)
    cut = ("hs_chapter", "checkpoint_id", "province")
    whole = trips_matching(world, {k: v for k, v in filters.items() if k not in cut})
    asked = set(map(id, trips_matching(world, filters)))
    inside = _grouped([t for t in whole if id(t) in asked], trip_cell)
    outside = _grouped([t for t in whole if id(t) not in asked], trip_cell)
    return {
        cell
        for cell, trips in inside.items()
        if rule.passes(trips) and not rule.hides(outside.get(cell, []))
    }


Keep = Callable[[TruthStop, tuple[Condition, ...]], bool]


def _everything(stop: TruthStop, extra: tuple[Condition, ...] = ()) -> bool:
    return True


def without_open_cells(world: World) -> World:
    """The world without the stops of its cells that hold no completed stop (a cell of open
    stops only fails even one completed stop a cell): what an advocate sees exactly at one
    exporter and one completed stop a cell, for questions that do not cut the cells."""
    cells = _grouped(world.stops, stop_cell)
    some_completed = {c for c, stops in cells.items() if any(s.outcome != "open" for s in stops)}
    trips = [
        dataclasses.replace(t, stops=[s for s in t.stops if stop_cell(s) in some_completed])
        for t in world.trips
    ]
    return dataclasses.replace(world, trips=trips)


def expected_checkpoints(
    world: World,
    stops: list[TruthStop],
    cells: StopCells | None = None,
    standard: int = STANDARD_MINUTES,
) -> dict[str, dict[str, Any]]:
    """`cells`: an advocate's protected cells; None for exact figures."""
    keep = cells.keeps if cells else _everything
    rows = {}
    for code, group in _grouped(stops, lambda s: s.checkpoint).items():
        labels = {
            "checkpoint_id": world.checkpoint_id(code),
            "checkpoint_code": code,
            "checkpoint_name": SPEC[code].name,
            "province": SPEC[code].province,
        }
        kept = [s for s in group if keep(s)]
        if not kept:
            rows[code] = suppressed_row(FIGURES, **labels)
        else:
            rows[code] = {**labels, **delay_figures(kept, standard)}
    return rows


def expected_agencies(
    stops: list[TruthStop], cells: StopCells | None = None
) -> dict[Any, dict[str, Any]]:
    keep = cells.keeps if cells else _everything
    rows = {}
    for key, group in _grouped(stops, lambda s: (s.spec.authority, s.spec.jurisdiction)).items():
        labels = {"authority": key[0], "jurisdiction": key[1]}
        kept = [s for s in group if keep(s)]
        if not kept:
            rows[key] = suppressed_row((*FIGURES, "checkpoints"), **labels)
        else:
            rows[key] = {
                **labels,
                "checkpoints": len({s.checkpoint for s in kept}),
                **delay_figures(kept),
            }
    return rows


def expected_commodities(
    stops: list[TruthStop], cells: StopCells | None = None
) -> dict[str, dict[str, Any]]:
    keep = cells.keeps if cells else _everything
    by_chapter: dict[str, list[TruthStop]] = defaultdict(list)
    for stop in stops:
        for chapter in set(stop.trip.chapters):  # a stop counts for every chapter carried
            by_chapter[chapter].append(stop)
    rows = {}
    for chapter, group in by_chapter.items():
        labels = {"hs_chapter": chapter, "chapter_name": chapter_name(chapter)}
        # Per cell, the stops carrying the chapter, where that part of the cell may be shown.
        kept = [s for s in group if keep(s, (("hs", chapter),))]
        if not kept:
            rows[chapter] = suppressed_row(FIGURES, **labels)
        else:
            rows[chapter] = {**labels, **delay_figures(kept)}
    return rows


def period_start(when: datetime, interval: str) -> date:
    day = when.astimezone(UTC).date()
    if interval == "week":
        return day - timedelta(days=day.weekday())  # Monday
    return day.replace(day=1)


def previous_period(start: date, interval: str) -> date:
    if interval == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def expected_trends(
    world: World,
    stops: list[TruthStop],
    interval: str,
    by_checkpoint: bool = False,
    cells: StopCells | None = None,
) -> dict[Any, dict[str, Any]]:
    keep = cells.keeps if cells else _everything

    def key(stop: TruthStop) -> tuple[date, str | None]:
        return (period_start(stop.arrived_at, interval), stop.checkpoint if by_checkpoint else None)

    groups = {k: [s for s in group if keep(s)] for k, group in _grouped(stops, key).items()}
    rows = {}
    for (start, code), kept in groups.items():
        labels = {
            "period_start": start.isoformat(),
            "checkpoint_id": world.checkpoint_id(code) if code else None,
            "checkpoint_code": code,
        }
        changes = dict.fromkeys(
            (
                "change_stops",
                "change_hold_rate",
                "change_p50_dwell_minutes",
                "change_p90_dwell_minutes",
            )
        )
        if not kept:
            rows[(start, code)] = {**suppressed_row(FIGURES, **labels), **changes}
            continue
        figures = delay_figures(kept)
        before = groups.get((previous_period(start, interval), code))
        if before:  # never against a suppressed period
            previous = delay_figures(before)
            for name in ("stops", "hold_rate", "p50_dwell_minutes", "p90_dwell_minutes"):
                now, then = figures[name], previous[name]
                changes[f"change_{name}"] = None if now is None or then is None else now - then
        rows[(start, code)] = {**labels, **figures, **changes}
    return rows


PROCEDURE_FIGURES = (
    "stops_requiring",
    "share_of_stops",
    "p50_minutes",
    "p90_minutes",
    "total_hours",
    "share_of_stop_time",
)


def _procedure_runs(
    stops: list[TruthStop], by_checkpoint: bool
) -> dict[tuple[str, str | None], list[tuple[TruthStop, float]]]:
    runs: dict[tuple[str, str | None], list[tuple[TruthStop, float]]] = defaultdict(list)
    for stop in stops:
        for name, minutes in stop.procedures:
            runs[(name, stop.checkpoint if by_checkpoint else None)].append((stop, minutes))
    return runs


def _procedure_runs_kept(
    done: list[tuple[TruthStop, float]], cells: StopCells
) -> list[tuple[TruthStop, float]]:
    """An advocate's runs of one row: those of the cells that may be shown where enough
    exporters' stops required the procedure."""
    kept = []
    for cell, runs in _grouped(done, lambda run: stop_cell(run[0])).items():
        requiring = list({id(stop): stop for stop, _ in runs}.values())
        if cells.allows(cell) and _requiring_passes(requiring, cells.thresholds):
            kept += runs
    return kept


def _requiring_passes(requiring: list[TruthStop], thresholds: Thresholds) -> bool:
    """Enough stops required it (open or not), from enough exporters."""
    return (
        len(requiring) >= thresholds.min_stops
        and organisations(requiring) >= thresholds.min_exporters
    )


def expected_procedures(
    world: World,
    stops: list[TruthStop],
    by_checkpoint: bool = False,
    cells: StopCells | None = None,
) -> dict[Any, dict[str, Any]]:
    def scope_of(stop: TruthStop) -> str | None:
        return stop.checkpoint if by_checkpoint else None

    scope_stops = _grouped(stops, scope_of)
    rows = {}
    for (name, code), done in _procedure_runs(stops, by_checkpoint).items():
        labels = {
            "procedure": name,
            "checkpoint_id": world.checkpoint_id(code) if code else None,
            "checkpoint_code": code,
        }
        if cells is None:
            in_scope = scope_stops[code]
        else:
            # Compared with the stops of the very cells the row sums.
            done = _procedure_runs_kept(done, cells)
            summed = {stop_cell(stop) for stop, _ in done}
            in_scope = [s for s in stops if stop_cell(s) in summed]
        if not done:
            rows[(name, code)] = suppressed_row(PROCEDURE_FIGURES, **labels)
            continue
        requiring = {id(stop): stop for stop, _ in done}.values()
        minutes = sorted(m for _, m in done)
        stop_minutes = sum(s.dwell_minutes or 0.0 for s in in_scope)
        rows[(name, code)] = {
            **labels,
            "suppressed": False,
            "stops_requiring": len(requiring),
            "share_of_stops": len(requiring) / len(in_scope),
            "p50_minutes": percentile(minutes, 50),
            "p90_minutes": percentile(minutes, 90),
            "total_hours": sum(minutes) / 60,
            # Of the stop time known: the procedures of stops that were never closed are left
            # out, as those stops' time is.
            "share_of_stop_time": (
                sum(m for s, m in done if s.dwell_minutes is not None) / stop_minutes
                if stop_minutes
                else None
            ),
        }
    return rows


class CorridorFees(dict[str, dict[str, Decimal | None]]):
    """A corridor's expected fees per currency (per trip, per 100 km)."""


class TripCosts(dict[str, Decimal]):
    """A corridor's expected cost per timed trip, per currency (cost_per_trip)."""


def expected_carec(trips: list[TruthTrip]) -> dict[str, Any]:
    """CAREC CPMM's figures, by hand: over the trips delivered with a known distance, total
    km over total hours, with and without their stops' dwell; fees per trip per currency."""
    timed = [t for t in trips if t.transit_minutes is not None and t.distance_km is not None]
    figures: dict[str, Any] = {"delivered_trips_with_distance": len(timed)}
    if not timed:
        return figures | dict.fromkeys(CAREC_FIGURES[1:])
    km = sum(t.distance_km or 0.0 for t in timed)
    hours = sum(t.transit_minutes or 0.0 for t in timed) / 60
    at_checkpoints = sum(s.dwell_minutes or 0.0 for t in timed for s in t.stops) / 60
    costs: dict[str, Decimal] = defaultdict(Decimal)
    for trip in timed:
        for stop in trip.stops:
            for amount, currency, _ in stop.fees:
                costs[currency] += amount
    return figures | {
        "speed_with_delay_kmh": km / hours,
        "speed_without_delay_kmh": km / (hours - at_checkpoints),
        "time_at_checkpoints_share": at_checkpoints / hours,
        "cost_per_trip": TripCosts(
            (currency, (total / len(timed)).quantize(CENT)) for currency, total in costs.items()
        ),
    }


CAREC_FIGURES = (
    "delivered_trips_with_distance",
    "speed_with_delay_kmh",
    "speed_without_delay_kmh",
    "time_at_checkpoints_share",
    "cost_per_trip",
)
CORRIDOR_FIGURES = (
    "trips",
    "delivered_trips",
    "median_transit_hours",
    "stops_per_trip",
    "delay_hours_per_trip",
    "trips_with_distance",
    "stops_per_100km",
    "delay_minutes_per_100km",
    "fees",
    "worst_checkpoint_id",
    "worst_checkpoint_code",
    "worst_checkpoint_delay_share",
    *CAREC_FIGURES,
)


def expected_corridors(
    world: World, trips: list[TruthTrip], allowed: set[tuple[str, str, date]] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """`allowed`: an advocate's corridor cells (corridor_cells_allowed); None: every trip."""
    groups: dict[tuple[str, str], list[TruthTrip]] = defaultdict(list)
    for trip in trips:
        groups[(trip.origin, trip.destination)].append(trip)
    rows = {}
    for (origin, destination), every in groups.items():
        labels = {"origin_province": origin, "destination_province": destination}
        group = [t for t in every if allowed is None or trip_cell(t) in allowed]
        if not group:
            rows[(origin, destination)] = suppressed_row(CORRIDOR_FIGURES, **labels)
            continue
        n = len(group)
        stops = [s for t in group for s in t.stops]
        delay = sum(s.dwell_minutes or 0.0 for s in stops)
        known = [t for t in group if t.distance_km is not None]
        km = sum(t.distance_km for t in known if t.distance_km is not None)
        known_stops = [s for t in known for s in t.stops]
        transit = sorted(t.transit_minutes for t in group if t.transit_minutes is not None)
        by_checkpoint: dict[str, float] = defaultdict(float)
        for stop in stops:
            by_checkpoint[stop.checkpoint] += stop.dwell_minutes or 0.0
        worst = max(by_checkpoint, key=lambda c: by_checkpoint[c]) if by_checkpoint else None
        fees: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
        for trip in group:
            for stop in trip.stops:
                for amount, currency, receipt in stop.fees:
                    sums = fees[currency]
                    unreceipted = Decimal(0) if receipt else amount
                    sums[0] += amount
                    sums[1] += unreceipted
                    if trip.distance_km is not None:
                        sums[2] += amount
                        sums[3] += unreceipted
        median = percentile(transit, 50)
        rows[(origin, destination)] = {
            **labels,
            "suppressed": False,
            "trips": n,
            "delivered_trips": len(transit),
            "median_transit_hours": None if median is None else median / 60,
            "stops_per_trip": len(stops) / n,
            "delay_hours_per_trip": delay / 60 / n,
            "trips_with_distance": len(known),
            "stops_per_100km": len(known_stops) * 100 / km if km else None,
            "delay_minutes_per_100km": (
                sum(s.dwell_minutes or 0.0 for s in known_stops) * 100 / km if km else None
            ),
            "fees": CorridorFees(
                (
                    currency,
                    {
                        "per_trip": (total / n).quantize(CENT),
                        "unreceipted_per_trip": (unreceipted / n).quantize(CENT),
                        "per_100km": km_total * 100 / Decimal(str(km)) if km else None,
                        "unreceipted_per_100km": km_unreceipted * 100 / Decimal(str(km))
                        if km
                        else None,
                    },
                )
                for currency, (total, unreceipted, km_total, km_unreceipted) in fees.items()
            ),
            "worst_checkpoint_id": world.checkpoint_id(worst) if worst and delay > 0 else None,
            "worst_checkpoint_code": worst if worst and delay > 0 else None,
            "worst_checkpoint_delay_share": (
                by_checkpoint[worst] / delay if worst and delay > 0 else None
            ),
            **expected_carec(group),
        }
    return rows


# --- comparing ----------------------------------------------------------------------------


def assert_row(actual: dict[str, Any], expected: dict[str, Any], where: str = "") -> None:
    """Counts and labels exactly, floats to 1e-9 relative, hold reasons and fees as sets."""
    for name, want in expected.items():
        got = actual.get(name, "<absent>")
        label = f"{where} {name}: got {got!r}, expected {want!r}"
        if want is None or isinstance(want, bool | str):
            assert got == want, label
        elif isinstance(want, int):
            assert not isinstance(got, bool), label
            assert got == want, label
        elif isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-9), label
        elif name == "top_hold_reasons":
            assert {r["reason"]: r["count"] for r in got} == want, label
            counts = [r["count"] for r in got]
            assert counts == sorted(counts, reverse=True), f"{label}: most frequent first"
        elif isinstance(want, CorridorFees):
            _assert_corridor_fees(got, want, label)
        elif isinstance(want, TripCosts):
            assert {c["currency"]: Decimal(str(c["amount"])) for c in got} == want, label
        elif name == "fees":
            assert {f["currency"] for f in got} == set(want), label
            for fee in got:
                total, share = want[fee["currency"]]
                assert fee["total"] == pytest.approx(float(total), rel=1e-12), label
                assert fee["unreceipted_share"] == pytest.approx(share, rel=1e-9), label
        else:
            raise AssertionError(f"cannot compare {name}")


def _assert_corridor_fees(got: list[dict[str, Any]], want: dict[str, Any], label: str) -> None:
    assert {f["currency"] for f in got} == set(want), label
    for fee in got:
        expected = want[fee["currency"]]
        assert fee["per_trip"] == float(expected["per_trip"]), label
        assert fee["unreceipted_per_trip"] == float(expected["unreceipted_per_trip"]), label
        for name in ("per_100km", "unreceipted_per_100km"):
            # Money per 100 km is given in cents: within half a cent of the exact value.
            assert fee[name] == pytest.approx(float(expected[name]), abs=0.005 + 1e-9), label


def assert_rows(
    items: list[dict[str, Any]],
    expected: dict[Any, dict[str, Any]],
    key: Callable[[dict[str, Any]], Any],
) -> None:
    actual = {key(item): item for item in items}
    assert len(actual) == len(items), "one row per group"
    assert set(actual) == set(expected)
    for group, row in expected.items():
        assert_row(actual[group], row, where=str(group))


def checkpoint_key(item: dict[str, Any]) -> str:
    return str(item["checkpoint_code"])


def agency_key(item: dict[str, Any]) -> tuple[str, str]:
    return (item["authority"], item["jurisdiction"])


def commodity_key(item: dict[str, Any]) -> str:
    return str(item["hs_chapter"])


def corridor_key(item: dict[str, Any]) -> tuple[str, str]:
    return (item["origin_province"], item["destination_province"])


def trend_key(item: dict[str, Any]) -> tuple[date, str | None]:
    return (date.fromisoformat(item["period_start"]), item["checkpoint_code"])


def procedure_key(item: dict[str, Any]) -> tuple[str, str | None]:
    return (item["procedure"], item["checkpoint_code"])


def report(client: TestClient, name: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = client.get(f"{API}/reports/{name}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def expected_report(
    world: World,
    name: str,
    params: Params,
    org: str | None = None,
    min_exporters: int | None = None,
    min_stops: int = MIN_STOPS,
) -> tuple[dict[Any, dict[str, Any]], Callable[[dict[str, Any]], Any]]:
    """Every report's expected rows for one viewer (`org` for an exporter; `min_exporters`
    and `min_stops` for an advocate, whose rows sum the protected cells that pass), and how
    to key the actual rows. `params` may carry by/interval."""
    filters = _filters(params)
    stops = stops_matching(world, filters, org)
    by_checkpoint = params.get("by") == "checkpoint"
    cells = None
    if min_exporters is not None:
        cells = stop_cells(world, filters, min_exporters, min_stops)
    if name == "checkpoints":
        return expected_checkpoints(world, stops, cells), checkpoint_key
    if name == "agencies":
        return expected_agencies(stops, cells), agency_key
    if name == "commodities":
        return expected_commodities(stops, cells), commodity_key
    if name == "procedures":
        return expected_procedures(world, stops, by_checkpoint, cells), procedure_key
    if name == "trends":
        interval = params.get("interval", "week")
        return expected_trends(world, stops, interval, by_checkpoint, cells), trend_key
    if name == "corridors":
        trips = trips_matching(world, filters, org)
        allowed = (
            corridor_cells_allowed(world, filters, min_exporters, min_stops)
            if min_exporters is not None
            else None
        )
        return expected_corridors(world, trips, allowed), corridor_key
    raise AssertionError(name)


def _filters(params: Params) -> Params:
    return {k: v for k, v in params.items() if k not in ("by", "interval", "sort")}


def expected_excluded_stops(
    world: World, name: str, params: Params, min_exporters: int, min_stops: int = MIN_STOPS
) -> int:
    """An advocate's `excluded_stops`: the stops in scope left out of at least one row they
    count in (the procedures: plus each row's runs left out of it)."""
    filters = _filters(params)
    if name == "corridors":
        allowed = corridor_cells_allowed(world, filters, min_exporters, min_stops)
        return sum(
            len(t.stops) for t in trips_matching(world, filters) if trip_cell(t) not in allowed
        )
    cells = stop_cells(world, filters, min_exporters, min_stops)
    stops = stops_matching(world, filters)
    if name == "commodities":
        return sum(
            any(not cells.keeps(s, (("hs", c),)) for c in set(s.trip.chapters)) for s in stops
        )
    excluded = sum(not cells.keeps(s) for s in stops)
    if name == "procedures":
        for done in _procedure_runs(stops, params.get("by") == "checkpoint").values():
            kept = {id(stop) for stop, _ in _procedure_runs_kept(done, cells)}
            excluded += len({id(stop) for stop, _ in done} - kept)
    return excluded


def resolve(world: World, params: Params) -> Params:
    """Query parameters as the tests write them, "@KRK-01" standing for that checkpoint's id."""
    return {k: world.checkpoint_id(v[1:]) if v.startswith("@") else v for k, v in params.items()}


def live_truth(world: World) -> dict[str, dict[str, Any]]:
    """Per checkpoint code: trucks there now, held now, the dwell of stops closed in the last
    six hours (with their organisations), and the last event at any of its stops."""
    rows: dict[str, dict[str, Any]] = {
        code: {"trucks_now": 0, "held_now": 0, "closed_6h": [], "orgs_6h": set(), "last": None}
        for code in world.checkpoints
    }
    since = world.now - timedelta(hours=6)
    for trip in world.trips:
        last = trip.stops[-1] if trip.stops else None
        if last is not None and last.outcome == "open" and trip.delivered_at is None:
            rows[last.checkpoint]["trucks_now"] += 1
            rows[last.checkpoint]["held_now"] += bool(last.holds)
        for stop in trip.stops:
            row = rows[stop.checkpoint]
            if stop.closed_at is not None and stop.closed_at >= since:
                row["closed_6h"].append(stop.dwell_minutes)
                row["orgs_6h"].add(stop.org)
            if stop.last_event_at is not None:
                row["last"] = max(row["last"] or stop.last_event_at, stop.last_event_at)
    return rows


def live_medians(
    world: World, start: datetime, end: datetime, thresholds: Thresholds
) -> tuple[dict[str, dict[str, Any]], int]:
    """The live status for all but admins, from the truth: the stops closed in [start, end),
    per checkpoint and clock hour of closing; an hour's stops count only if they are enough
    stops from enough exporters. Per checkpoint code: `closed` (in the window) and `shown`
    (the dwell of the stops that count); and the stops left out."""
    hours: dict[tuple[str, datetime], list[TruthStop]] = defaultdict(list)
    for stop in world.stops:
        if stop.closed_at is not None and start <= stop.closed_at < end:
            hours[(stop.checkpoint, floor_hour(stop.closed_at))].append(stop)
    rows: dict[str, dict[str, Any]] = {
        code: {"closed": 0, "shown": []} for code in world.checkpoints
    }
    excluded = 0
    for (code, _), stops in hours.items():
        rows[code]["closed"] += len(stops)
        if len(stops) >= thresholds.min_stops and organisations(stops) >= thresholds.min_exporters:
            rows[code]["shown"] += [s.dwell_minutes for s in stops]
        else:
            excluded += len(stops)
    return rows, excluded
