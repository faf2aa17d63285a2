"""Events in, stops and status out. Each event is stored with the stops it changes, in one
transaction: a 201 means the event and its consequences are on disk."""

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.db import utcnow
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.shipments.models import Shipment, ShipmentStatus
from app.shipments.repository import ShipmentKeys, lock_shipments, may_see
from app.tracking import geofence, materialize, statements, timeline
from app.tracking.models import NewEvent, Position, StoredEvent, TrackingEvent
from app.tracking.schemas import EventIn, SyncResult
from app.tracking.vocabulary import EventType, HoldReason, Procedure
from app.types import CENT

MAX_CLOCK_SKEW = timedelta(minutes=5)
_EVENTS = TrackingEvent.metadata.tables[TrackingEvent.__tablename__]
_SHIPMENTS = Shipment.metadata.tables[Shipment.__tablename__]
_CHECKPOINTS = Checkpoint.metadata.tables[Checkpoint.__tablename__]


@dataclass(frozen=True)
class Recorded:
    event: StoredEvent
    created: bool


@dataclass(frozen=True)
class Submission:
    """One caller's events for one shipment (one event, or a phone's offline queue), its
    credential already checked."""

    principal: Principal
    shipment_id: uuid.UUID
    events: Sequence[EventIn]


# Each event's outcome, in order; or NotFound for the whole submission.
SubmissionOutcome = list[Recorded | AppError] | NotFound


@dataclass(frozen=True)
class BatchWritten:
    outcomes: list[SubmissionOutcome]  # one per submission, in order
    projections: dict[uuid.UUID, "Projection"]  # of the shipments that changed
    # The events stored by this batch, by shipment, in the order they were submitted, and
    # those shipments (what the webhooks' outbox writes its messages from).
    added: dict[uuid.UUID, list[NewEvent]] = field(default_factory=dict)
    shipments: dict[uuid.UUID, ShipmentKeys] = field(default_factory=dict)


def record_events(
    session: Session,
    submissions: Sequence[Submission],
    known: Mapping[uuid.UUID, "Projection"] | None = None,
) -> BatchWritten:
    """The one ingestion path (POST …/events and /sync, through tracking/writer.py): several
    callers' events in the caller's write transaction (group commit). Each event gets its
    own outcome, stored (or recognised as a replay, also later in the same batch) or the
    error that refused it, and each changed shipment's stops are rebuilt once. A shipment
    the caller may not see refuses its whole submission. The caller commits, and only then
    may it acknowledge any of them (or keep the projections, see rebuild_many)."""
    now = utcnow()
    known = known or {}
    shipments = lock_shipments(session, {s.shipment_id for s in submissions})
    existing = _existing_events(session, submissions, shipments, known)
    checkpoints = set(
        read_places(session, {event.checkpoint_id for s in submissions for event in s.events})
    )
    outcomes: list[SubmissionOutcome] = []
    changed: dict[uuid.UUID, ShipmentKeys] = {}
    added: dict[uuid.UUID, list[NewEvent]] = {}
    for submission in submissions:
        shipment = shipments.get(submission.shipment_id)
        if shipment is None or not may_see(submission.principal, shipment):
            # Not "forbidden": whether someone else's shipment exists is not for you to learn.
            outcomes.append(NotFound("No such shipment."))
            continue
        known_events = existing.setdefault(shipment.id, {})
        results: list[Recorded | AppError] = []
        for data in submission.events:
            try:
                result = _store_one(
                    submission.principal, shipment, data, now, known_events, checkpoints
                )
            except (InvalidInput, Conflict) as exc:
                results.append(exc)
                continue
            known_events[result.event.event_id] = result.event  # a replay later in the batch
            if result.created:
                assert isinstance(result.event, NewEvent)  # what _store_one makes
                changed[shipment.id] = shipment
                added.setdefault(shipment.id, []).append(result.event)
            results.append(result)
        outcomes.append(results)
    insert_events(session, [event for events in added.values() for event in events])
    stored = {sid: [as_stored(event) for event in events] for sid, events in added.items()}
    projections = rebuild_many(session, list(changed.values()), known, stored) if changed else {}
    return BatchWritten(outcomes, projections, added, changed)


