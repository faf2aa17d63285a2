"""Corridor cells: the corridor report's figures per origin × destination × UTC day of
departure, kept in the database so that the report reads one row per cell instead of every
trip, stop and fee (as rollups.py does for the day cells of the stops).

Why this cell. It is the advocates' protected cell of the corridor report already (a trip
is counted once, in the day it left), so one set of rows serves an admin's exact figures
and an advocate's protected ones, and the window of a question (`from`/`to` bound the
departure) selects whole cells, with the exact time on its edge days.

A cell holds its trips' counts and kilometres, the transit times of its delivered trips
(sorted, little-endian float64: the median must stay exact), its stops per checkpoint and
per known distance (count, delay minutes) and its fees per currency and known distance
(cents), as packed records, and its exporters (16-byte ids). And the sums behind the CAREC
CPMM figures, over its "timed" trips (delivered, over a known distance: `timed()`): how
many, their kilometres, transit minutes and stops' dwell minutes, and their fees per
currency (cents).

Freshness: triggers mark a cell in `corridor_dirty` when one of its trips changes what the
report reads (departure, corridor, distance, transit time, whether it counts as a trip at
all) and when a stop or a fee of one of its trips is written; the rollup refresh recomputes
marked cells. A report reads the unmarked cells from here and the marked ones (and the
edge days of an admin's window, and trips with no departure time) from the trips, with
the same `compute()`, so it is as fresh as the trips are.
"""

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session

# The tables the trips' foreign keys point at: their columns' types (UUIDs) come from
# there, so a process that imports only this module must import them too (else an exporter
# id reads back as text on SQLite).
from app.checkpoints.models import Checkpoint  # noqa: F401
from app.db import streamed_rows
from app.organizations.models import Organization  # noqa: F401
from app.reports import figures as fig
from app.reports.filters import ReportFilters
from app.reports.models import CorridorCell, CorridorDirty
from app.reports.percentiles import positions
from app.reports.sql import concat_bytes
from app.shipments.models import Shipment, ShipmentStatus
from app.tracking.models import Stop, StopFee
from app.types import CENT, EPOCH

Key = tuple[str, str, int | None]  # origin, destination, UTC day of departure (None: none)
FLOAT64 = np.dtype("<f8")
# A cell's stops per checkpoint (its id's 16 bytes) and whether the trip's distance is known.
STOPS = np.dtype([("checkpoint", "S16"), ("known_km", "u1"), ("stops", "<i8"), ("delay", "<f8")])
FEES = np.dtype([("currency", "S3"), ("known_km", "u1"), ("total", "<i8"), ("unreceipted", "<i8")])
# The fees paid on a cell's timed trips, per currency (cents).
TIMED_FEES = np.dtype([("currency", "S3"), ("total", "<i8")])
CELLS_PER_STATEMENT = 200
MAX_MARKED_CELLS = 400  # more marked cells in a question: it reads its trips in one pass
NOT_TRIPS = (ShipmentStatus.planned, ShipmentStatus.cancelled)

Where = Callable[[], ColumnElement[bool]]  # a condition on shipments (the trips)


@dataclass
class TripCell:
    """The figures of one cell's trips (or of the part of it a window covers)."""

    trips: int = 0
    delivered: int = 0
    with_distance: int = 0
    km: float = 0.0
    transit: bytes = b""  # sorted transit minutes of its delivered trips
    stops: bytes = b""  # STOPS records, sorted
    fees: bytes = b""  # FEES records, sorted (cents)
    exporters: bytes = b""  # sorted 16-byte ids
    # The evidence of its trips' stops and fee events (figures.Figures says what each is).
    confirmed_stops: int = 0
    contradicted_stops: int = 0
    anomalous_stops: int = 0
    fee_events: int = 0
    photographed_fees: int = 0
    # The CAREC CPMM figures' trips: delivered, over a known distance (timed()).
    timed_trips: int = 0
    timed_km: float = 0.0
    timed_transit_minutes: float = 0.0
    timed_checkpoint_minutes: float = 0.0
    timed_fees: bytes = b""  # TIMED_FEES records, sorted

    def same_as(self, other: "TripCell") -> bool:
        """Equal, the sums of floats to 1e-9 relative (their order of addition differs
        between databases and plans)."""
        return (
            all(getattr(self, name) == getattr(other, name) for name in _EXACT)
            and all(
                math.isclose(getattr(self, name), getattr(other, name), rel_tol=1e-9, abs_tol=1e-9)
                for name in _SUMMED
            )
            and _same_stops(self.stops, other.stops)
        )

    def exporter_ids(self) -> set[bytes]:
        packed = self.exporters
        return {packed[i : i + 16] for i in range(0, len(packed), 16)}


