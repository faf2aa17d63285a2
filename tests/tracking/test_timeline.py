"""timeline.build: a shipment's events, in any order and with any duplicates, become its stops,
holds, procedures, fees, anomalies and status (DESIGN.md: "Tracking", "Stops", "Status").

Pure: no database, no client, no clock. Scenario tests first, then anomalies (each kept and
flagged, never dropped or "fixed"), then properties over generated trips and messy lists.
"""

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.tracking.timeline import (
    Event,
    Fee,
    Hold,
    ProcedureRun,
    Stop,
    Timeline,
    build,
    extend,
    order,
    start,
)
from app.tracking.vocabulary import Currency, EventType, HoldReason, Procedure, StopOutcome

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
BAGHDAD = timezone(timedelta(hours=3))  # phones may report local time: same instants
A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
B = uuid.UUID("00000000-0000-0000-0000-00000000000b")
C = uuid.UUID("00000000-0000-0000-0000-00000000000c")
IDS = uuid.UUID("5d2a7c1e-3f4b-4c8d-9e0f-112233445566")


# --- helpers ---------------------------------------------------------------------------------


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def ev(
    type_: str,
    minute: float,
    checkpoint: uuid.UUID | None = None,
    *,
    procedure: str | None = None,
    reason: str | None = None,
    fee: str | None = None,
    currency: str = "IQD",
    receipt: bool = False,
    tag: str = "",
) -> Event:
    """One event with a fixed id derived from its content (`tag` tells twins apart)."""
    key = f"{type_}|{minute}|{checkpoint}|{procedure}|{reason}|{fee}|{tag}"
    return Event(
        event_id=uuid.uuid5(IDS, key),
        type=EventType(type_),
        occurred_at=at(minute),
        checkpoint_id=checkpoint,
        procedure=procedure,
        hold_reason=reason,
        fee_amount=None if fee is None else Decimal(fee),
        fee_currency=None if fee is None else currency,
        fee_receipt=None if fee is None else receipt,
    )


def codes(holder: Stop | Timeline) -> list[str]:
    return [a.code for a in holder.anomalies]


def the_anomaly(holder: Stop | Timeline, code: str) -> Any:
    found = [a for a in holder.anomalies if a.code == code]
    assert len(found) == 1, f"expected one {code!r} in {codes(holder)}"
    return found[0]


def referenced(holder: Stop | Timeline) -> set[uuid.UUID]:
    return {a.event_id for a in holder.anomalies}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def snapshot(timeline: Timeline) -> dict[str, Any]:
    """What the service stores and serves, computed properties included."""

    def anomalies(items: list[Any]) -> list[tuple[str, str, str]]:
        return [(a.code, str(a.event_id), a.detail) for a in items]

    return {
        "status": timeline.status,
        "departed_at": iso(timeline.departed_at),
        "delivered_at": iso(timeline.delivered_at),
        "turned_back_at": iso(timeline.turned_back_at),
        "last_event_at": iso(timeline.last_event_at),
        "anomalies": anomalies(timeline.anomalies),
        "stops": [
            {
                "seq": s.seq,
                "checkpoint_id": str(s.checkpoint_id),
                "opened_by": str(s.opened_by),
                "arrived_at": iso(s.arrived_at),
                "closed_at": iso(s.closed_at),
                "outcome": str(s.outcome),
                "dwell_minutes": s.dwell_minutes,
                "held_minutes": s.held_minutes,
                "current": s.current,
                "last_event_at": iso(s.last_event_at),
                "holds": [
                    (h.reason, iso(h.started_at), iso(h.ended_at), h.minutes, str(h.event_id))
                    for h in s.holds
                ],
                "procedures": [
                    (p.procedure, iso(p.started_at), iso(p.completed_at), p.minutes)
                    for p in s.procedures
                ],
                "fees": [
                    (str(f.amount), f.currency, f.receipt, iso(f.paid_at), str(f.event_id))
                    for f in s.fees
                ],
                "anomalies": anomalies(s.anomalies),
            }
            for s in timeline.stops
        ],
    }


