"""Corridors (origin province → destination province), trip by trip: the road-governance
observatories' indicators — controls, delay minutes and informal payments per 100 km — and
CAREC CPMM's: speed with and without delay, the share of time at checkpoints and the cost of
a trip, over the trips delivered over a known distance ("timed", corridor_cells.timed())."""

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    case,
    cast,
    false,
    func,
    not_,
    select,
    type_coerce,
)
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from app import privacy
from app.checkpoints.models import Checkpoint
from app.reports import corridor_cells, order_stats
from app.reports.figures import Figures, money, receipt_attached, stop_evidence
from app.reports.schemas import CorridorCost, CorridorFee, CorridorRow, EvidenceShares, Report
from app.reports.service import Scope, checkpoint_codes
from app.shipments.models import CargoLine, Shipment, ShipmentStatus
from app.tracking.models import Stop, StopFee
from app.types import CENT

Corridor = tuple[str, str]
KEYS = (Shipment.origin_province, Shipment.destination_province)
# The same columns read as the text they are stored as: an advocate's cut question groups
# hundreds of thousands of rows by cell (a busy checkpoint's trips at 10M stops), and making
# each row's provinces Province members cost SQLAlchemy's Enum processing ~2 s of it. Only
# their text is used (_key, _cell).
TEXT_KEYS = tuple(type_coerce(column, String) for column in KEYS)
ZERO = Decimal(0)


@dataclass
class _Trips:
    trips: int = 0
    delivered: int = 0
    with_distance: int = 0
    km: float = 0.0
    organizations: int = 0
    stops: int = 0
    delay_minutes: float = 0.0
    stops_on_known_km: int = 0
    delay_on_known_km: float = 0.0
    fees: dict[str, list[Decimal]] = field(default_factory=dict)  # [total, unreceipted, …km]
    delay_by_checkpoint: dict[Any, float] = field(default_factory=lambda: defaultdict(float))
    median_transit_minutes: float | None = None
    # Their stops' and fee events' evidence, as figures.Figures counts it.
    evidence: Figures = field(default_factory=Figures)
    timed: "_Timed" = field(default_factory=lambda: _Timed())


@dataclass
class _Timed:
    """The sums behind the CAREC CPMM figures, over the group's timed trips."""

    trips: int = 0
    km: float = 0.0
    transit_minutes: float = 0.0
    checkpoint_minutes: float = 0.0  # their stops' dwell
    fees: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    # Fees paid per currency (from cells: cells with one): a currency paid on a timed trip
    # is listed even if its fees sum to 0.
    fee_rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add_trips(self, counts: Any) -> None:
        """`counts`: corridor_cells.timed_sums()' columns."""
        trips, km, transit = counts
        self.trips += int(trips)
        self.km += float(km or 0.0)
        self.transit_minutes += float(transit or 0.0)


def trips(scope: Scope, *columns: Any) -> Select[Any]:
    """The trips in scope: started (not planned, not cancelled), filtered like the stops."""
    stmt = (
        select(*columns)
        .select_from(Shipment)
        .where(Shipment.status.not_in([ShipmentStatus.planned, ShipmentStatus.cancelled]))
    )
    filters = scope.filters
    stmt = privacy.readable(scope.principal, stmt, Shipment.organization_id)
    if filters.from_ is not None:
        stmt = stmt.where(Shipment.departed_at >= filters.from_)
    if filters.to is not None:
        stmt = stmt.where(Shipment.departed_at < filters.to)
    if filters.destination_province is not None:
        stmt = stmt.where(Shipment.destination_province == filters.destination_province)
    if filters.hs_chapter is not None:
        carrying = select(CargoLine.shipment_id).where(CargoLine.hs_chapter == filters.hs_chapter)
        stmt = stmt.where(Shipment.id.in_(carrying))
    if filters.checkpoint_id is not None or filters.province is not None:
        through = select(Stop.shipment_id)
        if filters.checkpoint_id is not None:
            through = through.where(Stop.checkpoint_id == filters.checkpoint_id)
        if filters.province is not None:
            through = through.join(Checkpoint, Checkpoint.id == Stop.checkpoint_id).where(
                Checkpoint.province == filters.province
            )
        stmt = stmt.where(Shipment.id.in_(through))
    if filters.confirmed_only:
        # A trip is GPS-confirmed when every one of its stops is (and it has one).
        unconfirmed = select(Stop.shipment_id).where(Stop.position_evidence != "confirmed")
        stmt = stmt.where(
            Shipment.id.in_(select(Stop.shipment_id)), Shipment.id.not_in(unconfirmed)
        )
    return stmt


