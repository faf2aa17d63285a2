"""PURE: a shipment's events, in any order and with any duplicates -> its stops and status.

No database, no clock, no I/O. The service stores what this returns; reports read those
stored stops and never replay events.

A build can go on (`start`, then `extend` with later events): the event writer applies a
trip's new event to the state the previous one left instead of replaying the whole trip.
For that, a builder never changes a stop it did not make itself: it copies it first (copy
on write), so the timeline it was resumed from stays exactly as it was, and it knows which
stops it touched.

Events are put in one total order — occurred_at, then a fixed rank of types for events at
the same instant, then event_id — so the result never depends on the order in which phones
that were offline delivered them. Contradictions are kept and flagged as anomalies on the
stop (or on the shipment when no stop fits); nothing is dropped or silently "fixed".

Positions (geofence.py): given the checkpoints' places, a stop's tap fixes corroborate it
(`position_evidence`), and three anomalies catch timelines that cannot be true:
`impossible_speed` (from the previous stop's checkpoint faster than 130 km/h in a straight
line), `two_places_at_once` (events at two checkpoints, out of reach of each other, within
a minute) and `backdated` (an event that reached the server more than 48 hours after it
happened, though the phone was in touch in between: see `_backdated`).
"""

import bisect
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from app.tracking import geofence
from app.tracking.geofence import Fix, Place
from app.tracking.vocabulary import EventType, StopOutcome

MAX_SPEED_KMH = 130.0
# Clocks that log whole minutes: travel is given one more minute than the times say.
CLOCK_SLACK = timedelta(minutes=1)
SAME_MINUTE = timedelta(minutes=1)
BACKDATED_AFTER = timedelta(hours=48)
# "In touch": the server heard from the same source at least this long before the event came.
ONLINE_GAP = timedelta(hours=1)
# The events whose fix is the stop's arrival or release fix (they can confirm it).
CONFIRMING = frozenset({EventType.arrived, EventType.released, EventType.turned_back})

# At one instant a truck arrives before it is inspected and is released after it paid.
TYPE_RANK = {
    EventType.departed: 0,
    EventType.arrived: 1,
    EventType.procedure_started: 2,
    EventType.held: 3,
    EventType.fee_paid: 4,
    EventType.procedure_completed: 5,
    EventType.note: 6,
    EventType.released: 7,
    EventType.turned_back: 8,
    EventType.delivered: 9,
}
STOP_EVENTS = {
    EventType.procedure_started,
    EventType.procedure_completed,
    EventType.fee_paid,
    EventType.held,
    EventType.released,
    EventType.turned_back,
}


@dataclass(frozen=True)
class Event:
    event_id: uuid.UUID
    type: EventType
    occurred_at: datetime
    checkpoint_id: uuid.UUID | None = None
    procedure: str | None = None
    hold_reason: str | None = None
    fee_amount: Decimal | None = None
    fee_currency: str | None = None
    fee_receipt: bool | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    received_at: datetime | None = None
    source: str | None = None  # driver | exporter: whose phone or system sent it


@dataclass(frozen=True)
class Anomaly:
    code: str
    event_id: uuid.UUID
    detail: str


@dataclass
class Hold:
    reason: str
    started_at: datetime
    event_id: uuid.UUID
    ended_at: datetime | None = None

    @property
    def minutes(self) -> float | None:
        return _minutes(self.started_at, self.ended_at)


@dataclass
class ProcedureRun:
    procedure: str
    started_at: datetime | None
    completed_at: datetime | None = None
    # The event that started it (or completed it, if no start was logged); not part of its value.
    event_id: uuid.UUID = field(default=uuid.UUID(int=0), compare=False)

    @property
    def minutes(self) -> float | None:
        return _minutes(self.started_at, self.completed_at)


@dataclass
class Fee:
    amount: Decimal
    currency: str
    receipt: bool
    paid_at: datetime
    event_id: uuid.UUID