def parse_events(raw_events: list[Any]) -> list[EventIn | str]:
    """A /sync body's events, each parsed on its own: the event, or why it is not one."""
    return [_parse(raw) for raw in raw_events]


def sync_results(
    raw_events: list[Any], parsed: list[EventIn | str], outcomes: list[Recorded | AppError]
) -> list[SyncResult]:
    """One result per event of a /sync body, in the order sent; `outcomes` are
    record_events' for the parsed ones, in order."""
    written = iter(outcomes)
    results: list[SyncResult] = []
    for raw, item in zip(raw_events, parsed, strict=True):
        if not isinstance(item, EventIn):
            results.append(SyncResult(event_id=_raw_id(raw), status="rejected", reason=item))
            continue
        outcome = next(written)
        event_id = str(item.event_id)
        if isinstance(outcome, AppError):
            results.append(SyncResult(event_id=event_id, status="rejected", reason=outcome.detail))
        else:
            status = "created" if outcome.created else "duplicate"
            results.append(SyncResult(event_id=event_id, status=status))
    return results


def _parse(raw: Any) -> EventIn | str:
    try:
        return EventIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        return f"{where}: {first['msg']}"


def _raw_id(raw: Any) -> str | None:
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return str(value)[:64] if value is not None else None


def _refuse_if_cancelled(shipment: ShipmentKeys) -> None:
    if shipment.status == ShipmentStatus.cancelled:
        raise Conflict("The shipment is cancelled; it takes no more events.")


def _existing_events(
    session: Session,
    submissions: Sequence[Submission],
    shipments: Mapping[uuid.UUID, ShipmentKeys],
    known: Mapping[uuid.UUID, "Projection"],
) -> dict[uuid.UUID, dict[uuid.UUID, StoredEvent]]:
    """The submitted events already stored, by shipment and event id. A shipment whose
    projection is current (`known` at its locked version) knows every event id it has
    stored: only the ids it knows (a replay) are looked up, and usually none is."""
    wanted: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for s in submissions:
        shipment = shipments.get(s.shipment_id)
        projection = known.get(s.shipment_id)
        if shipment is not None and projection and projection.version == shipment.events_version:
            ids = projection.event_ids
            wanted.update((s.shipment_id, e.event_id) for e in s.events if e.event_id in ids)
        else:
            wanted.update((s.shipment_id, e.event_id) for e in s.events)
    if not wanted:
        return {}
    rows = session.scalars(
        # Both columns: the unique index (shipment_id, event_id) serves the lookup.
        select(TrackingEvent).where(
            TrackingEvent.shipment_id.in_({s for s, _ in wanted}),
            TrackingEvent.event_id.in_({e for _, e in wanted}),
        )
    )
    found: dict[uuid.UUID, dict[uuid.UUID, StoredEvent]] = {}
    for row in rows:
        if (row.shipment_id, row.event_id) in wanted:
            found.setdefault(row.shipment_id, {})[row.event_id] = row
    return found


# The checkpoints' places (None: no position) as last read by this process. Those of a
# batch's events are read afresh with every batch (the query that checks they exist); the
# others, needed only when a trip is replayed, are read when missing. A checkpoint moved by
# an admin is seen by the next event that names it.
_PLACES: dict[uuid.UUID, geofence.Place | None] = {}
_PLACE_COLUMNS = ("latitude", "longitude", "radius_m")


def read_places(
    session: Session, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, geofence.Place | None]:
    """The existing ones of these checkpoints, with their places, read now (and kept)."""
    found = statements.select_in(
        session, _CHECKPOINTS, "id", _PLACE_COLUMNS, {i for i in ids if i is not None}
    )
    places = {
        cid: geofence.Place(lat, lon, radius) if lat is not None and lon is not None else None
        for cid, (lat, lon, radius) in found.items()
    }
    if len(_PLACES) > 100_000:  # far more checkpoints than any registry holds
        _PLACES.clear()
    _PLACES.update(places)
    return places