def _of_trips_in_scope(scope: Scope, model: type[Stop] | type[StopFee]) -> list[Any]:
    """The conditions for a stop's or fee's trip to be in scope, as trips() has them.

    A trip leaves the report by its status (cancelled: planned trips have no stops), which
    can change after it has stops: so the stops of the few trips left out are excluded
    (an anti-join against a small set), not the stops of the 200,000 others looked up (a
    semi-join that cost SQLite 2 s at 1M stops). What the rows carry is compared directly;
    the other trip filters are a semi-join on the shipment id."""
    principal, filters = scope.principal, scope.filters
    left_out = select(Shipment.id).where(
        Shipment.status.in_([ShipmentStatus.planned, ShipmentStatus.cancelled])
    )
    conditions: list[ColumnElement[bool]] = [model.shipment_id.not_in(left_out)]
    if principal.is_exporter:
        conditions.append(model.organization_id == principal.organization_id)
    if filters.destination_province is not None:
        conditions.append(model.destination_province == filters.destination_province)
    if (
        filters.from_ is not None
        or filters.to is not None
        or filters.hs_chapter is not None
        or filters.checkpoint_id is not None
        or filters.province is not None
        or filters.confirmed_only
    ):
        shipment_id: Any = model.shipment_id
        if scope.session.get_bind().dialect.name == "sqlite":
            # `+shipment_id`: not a lookup by ix_*_shipment for each trip in scope (9.5 s
            # for three months of trips at 1M stops, rows read from the table), but the
            # covering index's scan, each row's trip looked up in the set (0.9 s).
            shipment_id = UnaryExpression(
                shipment_id.expression, operator=custom_op("+"), type_=shipment_id.type
            )
        conditions.append(shipment_id.in_(trips(scope, Shipment.id)))
    return conditions


def corridor_report(scope: Scope) -> Report[CorridorRow]:
    if scope.settings.report_rollups and corridor_cells.answers(scope.principal, scope.filters):
        groups = _groups_from_cells(scope)
    elif scope.protected:
        groups = _protected_groups(scope)
    else:
        groups = _exact_groups(scope)
    worst = {c for g in groups.values() for c in g.delay_by_checkpoint}
    codes = checkpoint_codes(scope.session, worst)
    rows = [_row(scope, corridor, group, codes) for corridor, group in groups.items()]
    rows.sort(key=lambda r: (r.suppressed, -(r.delay_hours_per_trip or 0), r.origin_province))
    return scope.report("corridors", CorridorRow, rows)