def driver_day() -> list[Event]:
    """Departed, a long stop at A (check, fee, hold, release), a short one at B, delivered."""
    return [
        ev("departed", 0),
        ev("arrived", 30, A),
        ev("procedure_started", 35, A, procedure="document_check"),
        ev("procedure_completed", 50, A, procedure="document_check"),
        ev("fee_paid", 55, A, fee="25000", currency="IQD", receipt=False),
        ev("held", 60, A, reason="missing_document"),
        ev("released", 150, A),
        ev("arrived", 240, B),
        ev("released", 255, B),
        ev("delivered", 300),
    ]


# --- scenarios -------------------------------------------------------------------------------


def test_a_drivers_normal_day_gives_two_clean_stops_and_delivered() -> None:
    day = driver_day()
    timeline = build(day)

    assert timeline.status == "delivered"
    assert timeline.anomalies == []
    assert timeline.departed_at == at(0)
    assert timeline.delivered_at == at(300)
    assert timeline.turned_back_at is None
    assert timeline.last_event_at == at(300)
    assert timeline.current_stop is None
    assert len(timeline.stops) == 2
    first, second = timeline.stops

    assert (first.seq, first.checkpoint_id, first.opened_by) == (1, A, day[1].event_id)
    assert (first.arrived_at, first.closed_at) == (at(30), at(150))
    assert first.outcome == StopOutcome.released
    assert first.dwell_minutes == 120.0
    assert first.procedures == [ProcedureRun("document_check", at(35), at(50))]
    assert first.procedures[0].minutes == 15.0
    assert first.holds == [Hold("missing_document", at(60), day[5].event_id, ended_at=at(150))]
    assert first.holds[0].minutes == 90.0
    assert first.held_minutes == 90.0
    assert first.fees == [Fee(Decimal("25000"), "IQD", False, at(55), day[4].event_id)]
    assert first.anomalies == []
    assert first.current is False
    assert first.last_event_at == at(150)

    assert (second.seq, second.checkpoint_id, second.opened_by) == (2, B, day[7].event_id)
    assert (second.arrived_at, second.closed_at) == (at(240), at(255))
    assert second.outcome == StopOutcome.released
    assert second.dwell_minutes == 15.0
    assert (second.holds, second.procedures, second.fees, second.anomalies) == ([], [], [], [])
    assert second.held_minutes == 0.0
    assert second.current is False


def test_the_day_logged_backwards_and_twice_gives_the_same_timeline() -> None:
    day = driver_day()
    resent = list(reversed(day)) + [replace(e) for e in day[::2]]

    assert build(resent) == build(day)
    assert snapshot(build(resent)) == snapshot(build(day))


def test_status_follows_the_day_event_by_event() -> None:
    day = driver_day()

    statuses = [build(day[:n]).status for n in range(len(day) + 1)]

    assert statuses == [
        "planned",  # nothing yet
        "in_transit",  # departed
        "at_checkpoint",  # arrived A
        "at_checkpoint",  # document check started
        "at_checkpoint",  # document check completed
        "at_checkpoint",  # fee paid
        "held",  # held: missing document
        "in_transit",  # released A
        "at_checkpoint",  # arrived B
        "in_transit",  # released B
        "delivered",
    ]
    current = [build(day[:n]).current_stop for n in range(len(day) + 1)]
    assert [s.checkpoint_id if s else None for s in current] == [
        None, None, A, A, A, A, A, None, B, None, None,
    ]  # fmt: skip


def test_turned_back_closes_the_stop_with_outcome_turned_back() -> None:
    hold = ev("held", 40, A, reason="product_banned")
    events = [ev("departed", 0), ev("arrived", 20, A), hold, ev("turned_back", 100, A)]

    timeline = build(events)

    assert timeline.status == "turned_back"
    assert timeline.turned_back_at == at(100)
    assert timeline.delivered_at is None
    assert timeline.anomalies == []
    assert timeline.current_stop is None
    (stop,) = timeline.stops
    assert stop.outcome == StopOutcome.turned_back
    assert stop.closed_at == at(100)
    assert stop.dwell_minutes == 80.0
    assert stop.holds == [Hold("product_banned", at(40), hold.event_id, ended_at=at(100))]
    assert stop.anomalies == []