def _places_of(session: Session, events: Iterable[timeline.Event]) -> timeline.Places:
    """The places of these events' checkpoints (those not kept yet are read)."""
    # Lookups only, never an iteration of _PLACES: the event writer's thread and a position's
    # rebuild (a worker thread) may fill it at the same time.
    missing = {
        e.checkpoint_id
        for e in events
        if e.checkpoint_id is not None and e.checkpoint_id not in _PLACES
    }
    if missing:
        read_places(session, missing)
    return _PLACES


def _store_one(
    principal: Principal,
    shipment: ShipmentKeys,
    data: EventIn,
    now: datetime,
    existing: Mapping[uuid.UUID, StoredEvent],
    known_checkpoints: set[uuid.UUID],
) -> Recorded:
    fingerprint = content_hash(data)
    stored = existing.get(data.event_id)
    if stored is not None:
        if stored.content_hash != fingerprint:
            raise Conflict(
                f"Event {data.event_id} was already recorded with other content; "
                "a correction is a new event with a new event_id."
            )
        return Recorded(stored, created=False)
    # After the replay check: a phone retrying an event stored before the cancellation
    # still learns that it landed.
    _refuse_if_cancelled(shipment)
    if data.occurred_at > now + MAX_CLOCK_SKEW:
        raise _invalid("occurred_at", "is more than 5 minutes in the future")
    if data.checkpoint_id is not None and data.checkpoint_id not in known_checkpoints:
        raise _invalid("checkpoint_id", f"no checkpoint with id {data.checkpoint_id}")
    event = NewEvent(
        id=uuid.uuid4(),
        shipment_id=shipment.id,
        event_id=data.event_id,
        type=data.type,
        occurred_at=data.occurred_at.astimezone(UTC),  # stored and returned in UTC
        received_at=now,
        checkpoint_id=data.checkpoint_id,
        procedure=data.procedure,
        hold_reason=data.hold_reason,
        fee_amount=data.fee.amount if data.fee else None,
        fee_currency=data.fee.currency if data.fee else None,
        fee_receipt=data.fee.receipt if data.fee else None,
        note=data.note,
        latitude=data.location.lat if data.location else None,
        longitude=data.location.lon if data.location else None,
        source="driver" if principal.kind == "driver" else "exporter",
        content_hash=fingerprint,
        accuracy_m=data.location.accuracy_m if data.location else None,
    )
    return Recorded(event, created=True)  # the caller inserts it (insert_events)


def insert_events(session: Session, events: Sequence[NewEvent]) -> None:
    """One executemany for all the new events, through the DB-API (see statements.py): not
    the ORM's unit of work, whose tracking of each entity cost more than the insert itself."""
    statements.insert(session, _EVENTS, events)


def _invalid(field: str, msg: str) -> InvalidInput:
    return InvalidInput(
        f"{field} {msg}.", errors=[{"loc": ["body", field], "msg": msg, "type": "value_error"}]
    )


def content_hash(data: EventIn) -> str:
    """The event's meaning, independent of formatting: `+03:00` and `Z` for the same instant,
    25000 and 25000.00 for the same amount, hash alike."""
    fee = (data.fee.amount, data.fee.currency, data.fee.receipt) if data.fee else None
    location: tuple[float, ...] | None = None
    if data.location is not None:
        where = data.location
        # Without an accuracy, as before accuracies were taken: stored hashes stay valid.
        location = (where.lat, where.lon)
        if where.accuracy_m is not None:
            location += (where.accuracy_m,)
    # event_hash's fields, straight from the request (no timeline.Event made for it).
    return _hash(
        data.type,
        data.occurred_at,
        data.checkpoint_id,
        data.procedure,
        data.hold_reason,
        fee,
        note=data.note,
        location=location,
    )