@dataclass
class Stop:
    seq: int
    checkpoint_id: uuid.UUID
    opened_by: uuid.UUID
    arrived_at: datetime | None
    closed_at: datetime | None = None
    outcome: StopOutcome = StopOutcome.open
    holds: list[Hold] = field(default_factory=list)
    procedures: list[ProcedureRun] = field(default_factory=list)
    fees: list[Fee] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    last_event_at: datetime | None = None
    current: bool = False
    place: Place | None = None  # the checkpoint's, when it has a position
    fix_confirmed: bool = False  # a tap's fix at the arrival or release lay in the fence
    fix_contradicted: bool = False  # a tap's fix at this stop was clearly elsewhere

    @property
    def position_evidence(self) -> str:
        if self.fix_contradicted:
            return "contradicted"
        return "confirmed" if self.fix_confirmed else "none"

    @property
    def dwell_minutes(self) -> float | None:
        return _minutes(self.arrived_at, self.closed_at)

    @property
    def held_minutes(self) -> float:
        return sum(h.minutes or 0.0 for h in self.holds)

    @property
    def open_hold(self) -> Hold | None:
        return next((h for h in self.holds if h.ended_at is None), None)

    def flag(self, code: str, event: Event, detail: str) -> None:
        self.anomalies.append(Anomaly(code, event.event_id, detail))

    def copy(self) -> "Stop":
        """A copy that shares nothing mutable (holds and procedure runs change in place)."""
        twin = _shallow(self)
        twin.holds = [_shallow(h) for h in self.holds]
        twin.procedures = [_shallow(p) for p in self.procedures]
        twin.fees = list(self.fees)
        twin.anomalies = list(self.anomalies)
        return twin


_T = TypeVar("_T")


def _shallow(item: _T) -> _T:
    """A shallow copy of a (non-frozen) dataclass instance. dataclasses.replace re-runs
    __init__ over its fields, ~15 µs a call: it was a tenth of the event writer's time, which
    copies the stop an event changes (see _Builder._own)."""
    twin: _T = object.__new__(type(item))
    twin.__dict__.update(item.__dict__)
    return twin


@dataclass
class Timeline:
    status: str
    stops: list[Stop]
    anomalies: list[Anomaly]
    departed_at: datetime | None
    delivered_at: datetime | None
    turned_back_at: datetime | None
    last_event_at: datetime | None

    @property
    def current_stop(self) -> Stop | None:
        return next((s for s in self.stops if s.current), None)


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    return _minutes(start, end)


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 60


def order(events: list[Event]) -> list[Event]:
    """One total order whatever the arrival order; duplicates (same event_id) kept once
    (the first in that order: the dict keeps insertion order, so no second sort)."""
    unique: dict[uuid.UUID, Event] = {}
    for event in sorted(events, key=_sort_key):
        unique.setdefault(event.event_id, event)
    return list(unique.values())


def _sort_key(event: Event) -> tuple[datetime, int, int]:
    # The id's integer orders ids exactly as their fixed-width hex text does, and is free.
    return (event.occurred_at, TYPE_RANK[event.type], event.event_id.int)


Places = Mapping[uuid.UUID, Place | None]


def build(events: list[Event], places: Places | None = None) -> Timeline:
    return _built(order(events), places).finish()


def _built(ordered: list[Event], places: Places | None) -> "_Builder":
    builder = _Builder(places)
    builder.hear(ordered)
    for instant in _instants(ordered):
        builder.apply_instant(instant)
    return builder


@dataclass(frozen=True)
class Progress:
    """A finished timeline and the state it was finished from, ready to take later events."""

    events: list[Event]  # in order, each once
    timeline: Timeline
    _builder: "_Builder"
    # The event ids of this build and of every extension made from it, shared along the
    # chain rather than copied at each event. An id of an abandoned extension (its
    # transaction rolled back) only makes `extend` refuse that event: always safe.
    _ids: set[uuid.UUID]


def start(events: list[Event], places: Places | None = None) -> Progress:
    ordered = order(events)
    builder = _built(ordered, places)
    return Progress(ordered, builder.finish(), builder, {e.event_id for e in ordered})