def test_one_released_ends_the_open_hold_and_closes_the_stop() -> None:
    events = [
        ev("arrived", 10, A),
        ev("held", 20, A, reason="security"),
        ev("released", 80),  # no checkpoint: the current stop's
    ]

    timeline = build(events)

    (stop,) = timeline.stops
    assert stop.holds[0].ended_at == at(80)
    assert stop.holds[0].minutes == 60.0
    assert stop.open_hold is None
    assert stop.closed_at == at(80)
    assert stop.outcome == StopOutcome.released
    assert stop.current is False
    assert timeline.status == "in_transit"
    assert timeline.anomalies == []
    assert stop.anomalies == []


def test_arrived_and_released_at_the_same_instant_is_a_zero_dwell_not_an_anomaly() -> None:
    events = [ev("released", 30, A), ev("arrived", 30, A), ev("departed", 0)]

    timeline = build(events)

    (stop,) = timeline.stops
    assert (stop.arrived_at, stop.closed_at) == (at(30), at(30))
    assert stop.dwell_minutes == 0.0
    assert stop.outcome == StopOutcome.released
    assert stop.anomalies == []
    assert timeline.anomalies == []
    assert timeline.status == "in_transit"


def test_at_one_instant_a_truck_arrives_is_held_pays_and_is_released_in_that_order() -> None:
    fee = ev("fee_paid", 40, A, fee="10", currency="USD", receipt=True)
    hold = ev("held", 40, A, reason="fee_dispute")
    events = [
        ev("released", 40, A),
        fee,
        ev("procedure_completed", 40, A, procedure="fee_payment"),
        hold,
        ev("procedure_started", 40, A, procedure="fee_payment"),
        ev("arrived", 40, A),
    ]

    timeline = build(events)

    (stop,) = timeline.stops
    assert stop.anomalies == []
    assert timeline.anomalies == []
    assert stop.dwell_minutes == 0.0
    assert stop.holds == [Hold("fee_dispute", at(40), hold.event_id, ended_at=at(40))]
    assert stop.procedures == [ProcedureRun("fee_payment", at(40), at(40))]
    assert stop.fees == [Fee(Decimal("10"), "USD", True, at(40), fee.event_id)]


def test_released_at_one_checkpoint_and_arrived_at_the_next_in_the_same_minute_is_clean() -> None:
    # Two posts of one border crossing, a minute-resolution phone: leaving A and reaching B
    # carry the same occurred_at. That is a normal trip, not four broken stops.
    events = [
        ev("departed", 0),
        ev("arrived", 10, A),
        ev("released", 30, A),
        ev("arrived", 30, B),
        ev("released", 50, B),
        ev("delivered", 60),
    ]

    timeline = build(events)

    assert [codes(s) for s in timeline.stops] == [[], []]
    assert [(s.checkpoint_id, s.dwell_minutes) for s in timeline.stops] == [(A, 20.0), (B, 20.0)]
    assert timeline.status == "delivered"


# --- anomalies: kept and flagged, never dropped or "fixed" -----------------------------------


def test_released_before_arrived_is_kept_with_released_before_arrival_and_no_dwell() -> None:
    released = ev("released", 20, A)
    arrived = ev("arrived", 40, A)

    timeline = build([ev("departed", 0), arrived, released])

    (stop,) = timeline.stops
    assert (stop.arrived_at, stop.closed_at) == (at(40), at(20))
    assert stop.dwell_minutes is None
    assert the_anomaly(stop, "released_before_arrival").event_id == arrived.event_id
    assert {arrived.event_id, released.event_id} <= referenced(stop)
    assert stop.outcome == StopOutcome.released
    assert timeline.status == "in_transit"


