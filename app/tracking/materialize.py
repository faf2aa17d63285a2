"""A timeline as database rows: the stops and their holds, procedures and fees, and the
shipment's derived fields. Used by every write of an event and by the demo generator, so the
demo holds exactly what the API would have stored for the same events."""

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.shipments.models import CargoLine, Shipment, ShipmentStatus
from app.tracking import statements, timeline
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from app.types import EPOCH

Row = dict[str, Any]
_STOPS = Stop.metadata.tables[Stop.__tablename__]
_TABLES = {
    "stops": _STOPS,
    "holds": StopHold.metadata.tables[StopHold.__tablename__],
    "procedures": StopProcedure.metadata.tables[StopProcedure.__tablename__],
    "fees": StopFee.metadata.tables[StopFee.__tablename__],
}


@dataclass
class StopRows:
    stops: list[Row] = field(default_factory=list)
    holds: list[Row] = field(default_factory=list)
    procedures: list[Row] = field(default_factory=list)
    fees: list[Row] = field(default_factory=list)

    def insert(
        self, session: Session, known: Mapping[uuid.UUID, "TripFacts"] | None = None
    ) -> dict[uuid.UUID, "TripFacts"]:
        """Writes the rows, with their trips' report keys (`known`, else read); returns the
        keys of every trip written, for the caller to pass next time (see TripFacts)."""
        facts = add_trip_facts(session, self, known)
        self.write(session)
        return facts

    def write(self, session: Session) -> None:
        """Writes the rows as they are (their trips' report keys already given)."""
        for model, rows in (
            (Stop, self.stops),
            (StopHold, self.holds),
            (StopProcedure, self.procedures),
            (StopFee, self.fees),
        ):
            # One executemany per table through the DB-API (statements.py): neither the
            # ORM's bulk path (a statement per row here) nor Core's per-value processing.
            statements.insert(session, model.metadata.tables[model.__tablename__], rows)

    def children(self) -> tuple[list[Row], list[Row], list[Row]]:
        return self.holds, self.procedures, self.fees

    def clear(self) -> None:
        for rows in (self.stops, self.holds, self.procedures, self.fees):
            rows.clear()

    def by_stop(self) -> dict[uuid.UUID, "WrittenStop"]:
        """Each stop's rows, by stop id."""
        stops = {row["id"]: WrittenStop(row, [], [], []) for row in self.stops}
        for row in self.holds:
            stops[row["stop_id"]].holds.append(row)
        for row in self.procedures:
            stops[row["stop_id"]].procedures.append(row)
        for row in self.fees:
            stops[row["stop_id"]].fees.append(row)
        return stops

    def without_stops(self, unchanged: set[uuid.UUID]) -> "StopRows":
        def keep(rows: list[Row], key: str) -> list[Row]:
            return [row for row in rows if row[key] not in unchanged]

        return StopRows(
            keep(self.stops, "id"),
            keep(self.holds, "stop_id"),
            keep(self.procedures, "stop_id"),
            keep(self.fees, "stop_id"),
        )


def stored_digests(
    session: Session, shipment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, str | None]]:
    """The digests of these shipments' stored stops, by shipment and stop id (every one of
    the shipments, with or without stops)."""
    found: dict[uuid.UUID, dict[uuid.UUID, str | None]] = {sid: {} for sid in shipment_ids}
    if shipment_ids:
        for shipment_id, stop, digest in session.execute(
            select(Stop.shipment_id, Stop.id, Stop.content_hash).where(
                Stop.shipment_id.in_(shipment_ids)
            )
        ):
            found[shipment_id][stop] = digest
    return found