def _exact_groups(scope: Scope) -> dict[Corridor, _Trips]:
    """Per corridor, every trip in scope (admins, and an exporter's own trips)."""
    session = scope.session
    groups: dict[Corridor, _Trips] = defaultdict(_Trips)
    for row in session.execute(_trip_counts(scope, list(KEYS))):
        group = groups[_key(row)]
        group.trips, group.delivered, group.with_distance = int(row[2]), int(row[3]), int(row[4])
        group.km = float(row[5])
        group.timed.add_trips(row[6:])
    # The trips with a transit time (delivered) per corridor, in the database's key order.
    delivered = [(key, group.delivered) for key, group in groups.items()]
    if scope.counts_exporters:
        _count_exporters(scope, groups)

    # Stops and fees carry their trip's corridor and whether its distance is known (see
    # app/tracking/models.py _OnATrip): grouped from their own covering indexes, without a
    # join to every stop's shipment (see _of_trips_in_scope).
    stop_keys = (Stop.origin_province, Stop.destination_province)
    for row in session.execute(
        select(
            *stop_keys,
            Stop.checkpoint_id,
            Stop.trip_has_distance,
            func.count(),
            func.coalesce(func.sum(Stop.dwell_minutes), 0.0),
            *_evidence_sums(),
        )
        .where(*_of_trips_in_scope(scope, Stop))
        .group_by(*stop_keys, Stop.checkpoint_id, Stop.trip_has_distance)
    ):
        _add_stops(groups[_key(row)], row[2], bool(row[3]), int(row[4]), float(row[5] or 0.0))
        _add_evidence(groups[_key(row)], row[6:])
        groups[_key(row)].timed.checkpoint_minutes += float(row[5] or 0.0)

    fee_keys = (StopFee.origin_province, StopFee.destination_province)
    unreceipted = case((StopFee.receipt == false(), StopFee.amount), else_=0)
    for row in session.execute(
        select(
            *fee_keys,
            StopFee.currency,
            StopFee.trip_has_distance,
            func.sum(StopFee.amount),
            func.sum(unreceipted),
            *_receipt_counts(),
        )
        .where(*_of_trips_in_scope(scope, StopFee))
        .group_by(*fee_keys, StopFee.currency, StopFee.trip_has_distance)
    ):
        _add_fees(groups[_key(row)], row[2], bool(row[3]), row[4], row[5])
        _add_receipts(groups[_key(row)], row[6:])
        _add_timed_fees(groups[_key(row)].timed, row[2], (row[6], row[4]))

    _take_out_untimed(scope, groups)
    _median_transit(scope, groups, delivered)
    return groups


def _take_out_untimed(scope: Scope, groups: dict[Corridor, _Trips]) -> None:
    """The exact path counts every stop's dwell and every fee in the timed sums, then takes
    out those of the trips that are not timed (on the road, turned back, of unknown
    distance): a few look-ups from those few trips (3% of the benchmark's), where telling
    each of the million stops timed or not cost SQLite a quarter more time at 1M stops, and
    a join from the timed trips to their stops 80% more."""
    untimed = not_(corridor_cells.timed())
    for row in scope.session.execute(
        trips(scope, *KEYS, func.coalesce(func.sum(Stop.dwell_minutes), 0.0))
        .join(Stop, Stop.shipment_id == Shipment.id)
        .where(untimed)
        .group_by(*KEYS)
    ):
        groups[_key(row)].timed.checkpoint_minutes -= float(row[2] or 0.0)
    # Through their stops: stop_fees has no index of its own by trip, and SQLite, joining
    # them by trip, scanned every fee (5 s at 1M stops; 0.3 s this way).
    for row in scope.session.execute(
        trips(scope, *KEYS, StopFee.currency, func.count(), func.sum(StopFee.amount))
        .join(Stop, Stop.shipment_id == Shipment.id)
        .join(StopFee, StopFee.stop_id == Stop.id)
        .where(untimed)
        .group_by(*KEYS, StopFee.currency)
    ):
        _add_timed_fees(groups[_key(row)].timed, row[2], (-int(row[3]), -money(row[4])))


def _timed_dwell(is_timed: ColumnElement[bool]) -> Any:
    """The dwell of the stops of timed trips (for the time at checkpoints)."""
    return func.coalesce(func.sum(case((is_timed, Stop.dwell_minutes))), 0.0)


def _timed_paid(is_timed: ColumnElement[bool]) -> list[Any]:
    """How many fees were paid on timed trips, and how much (for the cost per trip)."""
    return [func.count(case((is_timed, 1))), func.sum(case((is_timed, StopFee.amount), else_=0))]


def _add_timed_fees(timed: _Timed, currency: str, paid: Any) -> None:
    """`paid`: how many fees, and how much."""
    count, amount = paid
    timed.fee_rows[str(currency)] += int(count or 0)
    timed.fees[str(currency)] += money(amount)


# --- from corridor cells (corridor_cells.py) ----------------------------------------------