def test_two_arrivals_without_a_release_stay_one_stop_flagged_second_arrival() -> None:
    again = ev("arrived", 20, A, tag="again")

    timeline = build([ev("arrived", 10, A), again, ev("released", 30, A)])

    (stop,) = timeline.stops
    assert the_anomaly(stop, "second_arrival_without_release").event_id == again.event_id
    assert stop.arrived_at == at(10)  # the first arrival is the arrival
    assert stop.dwell_minutes == 20.0
    assert stop.outcome == StopOutcome.released


def test_arriving_at_b_while_a_is_open_flags_a_not_released_and_makes_b_current() -> None:
    at_b = ev("arrived", 50, B)

    timeline = build([ev("arrived", 10, A), at_b])

    first, second = timeline.stops
    assert the_anomaly(first, "not_released").event_id == at_b.event_id
    assert first.closed_at is None
    assert first.dwell_minutes is None
    assert first.outcome == StopOutcome.open
    assert first.current is False
    assert second.checkpoint_id == B
    assert second.current is True
    assert second.anomalies == []
    assert timeline.current_stop is second
    assert timeline.status == "at_checkpoint"


def test_events_after_delivery_are_flagged_and_the_status_stays_delivered() -> None:
    note = ev("note", 110)
    late_arrival = ev("arrived", 120, C)
    events = [ev("arrived", 10, A), ev("released", 20, A), ev("delivered", 100)]

    timeline = build([*events, note, late_arrival])

    assert timeline.status == "delivered"
    assert timeline.delivered_at == at(100)
    assert codes(timeline) == ["event_after_delivery", "event_after_delivery"]
    assert referenced(timeline) == {note.event_id, late_arrival.event_id}
    assert timeline.last_event_at == at(120)  # kept, not dropped


def test_procedure_completed_without_a_start_is_kept_without_minutes() -> None:
    completed = ev("procedure_completed", 20, A, procedure="xray_scan")

    timeline = build([ev("arrived", 10, A), completed, ev("released", 30, A)])

    (stop,) = timeline.stops
    assert the_anomaly(stop, "procedure_completed_without_start").event_id == completed.event_id
    assert stop.procedures == [ProcedureRun("xray_scan", None, at(20))]
    assert stop.procedures[0].minutes is None
    assert stop.dwell_minutes == 20.0


def test_a_procedure_still_running_at_release_is_flagged_procedure_not_completed() -> None:
    started = ev("procedure_started", 15, A, procedure="physical_inspection")
    events = [ev("arrived", 10, A), started, ev("released", 40, A)]

    timeline = build(events)

    (stop,) = timeline.stops
    anomaly = the_anomaly(stop, "procedure_not_completed")
    assert anomaly.event_id == started.event_id  # the procedure left running, not the release
    assert "physical_inspection" in anomaly.detail
    assert stop.procedures == [ProcedureRun("physical_inspection", at(15), None)]
    assert stop.procedures[0].minutes is None
    assert stop.outcome == StopOutcome.released
    assert stop.dwell_minutes == 30.0


def test_a_release_for_an_earlier_checkpoint_logged_after_reaching_the_next_goes_to_that_stop() -> (
    None
):
    late_release = ev("released", 50, A)
    events = [ev("arrived", 10, A), ev("arrived", 40, B), late_release]

    timeline = build(events)

    first, second = timeline.stops
    assert (first.checkpoint_id, first.closed_at) == (A, at(50))
    assert the_anomaly(first, "after_moving_on").event_id == late_release.event_id
    assert "not_released" in codes(first)  # B was reached before A was released
    assert (second.checkpoint_id, second.current, codes(second)) == (B, True, [])
    assert timeline.status == "at_checkpoint"