def extend(
    progress: Progress, events: list[Event], places: Places | None = None
) -> tuple[Progress, set[int]] | None:
    """`progress` with `events` applied, and the seq of every stop that may differ from
    `progress.timeline`'s (the others are the very same objects). None when an event is
    not strictly later than all of `progress`'s, or repeats one of them: only a full
    `start` puts those in their place."""
    before = progress._builder
    known = progress._ids
    if any(
        event.event_id in known
        or (before.last_event_at is not None and event.occurred_at <= before.last_event_at)
        for event in events
    ):
        return None
    added = order(events)
    builder = before.resumed(places)
    builder.hear(added)
    for instant in _instants(added):
        builder.apply_instant(instant)
    timeline = builder.finish()
    touched = set(builder.owned)
    if builder.open_stop is not None:
        touched.add(builder.open_stop.seq)  # finish() decides its `current` and may flag it
    known.update(event.event_id for event in added)
    return Progress(progress.events + added, timeline, builder, known), touched


def _instants(events: list[Event]) -> list[list[Event]]:
    """The ordered events, grouped by identical occurred_at."""
    groups: list[list[Event]] = []
    for event in events:
        if groups and groups[-1][0].occurred_at == event.occurred_at:
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups


class _Builder:
    def __init__(self, places: Places | None = None) -> None:
        self.places: Places = places or {}
        # When the server received events, per source, sorted (see _backdated). Never changed
        # in place: a builder resumed from this one shares it until it hears more.
        self.heard: dict[str, tuple[datetime, ...]] = {}
        # The checkpoint, time and place of the last event at a checkpoint.
        self.last_at: tuple[uuid.UUID, datetime, Place | None] | None = None
        self.stops: list[Stop] = []
        self.open_stop: Stop | None = None
        self.anomalies: list[Anomaly] = []
        self.departed_at: datetime | None = None
        self.delivered_at: datetime | None = None
        self.turned_back_at: datetime | None = None
        self.last_event_at: datetime | None = None
        self.owned: set[int] = set()  # seq of the stops this builder made or copied

    def resumed(self, places: Places | None = None) -> "_Builder":
        """A builder that goes on from this one's state, sharing its stops until it must
        change one (`_own`)."""
        other = object.__new__(_Builder)
        other.__dict__.update(self.__dict__)
        if places is not None:
            other.places = places
        other.stops = list(self.stops)
        other.anomalies = list(self.anomalies)
        other.owned = set()
        return other

    def _own(self, stop: Stop) -> Stop:
        """The stop, safe to change: copied first unless this builder made or copied it."""
        if stop.seq in self.owned:
            return stop
        mine = stop.copy()
        self.stops[stop.seq - 1] = mine
        if self.open_stop is stop:
            self.open_stop = mine
        self.owned.add(stop.seq)
        return mine

    def apply_instant(self, instant: list[Event]) -> None:
        """Apply the events of one instant, those of the open stop first.

        Phones log minutes, so "released at A" and "arrived at B" often share one; the
        release must close A before B opens. So, one event at a time: an event of the stop
        open right now if there is one, else the next by type rank (an arrival and a release
        at one checkpoint in one minute is a zero-minute stop). Each choice depends only on
        the events, never on the order they arrived in.
        """
        if len(instant) == 1:  # the usual case: nothing to choose
            self.apply(instant[0])
            return
        pending = list(instant)  # already in (type rank, event_id) order
        while pending:
            event = next((e for e in pending if self._belongs_to_open_stop(e)), pending[0])
            pending.remove(event)
            self.apply(event)

    def _belongs_to_open_stop(self, event: Event) -> bool:
        stop = self.open_stop
        return (
            stop is not None
            and event.type in STOP_EVENTS
            and event.checkpoint_id in (None, stop.checkpoint_id)
        )

    def hear(self, events: list[Event]) -> None:
        """Note when the server received these events (they may be applied later)."""
        heard = self.heard = dict(self.heard)
        for event in events:
            received = event.received_at
            if received is None or event.source is None:
                continue
            times = heard.get(event.source, ())
            if not times or received >= times[-1]:  # the usual case: received now
                heard[event.source] = (*times, received)
            else:
                i = bisect.bisect_right(times, received)
                heard[event.source] = (*times[:i], received, *times[i:])

    def apply(self, event: Event) -> None:
        self._flag_after_the_end(event)
        self.last_event_at = event.occurred_at
        stop: Stop | None = None
        if event.type == EventType.departed:
            self._departed(event)
        elif event.type == EventType.arrived:
            stop = self._arrived(event)
        elif event.type == EventType.delivered:
            self._delivered(event)
        elif event.type in STOP_EVENTS:
            stop = self._stop_for(event)
            if stop is not None:
                stop.last_event_at = event.occurred_at
                self._at_stop(stop, event)
        received = event.received_at
        if (
            received is not None
            and received - event.occurred_at > BACKDATED_AFTER
            and self._backdated(event, received)
        ):
            detail = "received more than 48 hours after it happened, while the phone was online"
            if stop is not None:
                stop.flag("backdated", event, detail)
            else:
                self.anomalies.append(Anomaly("backdated", event.event_id, detail))
        if stop is not None:
            last = self.last_at
            if (
                last is not None
                and last[0] != stop.checkpoint_id
                and event.occurred_at - last[1] < SAME_MINUTE
                and not _within_a_minute(last[2], stop.place)
            ):
                stop.flag(
                    "two_places_at_once", event, "at another checkpoint less than a minute ago"
                )
            self.last_at = (stop.checkpoint_id, event.occurred_at, stop.place)
            if event.lat is not None:
                self._fix(stop, event)

    def _backdated(self, event: Event, received: datetime) -> bool:
        """Received (`received`) more than 48 hours after it happened, although the server
        heard from the same source (the driver's phone, or the exporter) in between, at
        least an hour before this event came: a queued event goes with the next sync, so
        this one was not queued then. An offline phone's queue arrives in one go and is
        never flagged."""
        heard = self.heard.get(event.source or "", ())
        i = bisect.bisect_left(heard, event.occurred_at)
        return i < len(heard) and heard[i] <= received - ONLINE_GAP

    @staticmethod
    def _fix(stop: Stop, event: Event) -> None:
        """The event's fix against the stop's fence: confirms (an arrival's or a release's,
        inside), contradicts (any, clearly elsewhere), or says nothing."""
        place = stop.place
        if event.lat is None or event.lon is None or place is None:
            return
        fix = Fix(event.lat, event.lon, event.accuracy_m)
        if geofence.elsewhere(place, fix):
            stop.fix_contradicted = True
            km = geofence.beyond_m(place, fix) / 1000
            stop.flag(
                "position_contradicts_checkpoint",
                event,
                f"the phone was at least {km:.1f} km from the checkpoint",
            )
        elif event.type in CONFIRMING and geofence.inside(place, fix):
            stop.fix_confirmed = True

    def _flag_after_the_end(self, event: Event) -> None:
        if self.delivered_at is not None:
            self.anomalies.append(
                Anomaly("event_after_delivery", event.event_id, f"{event.type} after delivered")
            )
        elif self.turned_back_at is not None and event.type != EventType.note:
            self.anomalies.append(
                Anomaly("event_after_turn_back", event.event_id, f"{event.type} after turned back")
            )

    def _departed(self, event: Event) -> None:
        if self.departed_at is None:
            self.departed_at = event.occurred_at
        if self.open_stop is not None:
            stop = self._own(self.open_stop)
            stop.flag("departed_without_release", event, "departed while at a checkpoint")

    def _arrived(self, event: Event) -> Stop:
        assert event.checkpoint_id is not None  # the API requires it for arrivals
        stop = self.open_stop
        if stop is not None and stop.checkpoint_id == event.checkpoint_id:
            stop = self._own(stop)
            stop.last_event_at = event.occurred_at
            if stop.arrived_at is None:
                # Opened by an earlier event (flagged no_arrival); this is its arrival.
                stop.arrived_at = event.occurred_at
            else:
                stop.flag("second_arrival_without_release", event, "arrived again, never released")
            return stop
        if stop is not None:
            self._own(stop).flag("not_released", event, "arrived at another checkpoint first")
            self.open_stop = None
        last = self.stops[-1] if self.stops else None
        if (
            last is not None
            and last.checkpoint_id == event.checkpoint_id
            and last.arrived_at is None
        ):
            # The stop was opened by a later-logged event (e.g. released) before this arrival.
            last = self._own(last)
            last.arrived_at = event.occurred_at
            last.last_event_at = event.occurred_at
            if last.closed_at is not None:
                last.flag("released_before_arrival", event, "closed before the arrival time")
            else:
                self.open_stop = last
            return last
        self.open_stop = self._new_stop(event, arrived_at=event.occurred_at)
        return self.open_stop

    def _delivered(self, event: Event) -> None:
        if self.open_stop is not None:
            stop = self._own(self.open_stop)
            stop.flag("not_released", event, "delivered while at a checkpoint")
            self.open_stop = None
        if self.delivered_at is None:
            self.delivered_at = event.occurred_at

    def _new_stop(self, event: Event, arrived_at: datetime | None) -> Stop:
        assert event.checkpoint_id is not None
        stop = Stop(
            seq=len(self.stops) + 1,
            checkpoint_id=event.checkpoint_id,
            opened_by=event.event_id,
            arrived_at=arrived_at,
            last_event_at=event.occurred_at,
            place=self.places.get(event.checkpoint_id),
        )
        previous = self.stops[-1] if self.stops else None
        self.stops.append(stop)
        self.owned.add(stop.seq)
        if previous is not None:
            self._check_speed(previous, stop, event)
        return stop

    @staticmethod
    def _check_speed(previous: Stop, stop: Stop, event: Event) -> None:
        """From the previous stop's fence (left at its release, or its last event) to this
        one's faster than MAX_SPEED_KMH in a straight line."""
        if previous.place is None or stop.place is None:
            return
        left = previous.closed_at or previous.last_event_at or previous.arrived_at
        if left is None:
            return
        # From fence to fence: two posts of one crossing may share a minute.
        gap_m = geofence.between(previous.place, stop.place)
        km = max(0.0, gap_m - previous.place.radius_m - stop.place.radius_m) / 1000
        hours = (event.occurred_at - left + CLOCK_SLACK).total_seconds() / 3600
        if hours <= 0 or km / hours > MAX_SPEED_KMH:
            speed = f"{km / hours:.0f} km/h" if hours > 0 else "no time"
            stop.flag(
                "impossible_speed",
                event,
                f"{km:.1f} km from the previous checkpoint in "
                f"{(event.occurred_at - left).total_seconds() / 60:.0f} min ({speed})",
            )

    def _stop_for(self, event: Event) -> Stop | None:
        """The stop an event belongs to: the open one, else the latest at its checkpoint,
        else a new stop at its checkpoint that never saw an arrival."""
        stop = self.open_stop
        if stop is not None and event.checkpoint_id in (None, stop.checkpoint_id):
            return self._own(stop)
        if event.checkpoint_id is None:
            self.anomalies.append(
                Anomaly("no_open_stop", event.event_id, f"{event.type} with no checkpoint to go to")
            )
            return None
        earlier = next(
            (s for s in reversed(self.stops) if s.checkpoint_id == event.checkpoint_id), None
        )
        if earlier is not None:
            earlier = self._own(earlier)
            if earlier.closed_at is not None:
                earlier.flag("after_stop_closed", event, f"{event.type} after the stop was closed")
            else:
                earlier.flag("after_moving_on", event, f"{event.type} after reaching another stop")
            return earlier
        if stop is not None:
            self._own(stop).flag("not_released", event, "an event came from another checkpoint")
            self.open_stop = None
        stop = self._new_stop(event, arrived_at=None)
        stop.flag("no_arrival", event, f"{event.type} with no arrival logged")
        self.open_stop = stop
        return stop

    def _at_stop(self, stop: Stop, event: Event) -> None:
        _AT_STOP[event.type](self, stop, event)

    @staticmethod
    def _running(stop: Stop, procedure: str | None) -> ProcedureRun | None:
        return next(
            (
                run
                for run in stop.procedures
                if run.procedure == procedure
                and run.started_at is not None
                and run.completed_at is None
            ),
            None,
        )

    def _procedure_started(self, stop: Stop, event: Event) -> None:
        assert event.procedure is not None
        if self._running(stop, event.procedure) is not None:
            stop.flag("procedure_already_started", event, f"{event.procedure} started twice")
            return
        stop.procedures.append(
            ProcedureRun(event.procedure, started_at=event.occurred_at, event_id=event.event_id)
        )

    def _procedure_completed(self, stop: Stop, event: Event) -> None:
        assert event.procedure is not None
        running = self._running(stop, event.procedure)
        if running is not None:
            running.completed_at = event.occurred_at
            return
        stop.flag("procedure_completed_without_start", event, event.procedure)
        stop.procedures.append(
            ProcedureRun(event.procedure, None, event.occurred_at, event_id=event.event_id)
        )

    def _fee_paid(self, stop: Stop, event: Event) -> None:
        assert event.fee_amount is not None
        assert event.fee_currency is not None
        fee = Fee(
            event.fee_amount,
            event.fee_currency,
            bool(event.fee_receipt),
            event.occurred_at,
            event.event_id,
        )
        stop.fees.append(fee)

    def _held(self, stop: Stop, event: Event) -> None:
        assert event.hold_reason is not None
        if stop.closed_at is not None:
            stop.flag("held_after_close", event, "held after the stop was closed")
            return
        previous = stop.open_hold
        if previous is not None:
            stop.flag("held_while_held", event, f"a new hold ({event.hold_reason}) ends the last")
            previous.ended_at = event.occurred_at
        stop.holds.append(Hold(event.hold_reason, event.occurred_at, event.event_id))

    def _close(self, stop: Stop, event: Event) -> None:
        if stop.closed_at is not None:
            stop.flag("closed_twice", event, f"{event.type} after the stop was already closed")
            return
        hold = stop.open_hold
        if hold is not None:
            hold.ended_at = event.occurred_at  # one release ends the open hold and the stop
        stop.closed_at = event.occurred_at
        if event.type == EventType.turned_back:
            stop.outcome = StopOutcome.turned_back
            if self.turned_back_at is None:
                self.turned_back_at = event.occurred_at
        else:
            stop.outcome = StopOutcome.released
        for run in stop.procedures:
            if run.completed_at is None:
                stop.anomalies.append(
                    Anomaly(
                        "procedure_not_completed", run.event_id, f"{run.procedure} never completed"
                    )
                )
        if self.open_stop is stop:
            self.open_stop = None

    def finish(self) -> Timeline:
        """The timeline so far. Changes nothing: the builder may go on (see `resumed`)."""
        stops = list(self.stops)
        stop = self.open_stop
        if stop is not None and (self.delivered_at or self.turned_back_at):
            # The trip is over: a stop opened afterwards is kept, flagged, and not "current".
            ended = Anomaly("open_after_trip_ended", stop.opened_by, "never closed")
            flagged = stops[stop.seq - 1] = _shallow(stop)
            flagged.anomalies = [*stop.anomalies, ended]
        elif stop is not None:
            stops[stop.seq - 1] = _shallow(stop)
            stops[stop.seq - 1].current = True
        return Timeline(
            status=self._status(),
            stops=stops,
            anomalies=list(self.anomalies),
            departed_at=self.departed_at,
            delivered_at=self.delivered_at,
            turned_back_at=self.turned_back_at,
            last_event_at=self.last_event_at,
        )

    def _status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.turned_back_at is not None:
            return "turned_back"
        if self.open_stop is not None:
            return "held" if self.open_stop.open_hold is not None else "at_checkpoint"
        if self.departed_at is not None or self.stops:
            return "in_transit"
        return "planned"


def _within_a_minute(a: Place | None, b: Place | None) -> bool:
    """Could a truck be at both fences within a minute (at MAX_SPEED_KMH)? A checkpoint
    without a position gets the benefit of the doubt: two posts of one border crossing often
    share a minute ("released at A, arrived at B")."""
    if a is None or b is None:
        return True
    gap = geofence.between(a, b) - a.radius_m - b.radius_m
    return gap <= MAX_SPEED_KMH * 1000 / 60


_AT_STOP = {
    EventType.procedure_started: _Builder._procedure_started,
    EventType.procedure_completed: _Builder._procedure_completed,
    EventType.fee_paid: _Builder._fee_paid,
    EventType.held: _Builder._held,
    EventType.released: _Builder._close,
    EventType.turned_back: _Builder._close,
}