def _groups_from_cells(scope: Scope) -> dict[Corridor, _Trips]:
    """Per corridor, the figures of its cells (origin × destination × day of departure):
    every cell for an admin, added up by the database; for an advocate the cells with
    enough trips from enough exporters, as `_protected_groups` allows them. A corridor's
    cells' records are merged by numpy (a year holds hundreds of thousands of stop records
    per corridor)."""
    if scope.protected:
        shown, exporters = _cells_shown(scope)
    else:
        shown, exporters = corridor_cells.summed_in_scope(scope.session, scope.filters), {}
    groups: dict[Corridor, _Trips] = {}
    for corridor in sorted(shown):
        parts = shown[corridor]
        group = groups[corridor] = _Trips()
        group.trips = sum(c.trips for c in parts)
        group.delivered = sum(c.delivered for c in parts)
        group.with_distance = sum(c.with_distance for c in parts)
        group.km = sum(c.km for c in parts)
        group.organizations = len(exporters.get(corridor, ()))
        _add_stop_records(group, b"".join(c.stops for c in parts))
        _add_fee_records(group, b"".join(c.fees for c in parts))
        for name in corridor_cells.EVIDENCE_COLUMNS:
            setattr(group.evidence, name, sum(getattr(c, name) for c in parts))
        _add_timed_cells(group.timed, parts)
        transits = np.frombuffer(b"".join(c.transit for c in parts), corridor_cells.FLOAT64)
        group.median_transit_minutes = corridor_cells.median(transits)
    return groups


def _cells_shown(
    scope: Scope,
) -> tuple[dict[Corridor, list[corridor_cells.TripCell]], dict[Corridor, set[bytes]]]:
    """An advocate's cells per corridor, those that pass the thresholds (the others' stops
    counted as left out; every corridor of the question is there, even with none shown),
    and their exporters."""
    cells = corridor_cells.in_scope(scope.session, scope.filters)
    thresholds = privacy.thresholds_of(scope.settings)
    shown: dict[Corridor, list[corridor_cells.TripCell]] = defaultdict(list)
    exporters: dict[Corridor, set[bytes]] = defaultdict(set)
    for key in sorted(cells, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2])):
        cell, corridor = cells[key], key[:2]
        parts = shown[corridor]
        ids = cell.exporter_ids()
        if not thresholds.passes(privacy.Tally(cell.trips, cell.trips, ids)):
            stops = np.frombuffer(cell.stops, corridor_cells.STOPS)
            scope.excluded_stops += int(stops["stops"].sum())
            continue
        exporters[corridor] |= ids
        parts.append(cell)
    return shown, exporters


def _add_timed_cells(timed: _Timed, cells: list[corridor_cells.TripCell]) -> None:
    timed.trips += sum(c.timed_trips for c in cells)
    timed.km += sum(c.timed_km for c in cells)
    timed.transit_minutes += sum(c.timed_transit_minutes for c in cells)
    timed.checkpoint_minutes += sum(c.timed_checkpoint_minutes for c in cells)
    records = np.frombuffer(b"".join(c.timed_fees for c in cells), corridor_cells.TIMED_FEES)
    for currency in np.unique(records["currency"]).tolist():
        mine = records["total"][records["currency"] == currency]
        timed.fee_rows[currency.decode()] += len(mine)
        timed.fees[currency.decode()] += Decimal(int(mine.sum())).scaleb(-2)


def _add_stop_records(group: _Trips, packed: bytes) -> None:
    records = np.frombuffer(packed, corridor_cells.STOPS)
    known = records["known_km"] == 1
    group.stops += int(records["stops"].sum())
    group.delay_minutes += float(records["delay"].sum())
    group.stops_on_known_km += int(records["stops"][known].sum())
    group.delay_on_known_km += float(records["delay"][known].sum())
    checkpoints, where = _checkpoints_of(records)
    delays = np.bincount(where, weights=records["delay"], minlength=len(checkpoints))
    for checkpoint, delay in zip(checkpoints, delays.tolist(), strict=True):
        group.delay_by_checkpoint[checkpoint] += delay