def test_a_stop_opened_after_delivery_is_kept_flagged_and_not_current() -> None:
    late_arrival = ev("arrived", 90, B)
    events = [ev("arrived", 10, A), ev("released", 20, A), ev("delivered", 60), late_arrival]

    timeline = build(events)

    assert timeline.status == "delivered"
    assert timeline.current_stop is None
    late = timeline.stops[-1]
    assert (late.checkpoint_id, late.current, late.dwell_minutes) == (B, False, None)
    assert the_anomaly(late, "open_after_trip_ended").event_id == late_arrival.event_id
    assert the_anomaly(timeline, "event_after_delivery").event_id == late_arrival.event_id


def test_a_fee_with_no_checkpoint_and_no_open_stop_is_flagged_on_the_timeline() -> None:
    fee = ev("fee_paid", 10, fee="5000")

    timeline = build([ev("departed", 0), fee])

    assert timeline.stops == []
    assert the_anomaly(timeline, "no_open_stop").event_id == fee.event_id
    assert timeline.status == "in_transit"
    assert timeline.last_event_at == at(10)


def test_held_while_held_ends_the_first_hold_and_flags_the_second() -> None:
    first_hold = ev("held", 20, A, reason="missing_document")
    second_hold = ev("held", 50, A, reason="permit_required")
    events = [ev("arrived", 10, A), first_hold, second_hold, ev("released", 80, A)]

    timeline = build(events)

    (stop,) = timeline.stops
    assert the_anomaly(stop, "held_while_held").event_id == second_hold.event_id
    assert stop.holds == [
        Hold("missing_document", at(20), first_hold.event_id, ended_at=at(50)),
        Hold("permit_required", at(50), second_hold.event_id, ended_at=at(80)),
    ]
    assert stop.held_minutes == 60.0
    assert stop.dwell_minutes == 70.0


def test_released_twice_keeps_the_first_close_and_flags_closed_twice() -> None:
    again = ev("released", 30, A, tag="again")

    timeline = build([ev("arrived", 10, A), ev("released", 20, A), again])

    (stop,) = timeline.stops
    assert the_anomaly(stop, "closed_twice").event_id == again.event_id
    assert stop.closed_at == at(20)
    assert stop.dwell_minutes == 10.0
    assert stop.last_event_at == at(30)
    assert timeline.status == "in_transit"


def test_an_arrival_logged_after_an_earlier_stop_event_is_the_stops_arrival() -> None:
    # A hold stamped (clock skew, offline phone) before the arrival opens the stop without one;
    # the arrival that follows is the first and only arrival there, not a "second" one.
    held = ev("held", 5, A, reason="security")
    arrived = ev("arrived", 10, A)

    timeline = build([ev("departed", 0), held, arrived, ev("released", 30, A)])

    (stop,) = timeline.stops
    assert held.event_id in referenced(stop)  # the hold before the arrival stays flagged
    assert "second_arrival_without_release" not in codes(stop)
    assert stop.arrived_at == at(10)
    assert stop.dwell_minutes == 20.0


# --- generated events ------------------------------------------------------------------------

CHECKPOINTS = [A, B, C]
CURRENCIES = [c.value for c in Currency]
Spec = tuple[str, int, uuid.UUID | None, dict[str, Any]]
TRAVEL = st.integers(1, 180)  # minutes between a release and the next arrival


@dataclass
class PlannedStop:
    checkpoint: uuid.UUID
    arrived: int
    closed: int
    outcome: StopOutcome
    procedures: dict[str, tuple[int, int]]
    fee_specs: list[int]  # indices into the trip's specs
    hold: tuple[str, int, int] | None = None  # reason, minute, spec index
    fee_ids: list[uuid.UUID] = field(default_factory=list)
    hold_id: uuid.UUID | None = None


@dataclass
class Trip:
    events: list[Event]
    stops: list[PlannedStop]
    turned_back: bool


def to_events(draw: st.DrawFn, specs: list[Spec]) -> list[Event]:
    ids = draw(st.lists(st.uuids(), min_size=len(specs), max_size=len(specs), unique=True))
    zones = draw(
        st.lists(st.sampled_from([UTC, BAGHDAD]), min_size=len(specs), max_size=len(specs))
    )
    return [
        Event(event_id, EventType(type_), at(minute).astimezone(zone), checkpoint, **extra)
        for event_id, zone, (type_, minute, checkpoint, extra) in zip(
            ids, zones, specs, strict=True
        )
    ]