_SUMMED = ("km", "timed_km", "timed_transit_minutes", "timed_checkpoint_minutes")
_EXACT = tuple(f.name for f in dataclasses.fields(TripCell) if f.name not in (*_SUMMED, "stops"))


def _same_stops(a: bytes, b: bytes) -> bool:
    """Equal stop records, their delay sums to 1e-9 relative (their order of addition
    differs between databases and plans)."""
    mine, theirs = np.frombuffer(a, STOPS), np.frombuffer(b, STOPS)
    return (
        len(mine) == len(theirs)
        and all(
            np.array_equal(mine[name], theirs[name]) for name in ("checkpoint", "known_km", "stops")
        )
        and bool(np.allclose(mine["delay"], theirs["delay"], rtol=1e-9, atol=1e-9))
    )


# --- which trips are in a cell ------------------------------------------------------------


def departure_day(session: Session) -> ColumnElement[Any]:
    """A trip's UTC day of departure as days since 1970-01-01, computed exactly (the
    date, not a fraction of days): the same expression the triggers use."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps UTC times as text: date() cuts it to the day, julianday() counts it.
        return cast(func.julianday(func.date(Shipment.departed_at)) - 2440587.5, Integer)
    return cast(
        cast(func.timezone("UTC", Shipment.departed_at), Date) - literal(date(1970, 1, 1), Date),
        Integer,
    )


def midnight(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


def is_trip() -> ColumnElement[bool]:
    """Started and not cancelled: what the corridor report counts as a trip."""
    return Shipment.status.not_in(NOT_TRIPS)


def timed() -> ColumnElement[bool]:
    """A trip the CAREC CPMM figures count: delivered (so its whole transit time, departure
    to delivery, is known) over a known distance."""
    return and_(Shipment.transit_minutes.is_not(None), Shipment.distance_km.is_not(None))


def timed_sums() -> list[ColumnElement[Any]]:
    """A group's timed trips, their kilometres and their transit minutes (0 when none)."""
    return [
        func.count(case((timed(), 1))),
        func.coalesce(func.sum(case((timed(), Shipment.distance_km))), 0.0),
        func.coalesce(func.sum(case((timed(), Shipment.transit_minutes))), 0.0),
    ]


def of_keys(keys: Iterable[Key]) -> Where:
    """The trips of these cells: each a range of departure times in one corridor (an index
    range, never a computed day)."""

    def where() -> ColumnElement[bool]:
        parts = [
            and_(
                Shipment.origin_province == origin,
                Shipment.destination_province == destination,
                *(
                    [Shipment.departed_at.is_(None)]
                    if day is None
                    else [
                        Shipment.departed_at >= midnight(day),
                        Shipment.departed_at < midnight(day + 1),
                    ]
                ),
            )
            for origin, destination, day in keys
        ]
        return or_(*parts) if parts else false()

    return where


def of_days(start: int, end: int) -> Where:
    return lambda: and_(
        Shipment.departed_at >= midnight(start), Shipment.departed_at < midnight(end)
    )


# --- computing cells from the trips --------------------------------------------------------