def event_hash(
    event: timeline.Event, *, note: str | None, location: tuple[float, ...] | None
) -> str:
    fee = None
    if event.fee_amount is not None:
        fee = (event.fee_amount, event.fee_currency, event.fee_receipt)
    return _hash(
        event.type,
        event.occurred_at,
        event.checkpoint_id,
        event.procedure,
        event.hold_reason,
        fee,
        note=note,
        location=location,
    )


def _hash(
    type_: str,
    occurred_at: datetime,
    checkpoint_id: uuid.UUID | None,
    procedure: str | None,
    hold_reason: str | None,
    fee: tuple[Any, Any, Any] | None,
    *,
    note: str | None,
    location: tuple[float, ...] | None,
) -> str:
    # The keys in sorted order, as json.dumps(sort_keys=True) wrote them (the same text).
    canonical = {
        "checkpoint_id": str(checkpoint_id) if checkpoint_id else None,
        "fee": [str(fee[0].quantize(CENT)), fee[1], fee[2]] if fee else None,
        "hold_reason": hold_reason,
        "location": list(location) if location else None,
        "note": note,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "procedure": procedure,
        "type": str(type_),
    }
    encoded = json.dumps(canonical, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def rebuild(session: Session, shipment: Shipment) -> timeline.Timeline:
    """Replace the shipment's stored stops with the ones its events imply, in this transaction."""
    built = rebuild_many(session, [shipment])[shipment.id].built
    session.expire(shipment)  # its row was updated beside the ORM (see rebuild_many)
    return built


@dataclass(frozen=True)
class Projection:
    """A shipment's events and its stored stops' digests as of `version` (its events_version):
    what a rebuild would otherwise read back from the database. The event writer keeps the
    recent ones, and uses one only while the shipment's version is still the same."""

    version: int
    progress: timeline.Progress  # the events, the timeline, and the state to go on from
    digests: dict[uuid.UUID, str | None]  # of every stop of the timeline, by stop id
    # The ids of the events, and of any event a later transaction that rolled back added:
    # shared along the chain of projections rather than copied at each event (as
    # timeline.Progress shares its own). An id that is not here was never stored; one that
    # is may have been, and is looked up (see _existing_events).
    event_ids: set[uuid.UUID]
    trip: materialize.TripFacts | None = None  # known once the trip's stops were written
    # The rows of the stops the transaction at `version` wrote (or found unchanged): those an
    # event usually changes next, updated in place from them (materialize.replace_stops).
    written: Mapping[uuid.UUID, materialize.WrittenStop] = field(default_factory=dict)
    # The shipment's derived fields as that transaction wrote them (shipment_fields, with
    # events_version): only those an event changes are written next.
    fields: Mapping[str, Any] | None = None

    @property
    def built(self) -> timeline.Timeline:
        return self.progress.timeline


@dataclass(frozen=True)
class _Rebuilt:
    """One shipment's timeline after this transaction's events, and what it changes."""

    progress: timeline.Progress
    kept: dict[uuid.UUID, str | None]  # stored stops known unchanged, with their digests
    changed: list[timeline.Stop]  # the stops to write, unless a digest says they are equal
    replaceable: dict[uuid.UUID, str | None]  # stored stops that may change or go, digests


def rebuild_many(
    session: Session,
    shipments: Sequence[ShipmentKeys],
    known: Mapping[uuid.UUID, Projection] | None = None,
    added: Mapping[uuid.UUID, list[timeline.Event]] | None = None,
) -> dict[uuid.UUID, Projection]:
    """rebuild() for several shipments with one statement per table, not one per shipment:
    a group commit changes dozens of shipments, and each statement costs more than the
    timeline arithmetic of a whole trip. Where `known` holds a shipment's projection at its
    current version, its events are that projection's plus `added` (those this transaction
    stored), and nothing is read back. Every shipment's events_version goes up by one.

    A tracked shipment's stops to be written get its tracker's verdict joined to its taps'
    (`corroborated`), from its fixes read once for all of them; a position stored outside
    this path rebuilds its shipment (app/evidence/positions.py), which outdates any kept
    projection, so a stop no event touches here is never older than its fixes."""
    known, added = known or {}, added or {}
    current = {
        s.id: known[s.id]
        for s in shipments
        if s.id in known and known[s.id].version == s.events_version
    }
    to_read = [s.id for s in shipments if s.id not in current]
    outdated = {sid: known[sid] for sid in to_read if sid in known}
    events = _events_of(session, to_read, outdated)
    stored_by_trip = materialize.stored_digests(session, to_read)
    stored: dict[uuid.UUID, str | None] = {}  # the stored stops that may change or go
    stop_rows = materialize.StopRows()
    rebuilt: dict[uuid.UUID, tuple[int, _Rebuilt, set[uuid.UUID], dict[str, Any]]] = {}
    updates: list[tuple[uuid.UUID, dict[str, Any], Mapping[str, Any] | None]] = []
    tracked: dict[uuid.UUID, _Rebuilt] = {}
    steps: list[tuple[ShipmentKeys, _Rebuilt, Projection | None, list[timeline.Event]]] = []
    for shipment in shipments:
        new = added.get(shipment.id, [])
        before = current.get(shipment.id)
        if before is not None:
            step = _progress(session, shipment.id, before, new)
        else:
            step = _caught_up(
                session, shipment.id, outdated.get(shipment.id), events, stored_by_trip
            )
        if shipment.tracked:
            tracked[shipment.id] = step
        steps.append((shipment, step, before, new))
    # A tracker's fixes join the taps' for the stops being written (one query, only for the
    # shipments that have a tracker).
    overlays = _tracker_overlays(session, tracked) if tracked else {}
    for shipment, step, before, new in steps:
        stored.update(step.replaceable)
        first = len(stop_rows.stops)
        changed = step.changed
        if shipment.id in overlays:
            changed = [overlays[shipment.id].get(stop.seq, stop) for stop in changed]
        materialize.add_stops(stop_rows, shipment.id, shipment.organization_id, changed)
        step.kept.update((row["id"], row["content_hash"]) for row in stop_rows.stops[first:])
        fields = materialize.shipment_fields(step.progress.timeline)
        if shipment.status == ShipmentStatus.cancelled:
            fields["status"] = ShipmentStatus.cancelled
        version = shipment.events_version + 1
        fields["events_version"] = version
        updates.append((shipment.id, fields, before.fields if before is not None else None))
        if before is None:
            ids = {event.event_id for event in step.progress.events}
        else:
            ids = before.event_ids
            ids.update(event.event_id for event in new)
        rebuilt[shipment.id] = (version, step, ids, fields)
    # A trip's report keys never change once it has stops: an outdated projection's stand.
    known_trips = {
        sid: trip for sid in rebuilt if sid in known and (trip := known[sid].trip) is not None
    }
    # The rows the kept projections wrote: the stops they hold that changed are updated.
    written = {
        stop: rows
        for sid in rebuilt
        if sid in known
        for stop, rows in known[sid].written.items()
        if stop in stored
    }
    trips = materialize.replace_stops(session, stored, stop_rows, known_trips, written)
    _update_shipments(session, updates)
    now_written: dict[uuid.UUID, dict[uuid.UUID, materialize.WrittenStop]] = {
        sid: {} for sid in rebuilt
    }
    if materialize.updates_in_place(session):  # else they would only take memory
        for stop, rows in stop_rows.by_stop().items():
            now_written[rows.stop["shipment_id"]][stop] = rows
    return {
        sid: Projection(
            version,
            step.progress,
            step.kept,
            ids,
            trips.get(sid, known_trips.get(sid)),
            now_written[sid],
            fields,
        )
        for sid, (version, step, ids, fields) in rebuilt.items()
    }


def _update_shipments(
    session: Session, updates: list[tuple[uuid.UUID, dict[str, Any], Mapping[str, Any] | None]]
) -> None:
    """The shipments' derived fields (and events_version), by id, each with the fields a
    current projection wrote before, if any.

    On SQLite only the columns that changed are written, one executemany UPDATE per set of
    them: an event usually changes its trip's last event time and version only, and setting
    every column rewrote each of the shipment's five indexes at every event. PostgreSQL
    leaves an index alone when its values do not change, and one statement for all costs
    this process less than several (bench/RESULTS.md, session 9)."""
    if session.connection().dialect.name != "sqlite":
        statements.update(session, _SHIPMENTS, [{**f, "id": sid} for sid, f, _ in updates], "id")
        return
    together: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for sid, fields, was in updates:
        if was is not None:
            fields = {k: v for k, v in fields.items() if k == "events_version" or was.get(k) != v}
        together.setdefault(tuple(fields), []).append({**fields, "id": sid})
    for rows in together.values():
        statements.update(session, _SHIPMENTS, rows, key="id")


def _tracker_overlays(
    session: Session, steps: Mapping[uuid.UUID, _Rebuilt]
) -> dict[uuid.UUID, dict[int, timeline.Stop]]:
    """The stops to be written whose evidence a tracker's fixes change: copies with the
    tracker's verdict joined to the taps' (geofence.tracker_verdict), by shipment and seq.
    One query reads the fixes of these shipments in the time the stops span."""
    windows: dict[uuid.UUID, list[tuple[timeline.Stop, datetime, datetime]]] = {}
    for sid, step in steps.items():
        for stop in step.changed:
            window = _window(stop)
            if stop.place is not None and window is not None:
                windows.setdefault(sid, []).append((stop, *window))
    if not windows:
        return {}
    margin = geofence.TRACKER_MARGIN
    low = min(start for items in windows.values() for _, start, _ in items) - margin
    high = max(end for items in windows.values() for _, _, end in items) + margin
    fixes: dict[uuid.UUID, list[geofence.Fix]] = {sid: [] for sid in windows}
    for sid, at, lat, lon, accuracy in session.execute(
        select(
            Position.shipment_id,
            Position.recorded_at,
            Position.latitude,
            Position.longitude,
            Position.accuracy_m,
        )
        .where(
            Position.shipment_id.in_(windows),
            Position.recorded_at >= low,
            Position.recorded_at <= high,
        )
        .order_by(Position.shipment_id, Position.recorded_at)
    ):
        fixes[sid].append(geofence.Fix(lat, lon, accuracy, at))
    overlays: dict[uuid.UUID, dict[int, timeline.Stop]] = {}
    for sid, items in windows.items():
        for stop, start, end in items:
            joined = corroborated(stop, start, end, fixes[sid])
            if joined is not stop:
                overlays.setdefault(sid, {})[stop.seq] = joined
    return overlays


def _window(stop: timeline.Stop) -> tuple[datetime, datetime] | None:
    """The time a stop spans: its arrival (else its last event) to its release (else its
    last event)."""
    start = stop.arrived_at or stop.last_event_at
    end = stop.closed_at or stop.last_event_at
    if start is None or end is None:
        return None
    return start, max(start, end)


def corroborated(
    stop: timeline.Stop, start: datetime, end: datetime, fixes: list[geofence.Fix]
) -> timeline.Stop:
    """The stop with a tracker's verdict joined to its taps' (the stop itself if nothing
    changes): confirmed by a fix in the fence, contradicted by an exit clearly elsewhere
    during the stop, flagged as the taps' contradictions are."""
    assert stop.place is not None
    verdict = geofence.tracker_verdict(stop.place, start, end, fixes)
    if not verdict.confirmed and verdict.contradiction is None:
        return stop
    joined = stop.copy()
    joined.fix_confirmed = joined.fix_confirmed or verdict.confirmed
    if verdict.contradiction is not None:
        first, second = verdict.contradiction
        km = min(geofence.beyond_m(stop.place, f) for f in (first, second)) / 1000
        joined.fix_contradicted = True
        joined.anomalies.append(
            timeline.Anomaly(
                "position_contradicts_checkpoint",
                stop.opened_by,
                f"the tracker was at least {km:.1f} km from the checkpoint on two fixes in a "
                f"row during the stop ({_hhmm(first.at)}, {_hhmm(second.at)} UTC)",
            )
        )
    return joined


def _hhmm(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else "?"


def _progress(
    session: Session, shipment_id: uuid.UUID, before: Projection, added: list[timeline.Event]
) -> _Rebuilt:
    """The shipment's timeline from its current projection `before` and this transaction's
    events, which stops to write and which stored ones they replace. Usually the new events
    come after all the others: the timeline goes on from `before` and says which stops it
    touched (the current one, and the one a new arrival closed), and only those are written;
    a late event (a phone back online) replays the trip."""
    extended = timeline.extend(before.progress, added, _PLACES)
    if extended is None:
        events = before.progress.events + added
        progress = timeline.start(events, _places_of(session, events))
        kept = _unchanged_stops(shipment_id, progress.timeline, before)
        changed = [
            s for s in progress.timeline.stops if materialize.stop_id(shipment_id, s) not in kept
        ]
        gone = {sid: d for sid, d in before.digests.items() if sid not in kept}
        return _Rebuilt(progress, kept, changed, gone)
    progress, touched = extended
    # The stops not touched are the very same objects as before: their digests stand.
    kept = dict(before.digests)
    replaceable: dict[uuid.UUID, str | None] = {}
    previous = before.built.stops
    for seq in touched:
        if seq <= len(previous):
            sid = materialize.stop_id(shipment_id, previous[seq - 1])
            replaceable[sid] = kept.pop(sid)
    changed = [progress.timeline.stops[seq - 1] for seq in sorted(touched)]
    return _Rebuilt(progress, kept, changed, replaceable)


def _caught_up(
    session: Session,
    shipment_id: uuid.UUID,
    before: Projection | None,
    read: Mapping[uuid.UUID, list[timeline.Event]],
    stored: Mapping[uuid.UUID, dict[uuid.UUID, str | None]],
) -> _Rebuilt:
    """The timeline of a shipment without a current projection, and its stored stops'
    digests as read: every stop is written unless its stored digest says it is the same
    (replace_stops). `read` holds its events (this transaction's included): all of them,
    or with an outdated projection `before` (another worker, or another writer, added
    events since) those `before` does not have (_events_of).

    When those all come after `before`'s, the timeline goes on from `before` with them
    (the same timeline as a replay of all, as timeline.py's tests hold), and the stops it
    did not touch, whose stored digest is still `before`'s, need neither rows nor digests.
    Two workers that take turns on a trip's events come here at every other event; reading
    the whole trip and replaying it cost several times a kept projection's write."""
    events = read[shipment_id]
    digests = dict(stored[shipment_id])
    if before is not None:
        extended = timeline.extend(before.progress, events, _places_of(session, events))
        if extended is None:
            events = before.progress.events + events  # all of them: a replay
        else:
            progress, touched = extended
            kept: dict[uuid.UUID, str | None] = {}
            changed: list[timeline.Stop] = []
            for stop in progress.timeline.stops:
                sid = materialize.stop_id(shipment_id, stop)
                if (
                    stop.seq not in touched
                    and sid in digests
                    and digests[sid] == before.digests.get(sid)
                ):
                    kept[sid] = digests.pop(sid)
                else:
                    changed.append(stop)
            return _Rebuilt(progress, kept, changed, digests)
    progress = timeline.start(events, _places_of(session, events))
    return _Rebuilt(progress, {}, list(progress.timeline.stops), digests)


def _unchanged_stops(
    shipment_id: uuid.UUID, built: timeline.Timeline, before: Projection
) -> dict[uuid.UUID, str | None]:
    """The stops equal to the same stop in the projection before this event, with their
    stored digests. A stop's rows are a function of the stop alone, so an equal stop needs
    neither rows nor a digest: usually all but the last one or two of a trip."""
    previous = {materialize.stop_id(shipment_id, stop): stop for stop in before.built.stops}
    unchanged: dict[uuid.UUID, str | None] = {}
    for stop in built.stops:
        sid = materialize.stop_id(shipment_id, stop)
        if sid in before.digests and previous.get(sid) == stop:
            unchanged[sid] = before.digests[sid]
    return unchanged


def _events_of(
    session: Session, shipment_ids: list[uuid.UUID], outdated: Mapping[uuid.UUID, Projection]
) -> dict[uuid.UUID, list[timeline.Event]]:
    """The events of these shipments (this transaction's included): all of them, or for a
    shipment with an `outdated` projection only those it does not have (their ids read
    first: a trip's ids off its index, then the few rows it lacks)."""
    events: dict[uuid.UUID, list[timeline.Event]] = {sid: [] for sid in shipment_ids}
    whole = [sid for sid in shipment_ids if sid not in outdated]
    behind = [sid for sid in shipment_ids if sid in outdated]
    wanted: set[tuple[uuid.UUID, uuid.UUID]] = set()
    if behind:
        # Not the projections' event_ids: they may hold the id of an event whose
        # transaction rolled back here and that another writer stored since.
        had = {sid: {e.event_id for e in outdated[sid].progress.events} for sid in behind}
        ids = select(TrackingEvent.shipment_id, TrackingEvent.event_id).where(
            TrackingEvent.shipment_id.in_(behind)
        )
        wanted = {(sid, eid) for sid, eid in session.execute(ids) if eid not in had[sid]}
    conditions: list[ColumnElement[bool]] = []
    if whole:
        conditions.append(TrackingEvent.shipment_id.in_(whole))
    if wanted:
        conditions.append(
            and_(
                TrackingEvent.shipment_id.in_({sid for sid, _ in wanted}),
                TrackingEvent.event_id.in_({eid for _, eid in wanted}),
            )
        )
    if not conditions:
        return events
    # Plain rows, not ORM objects: loading whole entities cost more than building the timeline.
    for shipment_id, *columns in session.execute(
        select(TrackingEvent.shipment_id, *TIMELINE_COLUMNS).where(or_(*conditions))
    ):
        if shipment_id in outdated and (shipment_id, columns[0]) not in wanted:
            continue  # another shipment's id that matched the lists
        events[shipment_id].append(timeline.Event(*columns))
    return events


def as_stored(event: StoredEvent) -> timeline.Event:
    """A just-stored event as the database will give it back (UTC, enums, cents), so that a
    projection built from it digests exactly like one read back from the database."""
    return timeline.Event(
        event.event_id,
        EventType(event.type),
        event.occurred_at.astimezone(UTC),
        event.checkpoint_id,
        Procedure(event.procedure) if event.procedure else None,
        HoldReason(event.hold_reason) if event.hold_reason else None,
        event.fee_amount.quantize(CENT) if event.fee_amount is not None else None,
        str(event.fee_currency) if event.fee_currency is not None else None,  # not Currency
        event.fee_receipt,
        event.latitude,
        event.longitude,
        event.accuracy_m,
        event.received_at.astimezone(UTC),
        event.source,
    )


# In timeline.Event's field order.
TIMELINE_COLUMNS = (
    TrackingEvent.event_id,
    TrackingEvent.type,
    TrackingEvent.occurred_at,
    TrackingEvent.checkpoint_id,
    TrackingEvent.procedure,
    TrackingEvent.hold_reason,
    TrackingEvent.fee_amount,
    TrackingEvent.fee_currency,
    TrackingEvent.fee_receipt,
    TrackingEvent.latitude,
    TrackingEvent.longitude,
    TrackingEvent.accuracy_m,
    TrackingEvent.received_at,
    TrackingEvent.source,
)