@st.composite
def trips(draw: st.DrawFn, travel: st.SearchStrategy[int] = TRAVEL, located: bool = False) -> Trip:
    """A plausible trip: departed; per checkpoint arrived, procedures, fees, maybe a hold, then
    released (or turned_back at the last); delivered. Times never go backwards; `pause` = 0
    puts events at the same instant.

    `located`: every stop event names its checkpoint and every stop lasts at least a minute.
    Without that, a trip whose stops touch in time (travel 0) is ambiguous to anyone: two
    arrivals in one minute, or an unlocated event at the instant one stop ends and the next
    begins, could belong to either."""
    pause = st.integers(0, 30)
    specs: list[Spec] = []
    planned: list[PlannedStop] = []

    def here(checkpoint: uuid.UUID) -> uuid.UUID | None:
        return checkpoint if located or draw(st.booleans()) else None  # may be omitted

    now = draw(st.integers(0, 60))
    specs.append(("departed", now, None, {}))
    count = draw(st.integers(1, 5))
    turned_back = draw(st.integers(0, 3)) == 0
    previous: uuid.UUID | None = None
    for i in range(count):
        gap = draw(travel)
        # No time on the road: the next post of the same crossing, never the same one again.
        nearby = [c for c in CHECKPOINTS if not (gap == 0 and planned and c == previous)]
        checkpoint = previous = draw(st.sampled_from(nearby))
        now += gap
        arrived = latest = now
        specs.append(("arrived", arrived, checkpoint, {}))
        runs: dict[str, tuple[int, int]] = {}
        for procedure in draw(st.lists(st.sampled_from(list(Procedure)), unique=True, max_size=3)):
            start = arrived + draw(pause)
            done = start + draw(pause)
            specs.append(("procedure_started", start, here(checkpoint), {"procedure": procedure}))
            specs.append(("procedure_completed", done, here(checkpoint), {"procedure": procedure}))
            runs[procedure] = (start, done)
            latest = max(latest, done)
        fee_specs = []
        for _ in range(draw(st.integers(0, 2))):
            paid = arrived + draw(pause)
            fee = {
                "fee_amount": Decimal(draw(st.integers(1, 10**6))),
                "fee_currency": draw(st.sampled_from(CURRENCIES)),
                "fee_receipt": draw(st.booleans()),
            }
            fee_specs.append(len(specs))
            specs.append(("fee_paid", paid, here(checkpoint), fee))
            latest = max(latest, paid)
        hold = None
        if draw(st.booleans()):
            reason = draw(st.sampled_from(list(HoldReason)))
            held = arrived + draw(pause)
            hold = (reason, held, len(specs))
            specs.append(("held", held, here(checkpoint), {"hold_reason": reason}))
            latest = max(latest, held)
        closed = max(latest + draw(pause), arrived + 1) if located else latest + draw(pause)
        last_turns_back = turned_back and i == count - 1
        outcome = StopOutcome.turned_back if last_turns_back else StopOutcome.released
        specs.append((outcome.value, closed, here(checkpoint), {}))
        planned.append(PlannedStop(checkpoint, arrived, closed, outcome, runs, fee_specs, hold))
        now = closed
    if not turned_back:
        specs.append(("delivered", now + draw(st.integers(0, 120)), None, {}))

    events = to_events(draw, specs)
    for stop in planned:
        stop.fee_ids = [events[i].event_id for i in stop.fee_specs]
        stop.hold_id = None if stop.hold is None else events[stop.hold[2]].event_id
    return Trip(events, planned, turned_back)