def compute(session: Session, where: Where) -> dict[Key, TripCell]:
    """The figures of every cell with trips meeting `where`, from the trips, their stops and
    their fees: the one definition of a corridor cell's figures."""
    day = departure_day(session)
    key = [Shipment.origin_province, Shipment.destination_province, day]
    trips = select(
        *key,
        func.count(),
        func.count(Shipment.transit_minutes),
        func.count(Shipment.distance_km),
        func.coalesce(func.sum(Shipment.distance_km), 0.0),
        *timed_sums(),
    ).where(is_trip(), where())
    cells: dict[Key, TripCell] = {}
    for row in session.execute(trips.group_by(*key)):
        made = TripCell(int(row[3]), int(row[4]), int(row[5]), float(row[6]))
        made.timed_trips, made.timed_km = int(row[7]), float(row[8])
        made.timed_transit_minutes = float(row[9])
        cells[_key(row)] = made
    transit = (
        select(*key, Shipment.transit_minutes)
        .where(is_trip(), where(), Shipment.transit_minutes.is_not(None))
        .order_by(*key, Shipment.transit_minutes)
    )
    runs: dict[Key, list[float]] = defaultdict(list)
    for row in session.execute(transit):
        runs[_key(row)].append(float(row[3]))
    for cell, values in runs.items():
        cells.setdefault(cell, TripCell()).transit = np.array(values, FLOAT64).tobytes()
    stops: dict[Key, list[tuple[bytes, int, int, float]]] = defaultdict(list)
    stop_keys = [*key, Stop.checkpoint_id, Stop.trip_has_distance]
    evidence = [func.sum(case((condition, 1), else_=0)) for condition in fig.stop_evidence()]
    for row in session.execute(
        select(
            *stop_keys,
            func.count(),
            func.coalesce(func.sum(Stop.dwell_minutes), 0.0),
            *evidence,
            func.coalesce(func.sum(case((timed(), Stop.dwell_minutes))), 0.0),
        )
        .join(Shipment, Shipment.id == Stop.shipment_id)
        .where(is_trip(), where())
        .group_by(*stop_keys)
    ):
        stops[_key(row)].append((row[3].bytes, int(bool(row[4])), int(row[5]), float(row[6])))
        found = cells.setdefault(_key(row), TripCell())
        found.confirmed_stops += int(row[7] or 0)
        found.contradicted_stops += int(row[8] or 0)
        found.anomalous_stops += int(row[9] or 0)
        found.timed_checkpoint_minutes += float(row[10] or 0.0)
    for cell, records in stops.items():
        cells.setdefault(cell, TripCell()).stops = np.array(sorted(records), STOPS).tobytes()
    charged: dict[Key, list[tuple[bytes, int, int, int]]] = defaultdict(list)
    fee_keys = [*key, StopFee.currency, StopFee.trip_has_distance]
    unreceipted = case((StopFee.receipt == false(), StopFee.amount), else_=0)
    photographed = func.sum(case((fig.receipt_attached(), 1), else_=0))
    timed_fees: dict[Key, dict[bytes, int]] = defaultdict(lambda: defaultdict(int))
    for row in session.execute(
        select(
            *fee_keys,
            func.sum(StopFee.amount),
            func.sum(unreceipted),
            func.count(),
            photographed,
            func.count(case((timed(), 1))),
            func.sum(case((timed(), StopFee.amount), else_=0)),
        )
        .join(Shipment, Shipment.id == StopFee.shipment_id)
        .where(is_trip(), where())
        .group_by(*fee_keys)
    ):
        record = (str(row[3]).encode(), int(bool(row[4])), _cents(row[5]), _cents(row[6]))
        charged[_key(row)].append(record)
        found = cells.setdefault(_key(row), TripCell())
        found.fee_events += int(row[7])
        found.photographed_fees += int(row[8] or 0)
        if row[9]:  # fees paid on timed trips (a currency listed even if they sum to 0)
            timed_fees[_key(row)][str(row[3]).encode()] += _cents(row[10])
    for cell, fees in charged.items():
        cells.setdefault(cell, TripCell()).fees = np.array(sorted(fees), FEES).tobytes()
    for cell, totals in timed_fees.items():
        paid = sorted(totals.items())
        cells.setdefault(cell, TripCell()).timed_fees = np.array(paid, TIMED_FEES).tobytes()
    exporters: dict[Key, list[bytes]] = defaultdict(list)
    for row in session.execute(
        select(*key, Shipment.organization_id).where(is_trip(), where()).distinct()
    ):
        exporters[_key(row)].append(row[3].bytes)
    for cell, ids in exporters.items():
        cells.setdefault(cell, TripCell()).exporters = b"".join(sorted(ids))
    return cells