def replace_stops(
    session: Session,
    stored: dict[uuid.UUID, str | None],
    rows: StopRows,
    known: Mapping[uuid.UUID, "TripFacts"] | None = None,
    written: Mapping[uuid.UUID, "WrittenStop"] | None = None,
) -> dict[uuid.UUID, "TripFacts"]:
    """Make the stored stops `stored` (by id, with their digests: those of the shipments
    `rows` is for that may have changed or gone; the others are known unchanged) equal
    `rows`, writing only what changed.

    An event usually changes one or two stops of a trip (the current one, and the previous
    one when a new stop opens). Rewriting every stop cost more than all the rest of an event
    write: each stop row touches seven report indexes, and its holds, procedures and fees
    theirs. So stops whose digest is unchanged stay. On SQLite, a changed stop whose rows
    as stored are known (`written`: the rows this process wrote, still stored if their
    digest is the stored one) is updated in place, only the columns that changed (see
    _InPlace); the others are deleted (their holds, procedures and fees with them, ON
    DELETE CASCADE) and inserted anew. Returns the trips' report keys (see StopRows.insert).
    """
    facts = add_trip_facts(session, rows, known)
    wanted = {row["id"]: row["content_hash"] for row in rows.stops}
    unchanged = {sid for sid, digest in wanted.items() if stored.get(sid) == digest}
    stale = set(stored) - unchanged
    in_place = _InPlace()
    if written and updates_in_place(session):
        new = rows.by_stop()
        for sid in stale:
            before = written.get(sid)
            if before is not None and sid in new and before.stop["content_hash"] == stored[sid]:
                in_place.add(before, new[sid])
    # Not the ORM's bulk delete, which would first look for these stops in the session.
    statements.delete(session, _STOPS, "id", stale - in_place.stops)
    in_place.write(session)
    rest = rows.without_stops(unchanged | in_place.stops)
    for mine, appended in zip(rest.children(), in_place.appended.children(), strict=True):
        mine += appended
    rest.write(session)
    return facts


def updates_in_place(session: Session) -> bool:
    """Whether replace_stops updates changed stops in place (and so whether their rows are
    worth keeping): on SQLite only, where the index and trigger work is this process's CPU.
    On PostgreSQL it is the server's, and psycopg's executemany of the updates cost this
    process more CPU than the DELETE and the binary COPY (bench/RESULTS.md, session 9)."""
    return session.connection().dialect.name == "sqlite"


@dataclass(frozen=True)
class WrittenStop:
    """One stop's rows as written: its own, and its holds, procedures and fees in order."""

    stop: Row
    holds: list[Row]
    procedures: list[Row]
    fees: list[Row]


# What a stop's row cannot change in place: its seq (a trip's seqs are unique, checked row
# by row, so a shift would collide), its checkpoint and arrival, and its trip's keys, all of
# which its holds, procedures and fees copy.
_FIXED = frozenset(
    {
        "seq",
        "shipment_id",
        "organization_id",
        "checkpoint_id",
        "arrived_at",
        "arrival_day",
        "hs_chapters",
        "origin_province",
        "destination_province",
        "trip_has_distance",
    }
)
# How a stop's holds, procedures and fees are told apart (none of them has two with one key).
_CHILD_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("holds", ("stop_id", "event_id")),
    ("procedures", ("stop_id", "procedure", "run_number")),
    ("fees", ("stop_id", "event_id")),
)


class _InPlace:
    """The changed stops written as UPDATEs of the columns that changed, rather than a
    DELETE and an INSERT of the stop and of each of its holds, procedures and fees. On
    SQLite every stop row deleted and inserted rewrote a dozen index entries and ran the
    rollup triggers twice; an event usually changes two or three columns of its stop (its
    last event, its digest) and adds or completes one procedure or fee.

    A stop qualifies when none of _FIXED changed and its holds, procedures and fees as
    written are, key by key and in order, the first ones of its new lists: those are updated
    where they changed and the new ones appended (inserted after the stop's others, so
    every list keeps the order of its ids, which the API reads procedures by). The stored
    rows end equal to a fresh insert's, but for the ids of the rows kept."""

    def __init__(self) -> None:
        self.stops: set[uuid.UUID] = set()
        self.updates: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Row]] = {}
        self.appended = StopRows()

    def add(self, before: WrittenStop, after: WrittenStop) -> None:
        """Plans the stop's update, unless it does not qualify (it is then rewritten)."""
        changed = _changed(before.stop, after.stop)
        if changed is None or not _FIXED.isdisjoint(changed):
            return
        updates: list[tuple[str, tuple[str, ...], tuple[str, ...], Row]] = []
        if changed:
            updates.append(("stops", changed, ("id",), after.stop))
        appended: list[list[Row]] = []
        for name, key in _CHILD_KEYS:
            old, new = getattr(before, name), getattr(after, name)
            if len(new) < len(old):
                return
            for was, now in zip(old, new, strict=False):
                columns = _changed(was, now)
                if columns is None or not _FIXED.isdisjoint(columns) or set(key) & set(columns):
                    return
                if columns:
                    updates.append((name, columns, key, now))
            appended.append(new[len(old) :])
        self.stops.add(after.stop["id"])
        for table, columns, key, row in updates:
            values = {column: row[column] for column in (*columns, *key)}
            self.updates.setdefault((table, columns, key), []).append(values)
        for mine, new_rows in zip(self.appended.children(), appended, strict=True):
            mine += new_rows

    def write(self, session: Session) -> None:
        for (table, _, key), rows in self.updates.items():
            statements.update(session, _TABLES[table], rows, key=key)