@st.composite
def messy_events(draw: st.DrawFn) -> list[Event]:
    """Anything the API accepts: random types, a small pool of checkpoints, procedures, reasons
    and minutes (so collisions and same-instant events are common)."""
    specs: list[Spec] = []
    for _ in range(draw(st.integers(0, 30))):
        type_ = draw(st.sampled_from(list(EventType)))
        if type_ == EventType.arrived:
            checkpoint = draw(st.sampled_from(CHECKPOINTS))  # required for arrivals
        else:
            checkpoint = draw(st.one_of(st.none(), st.sampled_from(CHECKPOINTS)))
        extra: dict[str, Any] = {}
        if type_ in (EventType.procedure_started, EventType.procedure_completed):
            extra["procedure"] = draw(st.sampled_from(["document_check", "xray_scan"]))
        elif type_ == EventType.held:
            extra["hold_reason"] = draw(st.sampled_from(["security", "missing_document"]))
        elif type_ == EventType.fee_paid:
            extra["fee_amount"] = Decimal(draw(st.sampled_from(["10", "25000", "0.50"])))
            extra["fee_currency"] = draw(st.sampled_from(["IQD", "USD"]))
            extra["fee_receipt"] = draw(st.booleans())
        specs.append((type_.value, draw(st.integers(0, 40)), checkpoint, extra))
    return to_events(draw, specs)


@st.composite
def resent(draw: st.DrawFn, events: list[Event]) -> list[Event]:
    """The same events as offline phones deliver them: any order, some more than once."""
    copies = draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    return draw(st.permutations(events + [replace(e) for e in copies]))


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(events=st.one_of(trips().map(lambda t: t.events), messy_events()), data=st.data())
def test_any_order_and_any_duplication_gives_the_identical_timeline(
    events: list[Event], data: st.DataObject
) -> None:
    again = data.draw(resent(events), label="resent")

    expected, actual = build(events), build(again)

    assert actual == expected
    assert actual.status == expected.status
    assert snapshot(actual) == snapshot(expected)


def assert_clean_trip(trip: Trip) -> None:
    timeline = build(trip.events)

    assert timeline.anomalies == []
    assert [codes(s) for s in timeline.stops] == [[] for _ in timeline.stops]
    arrivals = [e for e in trip.events if e.type == EventType.arrived]
    assert len(timeline.stops) == len(arrivals) == len(trip.stops)
    assert timeline.status == ("turned_back" if trip.turned_back else "delivered")
    assert timeline.current_stop is None
    for stop, plan in zip(timeline.stops, trip.stops, strict=True):
        assert stop.checkpoint_id == plan.checkpoint
        assert (stop.arrived_at, stop.closed_at) == (at(plan.arrived), at(plan.closed))
        assert stop.outcome == plan.outcome
        assert stop.arrived_at is not None
        assert stop.closed_at is not None
        assert stop.dwell_minutes == (stop.closed_at - stop.arrived_at).total_seconds() / 60
        assert stop.dwell_minutes == plan.closed - plan.arrived
        assert stop.dwell_minutes >= stop.held_minutes
        assert sorted(f.event_id for f in stop.fees) == sorted(plan.fee_ids)
        runs = {p.procedure: (p.started_at, p.completed_at) for p in stop.procedures}
        assert runs == {p: (at(s), at(d)) for p, (s, d) in plan.procedures.items()}
        if plan.hold is None:
            assert stop.holds == []
        else:
            reason, held, _ = plan.hold
            assert plan.hold_id is not None
            assert stop.holds == [Hold(reason, at(held), plan.hold_id, ended_at=at(plan.closed))]


@settings(max_examples=200, deadline=None)
@given(trip=trips())
def test_a_valid_trip_gives_one_clean_stop_per_arrival_with_exact_dwell(trip: Trip) -> None:
    assert_clean_trip(trip)


@settings(max_examples=100, deadline=None)
@given(trip=trips(travel=st.integers(0, 180), located=True))
def test_a_valid_trip_stays_clean_when_a_release_and_the_next_arrival_share_an_instant(
    trip: Trip,
) -> None:
    assert_clean_trip(trip)