def _key(row: Any) -> Key:
    return (str(row[0]), str(row[1]), None if row[2] is None else int(row[2]))


def _cents(amount: Any) -> int:
    # SQLite sums NUMERIC as floating point; amounts have cents, so rounding restores them.
    return int(Decimal(str(amount or 0)).quantize(CENT) * 100)


# --- storing, refreshing, rebuilding, checking ---------------------------------------------


def store(session: Session, keys: list[Key], cells: dict[Key, TripCell]) -> None:
    """Replaces the rows of the cells `keys` by `cells` (a key without figures: no trips)."""
    for chunk in _chunks(keys, CELLS_PER_STATEMENT):
        session.execute(delete(CorridorCell).where(_stored_of(chunk)))
    rows = [
        {
            "origin_province": origin,
            "destination_province": destination,
            "departure_day": day,
            **dataclasses.asdict(cell),
        }
        for (origin, destination, day), cell in cells.items()
        if day is not None  # trips with no departure time are always read from the trips
    ]
    for chunk in _chunks(rows, 2_000):
        session.execute(insert(CorridorCell), chunk)


def _stored_of(keys: list[Key]) -> ColumnElement[bool]:
    table = CorridorCell
    return or_(
        *(
            and_(
                table.origin_province == origin,
                table.destination_province == destination,
                table.departure_day == day,
            )
            for origin, destination, day in keys
            if day is not None
        ),
        false(),
    )


def refresh_marked(session: Session, *, batch: int) -> int:
    """Recomputes up to `batch` marked cells in the caller's transaction (rollups.refresh:
    one snapshot, one refresh at a time) and removes the marks it read."""
    marks = session.execute(
        select(
            CorridorDirty.id,
            CorridorDirty.origin_province,
            CorridorDirty.destination_province,
            CorridorDirty.departure_day,
        )
        .order_by(CorridorDirty.id)
        .limit(batch * 20)
    ).all()
    keys: dict[Key, None] = {}
    ids: list[int] = []
    for mark_id, origin, destination, day in marks:
        key = (origin, destination, day)
        if key not in keys:
            if len(keys) == batch:
                continue  # its marks stay for the next round
            keys[key] = None
        ids.append(mark_id)
    if keys:
        store(session, list(keys), compute(session, of_keys(keys)))
        for chunk in _chunks(ids, 400):
            session.execute(delete(CorridorDirty).where(CorridorDirty.id.in_(chunk)))
    return len(keys)


def rebuild(session: Session) -> int:
    """Every cell anew from the trips (after a bulk load that bypassed the triggers, or to
    repair), in the caller's transaction; returns how many cells it stored."""
    session.execute(delete(CorridorCell))
    session.execute(delete(CorridorDirty))
    cells = compute(session, lambda: Shipment.departed_at.is_not(None))
    store(session, [], cells)
    return len(cells)


def verify(session: Session) -> list[str]:
    """Every unmarked cell's row against a recomputation from its trips; what differs."""
    marked = _marked(session, true())
    want = compute(session, lambda: Shipment.departed_at.is_not(None))
    have = stored(session, lambda table: true())
    return [
        f"corridor_cells: {key[0]} → {key[1]} day {key[2]}: differs from its trips"
        for key in sorted(set(want) | set(have), key=str)
        if key not in marked
        and (key not in have or key not in want or not have[key].same_as(want[key]))
    ]


def _marked(session: Session, where: ColumnElement[bool]) -> set[Key]:
    """The marked cells meeting `where` (their rows may be stale)."""
    return {
        (o, d, day)
        for o, d, day in session.execute(
            select(
                CorridorDirty.origin_province,
                CorridorDirty.destination_province,
                CorridorDirty.departure_day,
            )
            .where(where)
            .distinct()
        )
    }