def _checkpoints_of(records: np.ndarray) -> tuple[list[uuid.UUID], np.ndarray]:
    """The distinct checkpoints of STOPS records, and each record's index among them. By the
    ids' first 8 bytes as integers when those tell the checkpoints apart (a sort of numbers:
    a fifth of the time of sorting 16-byte strings, which was 40% of an admin's corridor
    report at 1M stops), else by the whole ids."""
    halves = np.ascontiguousarray(records["checkpoint"]).view("<u8").reshape(-1, 2)
    firsts, where = _distinct(halves[:, 0])
    seconds = np.zeros(len(firsts), "<u8")
    seconds[where] = halves[:, 1]
    if np.array_equal(seconds[where], halves[:, 1]):
        pairs = np.stack((firsts, seconds), axis=1).astype("<u8")
        return [uuid.UUID(bytes=pair.tobytes()) for pair in pairs], where
    ids, where = np.unique(records["checkpoint"], return_inverse=True)
    # numpy's S16 drops trailing zero bytes of an id: put them back.
    return [uuid.UUID(bytes=found.ljust(16, b"\0")) for found in ids.tolist()], where


SAMPLED_KEYS = 2_048  # about how many of the keys `_distinct` sorts to find the distinct ones


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_inverse=True) for many keys of few distinct values (a
    corridor's stop records: ~24,000 of ~40 checkpoints at 1M and 10M stops alike): the
    distinct values of a sample, sorted, then each key looked up among them, and those the
    sample missed added. A sort of every key was 29 ms of the admin's corridor report."""
    if not len(keys):
        return np.unique(keys, return_inverse=True)
    found = np.unique(keys[:: max(1, len(keys) // SAMPLED_KEYS)])
    where = np.minimum(np.searchsorted(found, keys), len(found) - 1)
    missed = found[where] != keys
    if missed.any():
        found = np.union1d(found, keys[missed])
        where = np.searchsorted(found, keys)
    return found, where


def _add_fee_records(group: _Trips, packed: bytes) -> None:
    records = np.frombuffer(packed, corridor_cells.FEES)
    for currency in np.unique(records["currency"]).tolist():
        for known in (0, 1):
            mine = records[(records["currency"] == currency) & (records["known_km"] == known)]
            if len(mine):
                total = Decimal(int(mine["total"].sum())).scaleb(-2)
                unreceipted = Decimal(int(mine["unreceipted"].sum())).scaleb(-2)
                _add_fees(group, currency.decode(), bool(known), total, unreceipted)


# --- an advocate's corridors: protected cells ---------------------------------------------

CorridorCell = tuple[str, str, int]  # origin, destination, UTC day of departure


def departure_day(scope: Scope) -> ColumnElement[Any]:
    """A trip's UTC day of departure, as days since 1970-01-01 (the corridors' cell)."""
    if scope.session.get_bind().dialect.name == "sqlite":
        # SQLite keeps UTC times as text: julianday() reads them.
        return cast(func.julianday(Shipment.departed_at) - 2440587.5, Integer)
    return cast(func.floor(func.extract("epoch", Shipment.departed_at) / 86400), Integer)


def _allowed_cells(scope: Scope, day: ColumnElement[Any]) -> set[privacy.Cell]:
    """The corridor cells (origin × destination × departure day) an advocate may see: enough
    trips from enough exporters and, when the question cuts the cells (trips carrying a
    chapter, or through a checkpoint or province), a passing or empty rest as well."""
    whole = dataclasses.replace(
        scope,
        filters=scope.filters.model_copy(
            update={
                "hs_chapter": None,
                "checkpoint_id": None,
                "province": None,
                "evidence": "all",
            }
        ),
    )
    cut = whole.filters != scope.filters
    inside: dict[privacy.Cell, privacy.Tally] = defaultdict(privacy.Tally)
    outside: dict[privacy.Cell, privacy.Tally] = defaultdict(privacy.Tally)
    # Uncut, every trip is inside (and PostgreSQL refuses a constant in a GROUP BY). Cut, a
    # trip is inside when the outer join to the question's trips finds it: as `id IN (…)` in
    # the select list PostgreSQL ran a subplan per trip once the question's ids outgrew
    # work_mem (a busy checkpoint at 10M stops: over 18 minutes, its parallel workers busy).
    # The exporter as text: only how many there are counts here, and a UUID made for each
    # (cell, exporter) row was a fifth of the report.
    keys = [*TEXT_KEYS, day, cast(Shipment.organization_id, String)]
    if not cut:
        tallies = trips(whole, *keys, func.count())
    else:
        in_question = trips(scope, Shipment.id.label("id")).subquery("in_question")
        keys.append(case((in_question.c.id.is_not(None), True), else_=False))
        tallies = trips(whole, *keys, func.count()).outerjoin(
            in_question, in_question.c.id == Shipment.id
        )
    for row in _rows(scope.session.connection(), tallies.group_by(*keys)):
        side = inside if not cut or row[4] else outside
        side[_cell(row)].add(privacy.Tally(int(row[-1]), int(row[-1]), {row[3]}))
    thresholds = privacy.thresholds_of(scope.settings)
    return privacy.complement_passes(thresholds, inside, outside)


def _trip_counts(scope: Scope, keys: list[Any]) -> Select[Any]:
    """Trips, delivered trips, trips with a distance and their km, per group, in the
    database's key order (the order the median's sorted pass follows)."""
    return (
        trips(
            scope,
            *keys,
            func.count(),
            func.count(Shipment.transit_minutes),
            func.count(Shipment.distance_km),
            func.coalesce(func.sum(Shipment.distance_km), 0.0),
            *corridor_cells.timed_sums(),
        )
        .group_by(*keys)
        .order_by(*keys)
    )


def _protected_groups(scope: Scope) -> dict[Corridor, _Trips]:
    """Per corridor, the trips of the cells an advocate may see: each figure grouped per cell
    in SQL and summed here over the allowed cells (the median merged from their runs)."""
    # Core rows, not the ORM's: the cut questions read hundreds of thousands of them.
    session = scope.session.connection()
    day = departure_day(scope)
    allowed = _allowed_cells(scope, day)
    cell_keys = [*TEXT_KEYS, day]
    groups: dict[Corridor, _Trips] = defaultdict(_Trips)
    delivered: list[tuple[privacy.Cell, int]] = []
    for row in _rows(session, _trip_counts(scope, cell_keys)):
        cell = _cell(row)
        delivered.append((tuple(row[:3]), int(row[4])))
        group = groups[cell[:2]]
        if cell not in allowed:
            continue
        group.trips += int(row[3])
        group.delivered += int(row[4])
        group.with_distance += int(row[5])
        group.km += float(row[6])
        group.timed.add_trips(row[7:])
    exporters: dict[Corridor, set[Any]] = defaultdict(set)
    for row in _rows(session, trips(scope, *cell_keys, Shipment.organization_id).distinct()):
        if _cell(row) in allowed:
            exporters[_key(row)].add(row[3])
    for corridor, found in exporters.items():
        groups[corridor].organizations = len(found)
    has_distance = Shipment.distance_km.is_not(None)
    # The checkpoint as text too (a UUID made and hashed for each of ~500,000 rows at 10M
    # stops), made a UUID once per corridor below.
    stop_keys = [*cell_keys, cast(Stop.checkpoint_id, String), has_distance]
    for row in _rows(
        session,
        trips(
            scope,
            *stop_keys,
            func.count(),
            func.coalesce(func.sum(Stop.dwell_minutes), 0.0),
            *_evidence_sums(),
            _timed_dwell(corridor_cells.timed()),
        )
        .join(Stop, Stop.shipment_id == Shipment.id)
        .group_by(*stop_keys),
    ):
        if _cell(row) not in allowed:
            scope.excluded_stops += int(row[5])
            continue
        _add_stops(groups[_key(row)], row[3], bool(row[4]), int(row[5]), float(row[6] or 0.0))
        _add_evidence(groups[_key(row)], row[7:10])
        groups[_key(row)].timed.checkpoint_minutes += float(row[10] or 0.0)
    for group in groups.values():
        group.delay_by_checkpoint = {
            uuid.UUID(checkpoint): minutes
            for checkpoint, minutes in group.delay_by_checkpoint.items()
        }
    unreceipted = case((StopFee.receipt == false(), StopFee.amount), else_=0)
    fee_keys = [*cell_keys, StopFee.currency, has_distance]
    for row in _rows(
        session,
        trips(
            scope,
            *fee_keys,
            func.sum(StopFee.amount),
            func.sum(unreceipted),
            *_receipt_counts(),
            *_timed_paid(corridor_cells.timed()),
        )
        .join(StopFee, StopFee.shipment_id == Shipment.id)
        .group_by(*fee_keys),
    ):
        if _cell(row) in allowed:
            _add_fees(groups[_key(row)], row[3], bool(row[4]), row[5], row[6])
            _add_receipts(groups[_key(row)], row[7:9])
            _add_timed_fees(groups[_key(row)].timed, row[3], row[9:])
    runs = order_stats.sorted_runs(
        scope.session, lambda *c: trips(scope, *c), cell_keys, Shipment.transit_minutes, delivered
    )
    members: dict[Corridor, list[privacy.Cell]] = defaultdict(list)
    for cell, _ in delivered:
        if _cell(cell) in allowed:
            members[_key(cell)].append(cell)
    for corridor, cells in members.items():
        found_stats = order_stats.merged(runs, cells, quantiles=(0.5,), tail=False)
        if found_stats is not None:
            groups[corridor].median_transit_minutes = found_stats.percentiles[0.5]
    return groups


def _rows(connection: Connection, stmt: Select[Any]) -> Iterator[Any]:
    """The rows of `stmt`, taken from the driver a chunk at a time (iterating a result takes
    them one by one: a third of the Python time of a cut question at 10M stops). Not
    db.streamed_rows: PostgreSQL plans a server-side cursor for its first rows and without
    parallel workers, and these whole-table groupings then took 87–114 s instead of 26–29
    (bench/RESULTS.md, session 18). The result is the driver's client-side buffer, as
    `session.execute` had it, so a generator left half read holds no server cursor."""
    result = connection.execute(stmt)
    for chunk in result.partitions(order_stats.CHUNK):
        yield from chunk


def _cell(row: Any) -> CorridorCell:
    return (str(row[0]), str(row[1]), int(row[2]))


def _add_stops(group: _Trips, checkpoint: Any, known_km: bool, stops: int, delay: float) -> None:
    group.stops += stops
    group.delay_minutes += delay
    if known_km:
        group.stops_on_known_km += stops
        group.delay_on_known_km += delay
    group.delay_by_checkpoint[checkpoint] += delay


def _add_fees(group: _Trips, currency: str, known_km: bool, total: Any, unpaid: Any) -> None:
    fees = group.fees.setdefault(currency, [ZERO] * 4)
    fees[0] += money(total)
    fees[1] += money(unpaid)
    if known_km:
        fees[2] += money(total)
        fees[3] += money(unpaid)


def _evidence_sums() -> list[Any]:
    return [func.sum(case((condition, 1), else_=0)) for condition in stop_evidence()]


def _receipt_counts() -> list[Any]:
    return [func.count(), func.sum(case((receipt_attached(), 1), else_=0))]


def _add_evidence(group: _Trips, counts: Any) -> None:
    confirmed, contradicted, anomalous = (int(n or 0) for n in counts)
    group.evidence.confirmed_stops += confirmed
    group.evidence.contradicted_stops += contradicted
    group.evidence.anomalous_stops += anomalous


def _add_receipts(group: _Trips, counts: Any) -> None:
    events, photographed = (int(n or 0) for n in counts)
    group.evidence.fee_events += events
    group.evidence.photographed_fees += photographed


def _count_exporters(scope: Scope, groups: dict[Corridor, _Trips]) -> None:
    """Distinct exporters per corridor (only the k-anonymity rule needs them)."""
    pairs = trips(scope, *KEYS, Shipment.organization_id).distinct().subquery()
    columns = list(pairs.c)[:2]
    for row in scope.session.execute(select(*columns, func.count()).group_by(*columns)):
        groups[_key(row)].organizations = int(row[2])


def _median_transit(
    scope: Scope, groups: dict[Corridor, _Trips], sizes: list[tuple[Corridor, int]]
) -> None:
    """`sizes`: the trips with a transit time per corridor, in the database's key order."""

    def source(*columns: Any) -> Select[Any]:
        return trips(scope, *columns)

    stats = order_stats.exact(
        scope.session,
        source,
        list(KEYS),
        Shipment.transit_minutes,
        list(sizes),
        quantiles=(0.5,),
        tail=False,
    )
    for key, found in stats.items():
        groups[_key(key)].median_transit_minutes = found.percentiles[0.5]


def _row(scope: Scope, corridor: Corridor, group: _Trips, codes: dict[Any, str]) -> CorridorRow:
    row = CorridorRow(origin_province=corridor[0], destination_province=corridor[1])
    if scope.suppressed(group.organizations) or group.trips == 0:
        row.suppressed = scope.suppressed(group.organizations)
        return row
    per_100km = 100 / group.km if group.km else None
    median = group.median_transit_minutes
    row.trips, row.delivered_trips = group.trips, group.delivered
    row.median_transit_hours = median / 60 if median is not None else None
    row.stops_per_trip = group.stops / group.trips
    row.delay_hours_per_trip = group.delay_minutes / 60 / group.trips
    row.trips_with_distance = group.with_distance
    row.stops_per_100km = group.stops_on_known_km * per_100km if per_100km else None
    row.delay_minutes_per_100km = group.delay_on_known_km * per_100km if per_100km else None
    row.fees = [
        CorridorFee(
            currency=currency,
            per_trip=(total / group.trips).quantize(CENT),
            unreceipted_per_trip=(unreceipted / group.trips).quantize(CENT),
            per_100km=(km_total * Decimal(per_100km)).quantize(CENT) if per_100km else None,
            unreceipted_per_100km=(
                (km_unreceipted * Decimal(per_100km)).quantize(CENT) if per_100km else None
            ),
        )
        for currency, (total, unreceipted, km_total, km_unreceipted) in sorted(group.fees.items())
    ]
    group.evidence.stops = group.stops
    row.evidence = EvidenceShares.of(group.evidence)
    _add_carec_figures(row, group.timed)
    if group.delay_by_checkpoint and group.delay_minutes > 0:
        worst, minutes = max(group.delay_by_checkpoint.items(), key=lambda item: item[1])
        row.worst_checkpoint_id, row.worst_checkpoint_code = worst, codes.get(worst)
        row.worst_checkpoint_delay_share = minutes / group.delay_minutes
    return row


def _add_carec_figures(row: CorridorRow, timed: _Timed) -> None:
    """CAREC CPMM's figures over the timed trips, each a ratio of totals (total distance over
    total time, as CAREC averages speeds over its sampled trips): a long trip weighs by its
    length, and the figures of a corridor are those of its trips put end to end."""
    row.delivered_trips_with_distance = timed.trips
    if timed.trips == 0:
        return
    row.cost_per_trip = [
        CorridorCost(currency=currency, amount=(total / timed.trips).quantize(CENT))
        for currency, total in sorted(timed.fees.items())
        if timed.fee_rows[currency] > 0
    ]
    if timed.transit_minutes <= 0:
        return
    row.speed_with_delay_kmh = timed.km / (timed.transit_minutes / 60)
    row.time_at_checkpoints_share = timed.checkpoint_minutes / timed.transit_minutes
    moving = timed.transit_minutes - timed.checkpoint_minutes
    # Stops logged outside departure → delivery can leave no time on the road: no speed then.
    if moving > 0:
        row.speed_without_delay_kmh = timed.km / (moving / 60)


def _key(row: Any) -> Corridor:
    return (str(row[0]), str(row[1]))