@settings(max_examples=300, deadline=None)
@given(events=messy_events())
def test_a_messy_list_never_raises_and_keeps_every_event_accounted_for(
    events: list[Event],
) -> None:
    timeline = build(events)

    ids = {e.event_id for e in events}
    stops = timeline.stops
    all_anomalies = timeline.anomalies + [a for s in stops for a in s.anomalies]
    mentioned = {a.event_id for a in all_anomalies}

    assert [s.seq for s in stops] == list(range(1, len(stops) + 1))
    assert sum(s.current for s in stops) <= 1
    assert len({s.opened_by for s in stops}) == len(stops)  # stored stop ids derive from it
    assert {s.opened_by for s in stops} <= ids
    assert mentioned <= ids
    for stop in stops:
        if stop.dwell_minutes is not None:
            assert stop.closed_at is not None
            assert stop.arrived_at is not None
            assert stop.closed_at >= stop.arrived_at
        elif not stop.current:
            assert stop.anomalies, "a stop without dwell that is not current must say why"
        for hold in stop.holds:
            assert hold.ended_at is None or hold.ended_at >= hold.started_at
    for fee in (e for e in events if e.type == EventType.fee_paid):
        kept = [f for s in stops for f in s.fees if f.event_id == fee.event_id]
        assert len(kept) == 1 or (not kept and fee.event_id in mentioned)
    for held in (e for e in events if e.type == EventType.held):
        kept_holds = [h for s in stops for h in s.holds if h.event_id == held.event_id]
        assert len(kept_holds) == 1 or (not kept_holds and held.event_id in mentioned)

    current = timeline.current_stop
    if timeline.status in ("at_checkpoint", "held"):
        assert current is not None
        assert (current.open_hold is not None) == (timeline.status == "held")
    elif timeline.status in ("planned", "in_transit"):
        assert current is None
    if timeline.status == "planned":
        assert stops == []
        assert timeline.departed_at is None
    assert timeline.last_event_at == max((e.occurred_at for e in events), default=None)


# --- going on from an earlier build (the event writer's path) --------------------------------


def instant_boundaries(events: list[Event]) -> list[int]:
    """Where the ordered events may be cut so that all later ones are strictly later."""
    ordered = order(events)
    return [
        k
        for k in range(len(ordered) + 1)
        if k in (0, len(ordered)) or ordered[k - 1].occurred_at < ordered[k].occurred_at
    ]


@settings(max_examples=300, deadline=None)
@given(events=st.one_of(trips().map(lambda t: t.events), messy_events()), data=st.data())
def test_extending_a_build_event_by_event_gives_the_build_of_all_events(
    events: list[Event], data: st.DataObject
) -> None:
    ordered = order(events)
    cuts = data.draw(st.lists(st.sampled_from(instant_boundaries(events)), unique=True))
    cuts = sorted({0, *cuts, len(ordered)})
    progress = start(ordered[: cuts[0]])
    for begin, end in zip(cuts, cuts[1:], strict=False):
        before = snapshot(progress.timeline)
        before_stops = list(progress.timeline.stops)
        extended = extend(progress, ordered[begin:end])
        assert extended is not None
        following, touched = extended

        assert snapshot(progress.timeline) == before  # the earlier timeline is left as it was
        expected = build(ordered[:end])
        assert following.timeline == expected
        assert snapshot(following.timeline) == snapshot(expected)
        for stop in following.timeline.stops:
            if stop.seq not in touched:  # untouched: equal to the stop before
                assert stop == before_stops[stop.seq - 1]
        progress = following


def test_an_event_not_later_than_the_build_or_already_in_it_cannot_extend_it() -> None:
    day = driver_day()
    progress = start(day[:5])

    assert extend(progress, [day[4]]) is None  # already in it
    assert extend(progress, [ev("held", 55, A, reason="security")]) is None  # same instant
    assert extend(progress, [ev("held", 40, A, reason="security")]) is None  # earlier
    extended = extend(progress, [day[5]])
    assert extended is not None
    assert extended[0].timeline == build(day[:6])
    assert extended[1] == {1}  # only the open stop at A changed