# --- reading cells --------------------------------------------------------------------------


def stored(session: Session, where: Callable[[Any], ColumnElement[bool]]) -> dict[Key, TripCell]:
    table = CorridorCell
    keys = [table.origin_province, table.destination_province, table.departure_day]
    stmt = select(*keys, *_columns(summed=False)).where(where(table))
    with streamed_rows(session, stmt) as rows:
        return {(o, d, day): _trip_cell(values) for o, d, day, *values in rows}


def summed(
    session: Session, where: Callable[[Any], ColumnElement[bool]]
) -> dict[tuple[str, str], TripCell]:
    """The rows meeting `where` added up per corridor by the database, as one cell each: its
    counts summed and its records joined (no exporters: only an advocate's rule needs
    them). One row a corridor, where reading its cells one by one (14,400 at 1M stops) and
    making each a TripCell was most of an admin's report."""
    table = CorridorCell
    keys = [table.origin_province, table.destination_province]
    stmt = select(*keys, *_columns(summed=True)).where(where(table)).group_by(*keys)
    with streamed_rows(session, stmt) as rows:
        return {(o, d): _trip_cell(values) for o, d, *values in rows}


def _columns(*, summed: bool) -> list[Any]:
    """A cell's figures (`_trip_cell` reads them), or `summed` those of a group of cells."""
    table = CorridorCell

    def add(column: Any) -> Any:
        return func.sum(column) if summed else column

    def join(column: Any) -> Any:
        return concat_bytes(column) if summed else column

    return [
        *(add(column) for column in (table.trips, table.delivered, table.with_distance)),
        add(table.km),
        *(join(column) for column in (table.transit, table.stops, table.fees)),
        literal(b"") if summed else table.exporters,
        *(add(getattr(table, name)) for name in EVIDENCE_COLUMNS),
        *(add(getattr(table, name)) for name in TIMED_COLUMNS[:-1]),
        join(table.timed_fees),
    ]


def _trip_cell(values: list[Any]) -> TripCell:
    """A TripCell from `_columns`' values (psycopg may read a blob as a memoryview)."""
    trips, delivered, with_distance, km, *rest = values
    transit, stops, fees, ids = (bytes(blob or b"") for blob in rest[:4])
    cell = TripCell(int(trips), int(delivered), int(with_distance), float(km))
    cell.transit, cell.stops, cell.fees, cell.exporters = transit, stops, fees, ids
    counts = rest[4 : 4 + len(EVIDENCE_COLUMNS)]
    for name, count in zip(EVIDENCE_COLUMNS, counts, strict=True):
        setattr(cell, name, int(count))
    timed_trips, timed_km, transit_minutes, checkpoints, timed_fees = rest[4 + len(counts) :]
    cell.timed_trips, cell.timed_km = int(timed_trips), float(timed_km)
    cell.timed_transit_minutes = float(transit_minutes)
    cell.timed_checkpoint_minutes = float(checkpoints)
    cell.timed_fees = bytes(timed_fees or b"")
    return cell


EVIDENCE_COLUMNS = fig.EVIDENCE_COUNTS
TIMED_COLUMNS = (
    "timed_trips",
    "timed_km",
    "timed_transit_minutes",
    "timed_checkpoint_minutes",
    "timed_fees",
)


def answers(principal: Any, filters: ReportFilters) -> bool:
    """Can corridor cells answer this question? Not an exporter's own trips, nor a question
    cut inside the cells (trips carrying a chapter, through a checkpoint or province, or
    whose stops were all GPS-confirmed)."""
    return not principal.is_exporter and (
        filters.hs_chapter is None
        and filters.checkpoint_id is None
        and filters.province is None
        and not filters.confirmed_only
    )


def in_scope(session: Session, filters: ReportFilters) -> dict[Key, TripCell]:
    """Every cell of the question with its figures: whole days of departure from the rows
    here unless marked; marked cells, the edge days of the window and trips with no
    departure time from the trips, each a query of its own."""
    whole, live = _reading(session, filters)
    cells = {} if whole is None else stored(session, whole)
    for part in live:
        cells.update(compute(session, part))
    return cells