def _changed(before: Row, after: Row) -> tuple[str, ...] | None:
    """The columns whose values differ (None if the rows do not have the same columns)."""
    if before.keys() != after.keys():
        return None
    return tuple(column for column, value in after.items() if before[column] != value)


def stop_id(shipment_id: uuid.UUID, stop: timeline.Stop) -> uuid.UUID:
    # Stable across rebuilds: a stop is named by its shipment and the event that opened it.
    return _stop_id(shipment_id, stop.opened_by)


@lru_cache(maxsize=16_384)  # the stops of the trips being written now: asked at every event
def _stop_id(shipment_id: uuid.UUID, opened_by: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(shipment_id, str(opened_by))


def add_stops(
    rows: StopRows,
    shipment_id: uuid.UUID,
    organization_id: uuid.UUID,
    stops: list[timeline.Stop],
) -> None:
    for stop in stops:
        sid = stop_id(shipment_id, stop)
        first_hold, first_procedure, first_fee = (
            len(rows.holds),
            len(rows.procedures),
            len(rows.fees),
        )
        context = {
            "stop_id": sid,
            "shipment_id": shipment_id,
            "organization_id": organization_id,
            "checkpoint_id": stop.checkpoint_id,
            "arrived_at": stop.arrived_at,
        }
        rows.stops.append(
            {
                "id": sid,
                "shipment_id": shipment_id,
                "organization_id": organization_id,
                "checkpoint_id": stop.checkpoint_id,
                "seq": stop.seq,
                "arrived_at": stop.arrived_at,
                "closed_at": stop.closed_at,
                "outcome": stop.outcome,
                "dwell_minutes": stop.dwell_minutes,
                "hold_count": len(stop.holds),
                "held_minutes": stop.held_minutes,
                "is_current": stop.current,
                "last_event_at": stop.last_event_at,
                "anomalies": [anomaly_json(a) for a in stop.anomalies],
                "position_evidence": stop.position_evidence,
            }
        )
        rows.holds += [
            {
                **context,
                "reason": h.reason,
                "started_at": h.started_at,
                "ended_at": h.ended_at,
                "minutes": h.minutes,
                "event_id": h.event_id,
            }
            for h in stop.holds
        ]
        rows.procedures += [
            {
                **context,
                "procedure": p.procedure,
                "started_at": p.started_at,
                "completed_at": p.completed_at,
                "minutes": p.minutes,
            }
            for p in stop.procedures
        ]
        rows.fees += [
            {
                **context,
                "amount": f.amount,
                "currency": f.currency,
                "receipt": f.receipt,
                "paid_at": f.paid_at,
                "event_id": f.event_id,
            }
            for f in stop.fees
        ]
        stop_row = rows.stops[-1]
        _number_runs(rows.procedures[first_procedure:])
        stop_row["content_hash"] = _digest(
            stop_row,
            rows.holds[first_hold:],
            rows.procedures[first_procedure:],
            rows.fees[first_fee:],
        )
        # After the digest: derived from what it covers (arrived_at), so no news in it.
        day = arrival_day(stop.arrived_at)
        for row in [stop_row, *rows.holds[first_hold:], *rows.procedures[first_procedure:]]:
            row["arrival_day"] = day
        for row in rows.fees[first_fee:]:
            row["arrival_day"] = day


def arrival_day(arrived_at: datetime | None) -> int | None:
    """The UTC day of an arrival, as days since 1970-01-01 (the reports' trend key)."""
    if arrived_at is None:
        return None
    return arrived_at.astimezone(UTC).date().toordinal() - EPOCH


def _number_runs(procedures: list[Row]) -> None:
    """1 for a stop's first run of each procedure, 2 for the next run of the same one…"""
    seen: dict[Any, int] = {}
    for row in procedures:
        seen[row["procedure"]] = seen.get(row["procedure"], 0) + 1
        row["run_number"] = seen[row["procedure"]]


@dataclass(frozen=True)
class TripFacts:
    """What the reports group a trip's stop rows by, copied from the shipment: its HS
    chapters ('04,72') and its corridor. Fixed once a shipment has stops (only a planned
    shipment can be changed, and a planned shipment has none), so the event writer keeps
    them with its projections instead of reading them at every event."""

    hs_chapters: str | None
    origin: str
    destination: str
    has_distance: bool


def _trip_facts(
    session: Session, shipment_ids: set[uuid.UUID], known: Mapping[uuid.UUID, TripFacts]
) -> dict[uuid.UUID, TripFacts]:
    """The facts of these trips: `known` ones as given, the others read (one query per
    10,000 trips: the shipments with their cargo lines' chapters)."""
    facts = {sid: known[sid] for sid in shipment_ids if sid in known}
    missing = sorted(shipment_ids - facts.keys())
    trips: dict[uuid.UUID, tuple[set[str], str, str, bool]] = {}
    for batch in _batches(missing, 10_000):
        for shipment_id, origin, destination, km, chapter in session.execute(
            select(
                Shipment.id,
                Shipment.origin_province,
                Shipment.destination_province,
                Shipment.distance_km,
                CargoLine.hs_chapter,
            )
            .outerjoin(CargoLine, CargoLine.shipment_id == Shipment.id)
            .where(Shipment.id.in_(batch))
        ):
            trip = trips.setdefault(
                shipment_id, (set(), str(origin), str(destination), km is not None)
            )
            if chapter is not None:
                trip[0].add(chapter)
    for sid, (chapters, from_, to, has_distance) in trips.items():
        facts[sid] = TripFacts(",".join(sorted(chapters)) or None, from_, to, has_distance)
    return facts


def add_trip_facts(
    session: Session, rows: StopRows, known: Mapping[uuid.UUID, TripFacts] | None = None
) -> dict[uuid.UUID, TripFacts]:
    """Gives every row its trip's report keys (`known`, else read); returns them by trip."""
    facts = _trip_facts(session, {row["shipment_id"] for row in rows.stops}, known or {})
    apply_trip_facts(rows, facts)
    return facts


def apply_trip_facts(rows: StopRows, facts: Mapping[uuid.UUID, TripFacts]) -> None:
    """Every row gets its trip's report keys (the demo, which knows them, calls this too)."""
    for table in (rows.stops, rows.holds, rows.procedures, rows.fees):
        for row in table:
            row["hs_chapters"] = facts[row["shipment_id"]].hs_chapters
    for table in (rows.stops, rows.fees):
        for row in table:
            trip = facts[row["shipment_id"]]
            trip_keys(row, trip.origin, trip.destination, trip.has_distance)


def trip_keys(row: Row, origin: str, destination: str, has_distance: bool) -> None:
    """The corridor columns of a stop or fee row (see app/tracking/models.py _OnATrip)."""
    row["origin_province"] = str(origin)  # a Province's value, as the shipment stores it
    row["destination_province"] = str(destination)
    row["trip_has_distance"] = has_distance


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# What every hold, procedure and fee row copies from its stop: already in the stop's row.
_CONTEXT = frozenset({"stop_id", "shipment_id", "organization_id", "checkpoint_id", "arrived_at"})


def _digest(stop: Row, *children: list[Row]) -> str:
    # repr() of these plain values (UUIDs, datetimes, enums, Decimals, floats) is exact. Rows
    # built from events as the database returns them (every rebuild) digest alike; the demo
    # generator makes its events with the same types (a test compares the digests). The
    # children's copies of the stop's context are left out: they add nothing, and repr() of
    # their UUIDs was most of the digest's time.
    values = [list(stop.values())] + [
        [[v for k, v in row.items() if k not in _CONTEXT] for row in rows] for rows in children
    ]
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def shipment_fields(built: timeline.Timeline) -> Row:
    """What the timeline says about the shipment as a whole (status unless it is cancelled)."""
    current = built.current_stop
    return {
        "status": ShipmentStatus(built.status),
        "departed_at": built.departed_at,
        "delivered_at": built.delivered_at,
        "last_event_at": built.last_event_at,
        "transit_minutes": timeline.minutes_between(built.departed_at, built.delivered_at),
        "current_checkpoint_id": current.checkpoint_id if current else None,
        "anomalies": [anomaly_json(a) for a in built.anomalies],
    }


def anomaly_json(anomaly: timeline.Anomaly) -> dict[str, str]:
    return {"code": anomaly.code, "event_id": str(anomaly.event_id), "detail": anomaly.detail}