def summed_in_scope(
    session: Session, filters: ReportFilters
) -> dict[tuple[str, str], list[TripCell]]:
    """`in_scope` per corridor for an admin: the stored cells added up by the database
    (`summed`, one cell a corridor), and the cells computed from the trips."""
    whole, live = _reading(session, filters)
    parts: dict[tuple[str, str], list[TripCell]] = defaultdict(list)
    if whole is not None:
        for corridor, cell in summed(session, whole).items():
            parts[corridor].append(cell)
    for part in live:
        for key, cell in compute(session, part).items():
            parts[key[:2]].append(cell)
    return dict(parts)


def _reading(
    session: Session, filters: ReportFilters
) -> tuple[Callable[[Any], ColumnElement[bool]] | None, list[Where]]:
    """Where a question's cells are read: the stored rows meeting a condition (None: none),
    marked cells left out in the statement, and the parts computed from the trips."""
    first, end, edges = _window(filters)
    destination = filters.destination_province

    def whole(table: Any, day: Any) -> ColumnElement[bool]:
        conditions = [day.is_not(None)]
        if first is not None:
            conditions.append(day >= first)
        if end is not None:
            conditions.append(day < end)
        if destination is not None:
            conditions.append(table.destination_province == str(destination))
        return and_(*conditions)

    marked = _marked(session, whole(CorridorDirty, CorridorDirty.departure_day))
    if len(marked) > MAX_MARKED_CELLS:
        # Most of the question is marked (a bulk load not yet refreshed, a refresh far
        # behind): one pass over its trips beats naming every cell.
        every: Where = _exact_window(filters)
        if destination is not None:
            every = _and_destination(every, str(destination))
        return None, [every]

    def unmarked(table: Any) -> ColumnElement[bool]:
        if not marked:
            return whole(table, table.departure_day)
        key = tuple_(table.origin_province, table.destination_province, table.departure_day)
        return and_(whole(table, table.departure_day), not_(key.in_(sorted(marked))))

    live: list[Where] = []
    for chunk in _chunks(sorted(marked, key=str), CELLS_PER_STATEMENT):
        live.append(of_keys(chunk))
    exact = _exact_window(filters)
    for day in edges:
        live.append(_both(of_days(day, day + 1), exact))
    if filters.from_ is None and filters.to is None:
        live.append(lambda: Shipment.departed_at.is_(None))
    if destination is not None:
        live = [_and_destination(part, str(destination)) for part in live]
    return unmarked, live


def _both(first: Where, second: Where) -> Where:
    return lambda: and_(first(), second())


def _and_destination(part: Where, destination: str) -> Where:
    return lambda: and_(part(), Shipment.destination_province == destination)


def _exact_window(filters: ReportFilters) -> Where:
    def where() -> ColumnElement[bool]:
        conditions = []
        if filters.from_ is not None:
            conditions.append(Shipment.departed_at >= filters.from_)
        if filters.to is not None:
            conditions.append(Shipment.departed_at < filters.to)
        return and_(true(), *conditions)

    return where


def _window(filters: ReportFilters) -> tuple[int | None, int | None, list[int]]:
    """The first whole day, the day after the last whole day, and the days covered in part."""
    edges: list[int] = []
    first = end = None
    if filters.from_ is not None:
        first = _day(filters.from_)
        if filters.from_ != midnight(first):
            edges.append(first)
            first += 1
    if filters.to is not None:
        end = _day(filters.to)
        if filters.to != midnight(end):
            edges.append(end)
    return first, end, sorted(set(edges))


def _day(moment: datetime) -> int:
    return moment.astimezone(UTC).date().toordinal() - EPOCH


def median(values: np.ndarray) -> float | None:
    """The continuous median of `values` (in any order), exactly as percentiles.py defines it."""
    n = len(values)
    if not n:
        return None
    low, high, weight = positions(n, 0.5)
    ordered = np.partition(values, sorted({low, high}))
    a, b = float(ordered[low]), float(ordered[high])
    return a + weight * (b - a)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
