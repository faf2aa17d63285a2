"""Reports from day cells: the stops' figures per checkpoint × UTC day of arrival, kept in
the database (models.py) so that a report reads one row per cell instead of every stop.

Why day cells. They are the advocates' protected cells already (privacy.py): an advocate's
answer is a sum of whole cells, so one set of rows serves the admin's exact figures and the
advocate's protected ones. A cell holds additive figures (counts, sums, holds per reason,
fees per currency, stops per exporter) and its dwell times, sorted: percentiles are order
statistics of the union of a group's cells, so every value must be kept to stay exact; 8
bytes a stop, read as one array per cell, merged by numpy.

Freshness without lag. A write marks the cells it touches (database triggers, in the
writing transaction); a refresh recomputes marked cells from their stops and removes the
marks it read. A report reads the unmarked cells from the rollups and the marked ones from
the stops, with the very same code (`compute()`), so every report is as fresh as the stops
are: `as_of` is the moment it read, whether the refresh is behind or not. A refresh that
falls behind makes reports slower, never wrong.

Cargo cells (checkpoint × day × the set of HS chapters carried) answer the commodity report
and questions filtered by chapter. What reads stops instead (`answers()` is False): an
exporter's own figures (its stops only, a small share), and questions filtered by
destination. Admins' windows that start or end inside a day read that day's stops, with the
exact time filter.
"""

import dataclasses
import logging
import math
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    delete,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.orm import Session, sessionmaker

from app import privacy

# The tables stops' foreign keys point at: their columns' types (UUIDs) come from there, so
# a process that imports only this module (the CLI) must import them too.
from app.checkpoints.models import Checkpoint  # noqa: F401
from app.db import BINARY_RESULTS, streamed_rows, utcnow, write_transaction
from app.organizations.models import Organization  # noqa: F401
from app.reports import corridor_cells, value_index
from app.reports import figures as fig
from app.reports.filters import ReportFilters, narrow
from app.reports.models import (
    NETWORK,
    DayCell,
    DayCellCargo,
    DayCellProcedure,
    MonthCell,
    MonthCellCargo,
    MonthCellProcedure,
    MonthNetworkCargo,
    MonthNetworkProcedure,
    RollupDirty,
    WeekCell,
    WeekNetworkCell,
)
from app.reports.percentiles import positions, tail_size
from app.reports.sql import concat_bytes
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from app.tracking.vocabulary import Procedure, StopOutcome
from app.types import CENT, EPOCH

log = logging.getLogger(__name__)

# (checkpoint, UTC day of arrival; None: no arrival logged), and for cargo cells the set of
# HS chapters ("25,72"; "" for none).
Cell = tuple[Any, ...]
FAMILIES: tuple[type[DayCell] | type[DayCellCargo], ...] = (DayCell, DayCellCargo)
FLOAT64 = np.dtype("<f8")
CELLS_PER_STATEMENT = 400  # tuple IN lists stay well under SQLite's 32,766 variables
MAX_MARKED_CELLS = 400  # more marked cells in a question: it reads its stops in one pass
REFRESH_BATCH = 200  # cells per refresh transaction: short, so writers never wait long
ADVISORY_LOCK = 0x726F6C6C  # "roll": one refresh at a time across workers (PostgreSQL)


# A cell's holds, fees and exporters (their ids' 16 bytes) are packed as fixed-size records,
# so that a group's are merged by numpy from the concatenated bytes of its cells, never
# parsed cell by cell.
HOLDS = np.dtype([("reason", "S32"), ("holds", "<i8")])
FEES = np.dtype([("currency", "S3"), ("total", "<i8"), ("unreceipted", "<i8")])  # in cents


@dataclass
class CellFigures:
    """The figures of one cell's stops (or of the part of it a window covers), as stored:
    counts and sums, then packed records (see HOLDS, FEES; exporters' 16-byte ids), each
    sorted. Read with `indexed=True` (see `stored`), a row brings its dwell index instead
    of its dwell times, and `source`, the table whose row holds them."""

    stops: int = 0
    completed_stops: int = 0
    timed_stops: int = 0
    total_dwell_minutes: float = 0.0
    held_stops: int = 0
    turned_back_stops: int = 0
    dwell: bytes = b""  # sorted dwell times, little-endian float64
    holds: bytes = b""
    fees: bytes = b""
    exporters: bytes = b""
    index: bytes = b""  # value_index.index_of(dwell), when read instead of it
    source: Any = None  # the table the dwell times are in, when only the index was read
    evidence: "EvidenceCounts" = field(default_factory=lambda: EvidenceCounts())

    def same_as(self, other: "CellFigures") -> bool:
        """Equal figures (sums compared to 1e-9 relative: their order of addition differs)."""
        return self._exact() == other._exact() and math.isclose(
            self.total_dwell_minutes, other.total_dwell_minutes, rel_tol=1e-9
        )

    def _exact(self) -> tuple[Any, ...]:
        return (
            self.stops,
            self.completed_stops,
            self.timed_stops,
            self.held_stops,
            self.turned_back_stops,
            self.dwell,
            self.holds,
            self.fees,
            self.exporters,
            self.evidence,
        )

    def exporter_ids(self) -> set[bytes]:
        packed = self.exporters
        return {packed[i : i + 16] for i in range(0, len(packed), 16)}


@dataclass(frozen=True)
class EvidenceCounts:
    """What corroborates a cell's stops, as counts (figures.Figures says what each is)."""

    confirmed_stops: int = 0
    contradicted_stops: int = 0
    anomalous_stops: int = 0
    fee_events: int = 0
    photographed_fees: int = 0

    @classmethod
    def of(cls, row: Iterable[Any]) -> "EvidenceCounts":
        return cls(*(int(value or 0) for value in row))

    @classmethod
    def total(cls, parts: Iterable["EvidenceCounts"]) -> "EvidenceCounts":
        # Column by column over plain tuples: dataclasses.astuple deep-copies each field, and
        # a procedure report adds up thousands of these (2/3 of its time at 1M stops).
        return cls(
            *(sum(column) for column in zip(*(part.values() for part in parts), strict=True))
        )

    def plus(self, other: "EvidenceCounts") -> "EvidenceCounts":
        """`total` of two, without its generators: reports fold thousands of cells pairwise."""
        return EvidenceCounts(
            self.confirmed_stops + other.confirmed_stops,
            self.contradicted_stops + other.contradicted_stops,
            self.anomalous_stops + other.anomalous_stops,
            self.fee_events + other.fee_events,
            self.photographed_fees + other.photographed_fees,
        )

    def values(self) -> tuple[int, int, int, int, int]:
        return (
            self.confirmed_stops,
            self.contradicted_stops,
            self.anomalous_stops,
            self.fee_events,
            self.photographed_fees,
        )

    def columns(self) -> dict[str, int]:
        return dict(zip(EVIDENCE_COLUMNS, self.values(), strict=True))

    def add_to(self, figures: fig.Figures) -> None:
        for name, value in self.columns().items():
            setattr(figures, name, getattr(figures, name) + value)


EVIDENCE_COLUMNS = fig.EVIDENCE_COUNTS  # the fields of EvidenceCounts, in order
assert tuple(f.name for f in dataclasses.fields(EvidenceCounts)) == EVIDENCE_COLUMNS


def _pack_holds(holds: dict[str, int]) -> bytes:
    return np.array(sorted((r.encode(), n) for r, n in holds.items()), HOLDS).tobytes()


def _pack_fees(fees: dict[str, tuple[Decimal, Decimal]]) -> bytes:
    records = sorted((c.encode(), _cents(t), _cents(u)) for c, (t, u) in fees.items())
    return np.array(records, FEES).tobytes()


def _cents(amount: Decimal) -> int:
    return int(amount.quantize(CENT) * 100)


# --- computing cells from the stops -------------------------------------------------------

Where = Callable[[Any], ColumnElement[bool]]  # table (stops, holds, fees) -> condition


def compute(session: Session, where: Where, *, cargo: bool = False) -> dict[Cell, CellFigures]:
    """The figures of every cell with stops meeting `where`, from the stops themselves: the
    one definition of a cell's figures, for refreshing, for marked cells and for checking.
    `cargo`: cells cut by the set of HS chapters (DayCellCargo)."""
    cells: dict[Cell, CellFigures] = {}

    def keys(table: Any) -> list[Any]:
        cargo_key = [func.coalesce(table.hs_chapters, "")] if cargo else []
        return [table.checkpoint_id, table.arrival_day, *cargo_key]

    width = 3 if cargo else 2
    completed = func.coalesce(func.sum(case((Stop.outcome != StopOutcome.open, 1), else_=0)), 0)

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    key = keys(Stop)
    counts = (
        select(
            *key,
            func.count(),
            completed,
            func.count(Stop.dwell_minutes),
            func.coalesce(func.sum(Stop.dwell_minutes), 0.0),
            count_if(Stop.hold_count > 0),
            count_if(Stop.outcome == StopOutcome.turned_back),
            *(count_if(condition) for condition in fig.stop_evidence()),
        )
        .where(where(Stop))
        .group_by(*key)
    )
    evidence_of: dict[Cell, list[int]] = {}
    for row in session.execute(counts):
        stops, done, timed, total, held, turned = tuple(row)[width : width + 6]
        cells[tuple(row[:width])] = CellFigures(
            int(stops), int(done), int(timed), float(total), int(held), int(turned)
        )
        evidence_of[tuple(row[:width])] = [int(n) for n in row[width + 6 :]] + [0, 0]
    _read_dwell(session, where, key, cells)
    holds_of: dict[Cell, dict[str, int]] = defaultdict(dict)
    fees_of: dict[Cell, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
    exporters_of: dict[Cell, list[bytes]] = defaultdict(list)
    hold_key = keys(StopHold)
    holds = select(*hold_key, StopHold.reason, func.count()).where(where(StopHold))
    for row in session.execute(holds.group_by(*hold_key, StopHold.reason)):
        holds_of[tuple(row[:width])][str(row[width])] = int(row[width + 1])
    unreceipted = func.sum(case((StopFee.receipt == false(), StopFee.amount), else_=0))
    photographed = count_if(fig.receipt_attached())
    fee_key = keys(StopFee)
    fees = select(
        *fee_key,
        StopFee.currency,
        func.sum(StopFee.amount),
        unreceipted,
        func.count(),
        photographed,
    )
    for row in session.execute(fees.where(where(StopFee)).group_by(*fee_key, StopFee.currency)):
        currency, total, part, events, with_receipt = row[width:]
        fees_of[tuple(row[:width])][currency] = (_money(total), _money(part))
        counted = evidence_of.get(tuple(row[:width]))
        if counted is not None:
            counted[3] += int(events)
            counted[4] += int(with_receipt)
    exporters = select(*key, Stop.organization_id).where(where(Stop)).distinct()
    for row in session.execute(exporters):
        exporters_of[tuple(row[:width])].append(row[width].bytes)
    for cell, figures in cells.items():
        figures.holds = _pack_holds(holds_of[cell])
        figures.fees = _pack_fees(fees_of[cell])
        figures.exporters = b"".join(sorted(exporters_of[cell]))
        figures.evidence = EvidenceCounts(*evidence_of.get(cell, ()))
    return cells


def _read_dwell(
    session: Session, where: Where, key: list[Any], cells: dict[Cell, CellFigures]
) -> None:
    """Each cell's dwell times, sorted by the database."""
    stmt = (
        select(*key, Stop.dwell_minutes)
        .where(where(Stop), Stop.dwell_minutes.is_not(None))
        .order_by(*key, Stop.dwell_minutes)
    )
    for cell, values in _sorted_runs(session, stmt).items():
        # setdefault: on PostgreSQL a report's statements each see the latest commits, so a
        # stop written between two of them can show in one only (its cell is marked again).
        cells.setdefault(cell, CellFigures()).dwell = values


class _CheckpointIds(dict[Any, uuid.UUID]):
    """A checkpoint id as read raw off a cursor (text on SQLite, a UUID from psycopg) to its
    UUID, converted once per checkpoint rather than once per row."""

    def __call__(self, raw: Any) -> uuid.UUID:
        found = self.get(raw)
        if found is None:
            found = self[raw] = raw if isinstance(raw, uuid.UUID) else uuid.UUID(hex=raw)
        return found


def _sorted_runs(session: Session, stmt: Any) -> dict[Cell, bytes]:
    """(checkpoint, day, …, value) rows in key order, read raw off the cursor (a rebuild
    reads every stop this way), as each key's values packed as float64."""
    result = session.connection().execute(stmt)
    runs: dict[Cell, list[float]] = defaultdict(list)
    checkpoint_of = _CheckpointIds()
    while chunk := result.cursor.fetchmany(65_536):
        for *raw_key, value in chunk:
            raw = raw_key[0]
            cp = checkpoint_of(raw)
            runs[(cp, *raw_key[1:])].append(value)
    result.close()
    return {cell: np.array(values, FLOAT64).tobytes() for cell, values in runs.items()}


def _money(value: Any) -> Decimal:
    # SQLite sums NUMERIC as floating point; amounts have cents, so rounding restores them.
    return Decimal(str(value or 0)).quantize(CENT)


def of_cells(cells: Iterable[Cell]) -> Where:
    """The condition "in one of these cells" (each with a day: marked cells have one)."""
    pairs = [(cp, day) for cp, day in cells]

    def where(table: Any) -> ColumnElement[bool]:
        if not pairs:
            return false()
        return tuple_(table.checkpoint_id, table.arrival_day).in_(pairs)

    return where


@dataclass
class ProcedureCell:
    """A procedure's runs in a day cell (see models.DayCellProcedure)."""

    first_runs: int = 0
    timed_runs: int = 0
    minutes: float = 0.0
    untimed_minutes: float = 0.0
    minute_values: bytes = b""  # sorted, little-endian float64
    exporters: bytes = b""
    index: bytes = b""  # value_index.index_of(minute_values), when read instead of them
    source: Any = None  # the table the minutes are in, when only the index was read
    # The evidence of the stops that required it (and of their fee events).
    evidence: "EvidenceCounts" = field(default_factory=lambda: EvidenceCounts())

    def same_as(self, other: "ProcedureCell") -> bool:
        mine = (self.first_runs, self.timed_runs, self.minute_values, self.exporters)
        theirs = (other.first_runs, other.timed_runs, other.minute_values, other.exporters)
        return (
            (*mine, self.evidence) == (*theirs, other.evidence)
            and math.isclose(self.minutes, other.minutes, rel_tol=1e-9, abs_tol=1e-9)
            and math.isclose(
                self.untimed_minutes, other.untimed_minutes, rel_tol=1e-9, abs_tol=1e-9
            )
        )

    def exporter_ids(self) -> set[bytes]:
        packed = self.exporters
        return {packed[i : i + 16] for i in range(0, len(packed), 16)}


def compute_procedures(session: Session, where: Where) -> dict[Cell, ProcedureCell]:
    """Per (checkpoint, day, procedure) with runs meeting `where`, from the runs themselves."""
    runs = StopProcedure
    key = [runs.checkpoint_id, runs.arrival_day, runs.procedure]
    first = func.coalesce(func.sum(case((runs.run_number == 1, 1), else_=0)), 0)
    totals = select(
        *key, first, func.count(runs.minutes), func.coalesce(func.sum(runs.minutes), 0.0)
    )
    cells: dict[Cell, ProcedureCell] = {}
    for row in session.execute(totals.where(where(runs)).group_by(*key)):
        cp, day, procedure, n, timed, minutes = tuple(row)
        cells[(cp, day, str(procedure))] = ProcedureCell(int(n), int(timed), float(minutes))
    ordered = (
        select(*key, runs.minutes)
        .where(where(runs), runs.minutes.is_not(None))
        .order_by(*key, runs.minutes)
    )
    for cell, packed in _sorted_runs(session, ordered).items():
        cells.setdefault(cell, ProcedureCell()).minute_values = packed  # as in _read_dwell
    # Minutes at stops whose own time is unknown (open or contradictory stops).
    untimed = (
        select(*key, func.coalesce(func.sum(runs.minutes), 0.0))
        .join(Stop, Stop.id == runs.stop_id)
        .where(where(runs), Stop.dwell_minutes.is_(None))
        .group_by(*key)
    )
    for row in session.execute(untimed):
        cp, day, procedure, minutes = tuple(row)
        cells.setdefault((cp, day, str(procedure)), ProcedureCell()).untimed_minutes = float(
            minutes
        )
    exporters: dict[Cell, list[bytes]] = defaultdict(list)
    for row in session.execute(
        select(*key, runs.organization_id).where(where(runs), runs.run_number == 1).distinct()
    ):
        cp, day, procedure, organization = tuple(row)
        exporters[(cp, day, str(procedure))].append(organization.bytes)
    for cell, ids in exporters.items():
        cells.setdefault(cell, ProcedureCell()).exporters = b"".join(sorted(ids))
    for (cp, day, procedure), evidence in procedure_evidence(session, where, key).items():
        cells.setdefault((cp, day, str(procedure)), ProcedureCell()).evidence = evidence
    return cells


def procedure_evidence(
    session: Session, where: Where, key: list[Any]
) -> dict[tuple[Any, ...], EvidenceCounts]:
    """The evidence of the stops that required each procedure (their first runs meeting
    `where`, grouped by `key`, columns of stop_procedures), and of their fee events."""
    runs = StopProcedure

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    first = and_(where(runs), runs.run_number == 1)
    stops = (
        select(*key, *(count_if(c) for c in fig.stop_evidence()))
        .join(Stop, Stop.id == runs.stop_id)
        .where(first)
        .group_by(*key)
    )
    width = len(key)
    counts: dict[tuple[Any, ...], list[int]] = {}
    for row in session.execute(stops):
        counts[tuple(row[:width])] = [int(n) for n in row[width:]] + [0, 0]
    fees = (
        select(*key, func.count(), count_if(fig.receipt_attached()))
        .join(StopFee, StopFee.stop_id == runs.stop_id)
        .where(first)
        .group_by(*key)
    )
    for row in session.execute(fees):
        found = counts.setdefault(tuple(row[:width]), [0] * 5)
        found[3], found[4] = int(row[-2]), int(row[-1])
    return {cell: EvidenceCounts(*found) for cell, found in counts.items()}


def store_procedures(
    session: Session,
    cells: list[Cell],
    figures: dict[Cell, ProcedureCell],
    table: Any = DayCellProcedure,
) -> None:
    """Replaces the procedure rows of the cells `cells` (day cells, or month cells with
    MonthCellProcedure) by `figures`."""
    for chunk in _chunks(cells, CELLS_PER_STATEMENT):
        session.execute(delete(table).where(of_cells(chunk)(table)))
    rows = [
        {
            "checkpoint_id": cp,
            "arrival_day": day,
            "procedure": procedure,
            "first_runs": found.first_runs,
            "timed_runs": found.timed_runs,
            "minutes": found.minutes,
            "untimed_minutes": found.untimed_minutes,
            "minute_values": found.minute_values,
            "minute_index": value_index.index_of(found.minute_values),
            "exporters": found.exporters,
            **found.evidence.columns(),
        }
        for (cp, day, procedure), found in figures.items()
    ]
    for chunk in _chunks(rows, 2_000):
        session.execute(insert(table), chunk)


def stored_procedures(
    session: Session,
    where: Where,
    *,
    exporters: bool = True,
    table: Any = DayCellProcedure,
    indexed: bool = False,
) -> dict[Cell, ProcedureCell]:
    """The procedure rows meeting `where`, read raw off the cursor (as `stored`, and
    `indexed` as there: the index of the minutes of rows with many)."""
    columns = [
        table.checkpoint_id,
        table.arrival_day,
        table.procedure,
        table.first_runs,
        table.timed_runs,
        table.minutes,
        table.untimed_minutes,
        *(getattr(table, name) for name in EVIDENCE_COLUMNS),
        _values_or_index(table, table.timed_runs) if indexed else table.minute_values,
        *([table.exporters] if exporters else []),
    ]
    stmt = select(*columns).where(where(table))
    checkpoint_of = _CheckpointIds()
    cells: dict[Cell, ProcedureCell] = {}
    with streamed_rows(session, stmt) as rows:
        for raw, day, procedure, first, timed, minutes, untimed, *rest in rows:
            cp = checkpoint_of(raw)
            evidence, (values, *ids) = rest[:5], rest[5:]
            found = cells[(cp, day, procedure)] = ProcedureCell(
                first, timed, minutes, untimed, bytes(values), bytes(ids[0]) if ids else b""
            )
            found.evidence = EvidenceCounts.of(evidence)
            if indexed and timed >= value_index.INDEXED_FROM:
                found.index, found.minute_values, found.source = found.minute_values, b"", table
    return cells


# --- refreshing ---------------------------------------------------------------------------


def refresh(sessions: sessionmaker[Session], *, batch: int = REFRESH_BATCH) -> int:
    """Recomputes up to `batch` marked cells and removes the marks it read. Returns how many
    cells it recomputed (0: nothing was marked, or another worker is refreshing)."""
    with sessions() as session, write_transaction(session):
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for every statement of the refresh: a stop written meanwhile is
            # in none of its readings (its own mark stays for the next round), never in
            # some of them. (SQLite's write transaction is one snapshot already.)
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        if not _refresh_lock(session):
            return 0
        marks = session.execute(
            select(RollupDirty.id, RollupDirty.checkpoint_id, RollupDirty.arrival_day)
            .order_by(RollupDirty.id)
            .limit(batch * 20)
        ).all()
        cells: dict[Cell, None] = {}  # in mark order
        ids: list[int] = []
        for mark_id, cp, day in marks:
            if (cp, day) not in cells:
                if len(cells) == batch:
                    continue  # its marks stay for the next round
                cells[(cp, day)] = None
            ids.append(mark_id)
        if cells:
            for table in FAMILIES:
                figures = compute(session, of_cells(cells), cargo=table is DayCellCargo)
                store(session, table, list(cells), figures)
            store_procedures(session, list(cells), compute_procedures(session, of_cells(cells)))
            for period in PERIODS:
                refresh_periods(session, period, {(cp, period.start(day)) for cp, day in cells})
                pool_ended(session, period)
            for chunk in _chunks(ids, CELLS_PER_STATEMENT):
                session.execute(delete(RollupDirty).where(RollupDirty.id.in_(chunk)))
        return len(cells) + corridor_cells.refresh_marked(session, batch=batch)


def refresh_all(sessions: sessionmaker[Session]) -> int:
    """Refreshes until no cell is marked; returns how many cells it recomputed."""
    total = 0
    while done := refresh(sessions):
        total += done
    return total


def _refresh_lock(session: Session) -> bool:
    """Two refreshes of one cell at once could store the older of their two readings last:
    on PostgreSQL one refresh runs at a time (an advisory lock held to the commit). SQLite's
    write transaction is already the only one."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK))))


def store(
    session: Session, table: Any, cells: list[Cell], figures: dict[Cell, CellFigures]
) -> None:
    """Replaces the rows of `table` for the day cells `cells` (checkpoint, day) by `figures`
    (a cell without figures has no stops)."""
    for chunk in _chunks(cells, CELLS_PER_STATEMENT):
        session.execute(delete(table).where(of_cells(chunk)(table)))
    rows = [
        {
            "checkpoint_id": cell[0],
            "arrival_day": cell[1],
            **({"hs_chapters": cell[2]} if _is_cargo(table) else {}),
            "stops": f.stops,
            "completed_stops": f.completed_stops,
            "timed_stops": f.timed_stops,
            "total_dwell_minutes": f.total_dwell_minutes,
            "held_stops": f.held_stops,
            "turned_back_stops": f.turned_back_stops,
            "dwell_values": f.dwell,
            "dwell_index": value_index.index_of(f.dwell),
            "holds": f.holds,
            "fees": f.fees,
            "exporters": f.exporters,
            **f.evidence.columns(),
        }
        for cell, f in figures.items()
    ]
    for chunk in _chunks(rows, 2_000):
        session.execute(insert(table), chunk)


def rebuild(sessions: sessionmaker[Session], *, days_per_round: int = 7, parallel: int = 1) -> int:
    """Recomputes every cell from the stops (after a bulk load that bypassed the triggers,
    or to repair), a few days at a time, in bulk (rollup_build.py: the rows compute() and
    store() would write); returns how many cells it stored. `parallel` rounds at once on
    PostgreSQL (each a transaction of its own, on its own connection): a round is mostly the
    server's work, so two of them keep two of its cores busy. SQLite has one writer: there
    the rounds always run one after the other."""
    from app.reports import rollup_build  # it reads this module's packing

    with sessions() as session:
        first, last = session.execute(
            select(func.min(Stop.arrival_day), func.max(Stop.arrival_day))
        ).one()
        postgres = session.get_bind().dialect.name == "postgresql"
    with sessions() as session, write_transaction(session):
        for table in (*FAMILIES, DayCellProcedure, RollupDirty):
            session.execute(delete(table))

    def corridors() -> int:
        with sessions() as session, write_transaction(session):
            corridor_cells.rebuild(session)  # one pass over the trips (a tenth of the stops)
        return 0

    def day_round(start: int) -> int:
        with sessions() as session, write_transaction(session):
            return rollup_build.build(session, start, start + days_per_round)

    days = [] if first is None else list(range(first, (last or first) + 1, days_per_round))
    # The corridor cells are independent of the day cells: they go in the same pool.
    tasks: list[Callable[[], int]] = [corridors, *(partial(day_round, start) for start in days)]
    stored = sum(_run_all(tasks, parallel if postgres else 1))
    for period in PERIODS:
        with sessions() as session, write_transaction(session):
            for table in period.tables():
                session.execute(delete(table))
        if first is None:
            continue  # no stops: no periods (their rows, emptied, are right)

        def period_round(bounds: tuple[int, int], period: Period = period) -> int:
            with sessions() as session, write_transaction(session):
                build_periods(session, period, *bounds)
            return 0

        rounds: list[Callable[[], int]] = [
            partial(period_round, bounds) for bounds in period.rounds(first, last or first)
        ]
        _run_all(rounds, parallel if postgres else 1)
    return stored


def _run_all(tasks: Sequence[Callable[[], int]], parallel: int) -> list[int]:
    """Each task's answer, in order; `parallel` at a time on threads of their own. A failure
    is raised once the tasks already started have ended; no task starts after it."""
    if parallel <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    failed = threading.Event()

    def run(task: Callable[[], int]) -> int:
        if failed.is_set():
            return 0  # the rebuild is given up: its failure is raised below
        try:
            return task()
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="rebuild") as pool:
        return list(pool.map(run, tasks))


def _days(start: int, end: int) -> Where:
    return lambda table: and_(table.arrival_day >= start, table.arrival_day < end)


def verify(sessions: sessionmaker[Session], *, days_per_round: int = 7) -> list[str]:
    """Every unmarked cell's rollup rows against a recomputation from its stops; returns
    what differs (empty: the rollups are right). Marked cells are read from the stops by the
    reports, so they are skipped."""
    problems: list[str] = []
    with sessions() as session:
        problems += corridor_cells.verify(session)
        marked = set(session.execute(select(RollupDirty.checkpoint_id, RollupDirty.arrival_day)))
        bounds = [session.scalar(select(func.min(t.arrival_day))) for t in (Stop, DayCell)] + [
            session.scalar(select(func.max(t.arrival_day))) for t in (Stop, DayCell)
        ]
        known = [b for b in bounds if b is not None]
        if not known:
            return problems
        for start in range(min(known), max(known) + 1, days_per_round):
            where = _days(start, start + days_per_round)
            for family in FAMILIES:
                want = compute(session, where, cargo=family is DayCellCargo)
                for cell in _differing(want, stored(session, where, family), marked):
                    problems.append(
                        f"{family.__tablename__}: checkpoint {cell[0]} day {cell[1]}"
                        f"{f' chapters {cell[2]!r}' if len(cell) > 2 else ''}: "
                        "differs from its stops"
                    )
                problems += _wrong_indexes(session, where, family, marked)
            want_runs = compute_procedures(session, where)
            for cell in _differing(want_runs, stored_procedures(session, where), marked):
                problems.append(
                    f"day_cell_procedures: checkpoint {cell[0]} day {cell[1]} "
                    f"{cell[2]}: differs from its runs"
                )
            problems += _wrong_indexes(session, where, DayCellProcedure, marked)
        for period in PERIODS:
            stale = {(cp, period.start(day)) for cp, day in marked}
            for start, end in period.rounds(min(known), max(known)):
                problems += _verify_periods(session, period, start, end, stale)
    return problems


# --- month and week cells: day cells merged by calendar month or UTC week (models.py) ------


def month_start(day: int) -> int:
    """The first day of `day`'s UTC calendar month (days since 1970-01-01)."""
    return date.fromordinal(EPOCH + day).replace(day=1).toordinal() - EPOCH


def week_start(day: int) -> int:
    """The Monday of `day`'s week (days since 1970-01-01, a Thursday)."""
    return day - (day + 3) % 7


@dataclass(frozen=True)
class Period:
    """Month or week cells: what day tables they merge into what tables, and where a
    period starts. `span` days after a start is always within the next period."""

    name: str
    merged: tuple[tuple[Any, Any], ...]  # (day table, period table)
    procedures: Any  # the period's procedure table, or None
    start: Callable[[int], int]
    span: int
    # (period table, its cells merged over every checkpoint): the network's periods
    networks: tuple[tuple[Any, Any], ...] = ()

    def end(self, start: int) -> int:
        return self.start(start + self.span)

    def tables(self) -> list[Any]:
        own = [t for _, t in self.merged] + ([self.procedures] if self.procedures else [])
        return own + [network for _, network in self.networks]

    def starts(self, start: int, end: int) -> list[int]:
        """The starts of the periods from the one starting `start` to before `end`."""
        found = []
        while start < end:
            found.append(start)
            start = self.end(start)
        return found

    def of(self, day_table: Any) -> Any:
        return dict(self.merged)[day_table]

    def rounds(self, first: int, last: int) -> Iterable[tuple[int, int]]:
        """[start, end) of about three months' periods at a time, from `first` to `last`."""
        start = self.start(first)
        while start <= last:
            end = self.start(start + 92)
            yield start, end
            start = end


MONTH = Period(
    "month",
    ((DayCell, MonthCell), (DayCellCargo, MonthCellCargo)),
    MonthCellProcedure,
    month_start,
    31,
    ((MonthCellProcedure, MonthNetworkProcedure), (MonthCellCargo, MonthNetworkCargo)),
)
# Week cells answer weekly trends (weeks cross months); nothing else asks by week.
WEEK = Period("week", ((DayCell, WeekCell),), None, week_start, 7, ((WeekCell, WeekNetworkCell),))
PERIODS = (MONTH, WEEK)


def _is_cargo(table: Any) -> bool:
    return table in (DayCellCargo, MonthCellCargo, MonthNetworkCargo)


def _days_of(period: Period, starts: Iterable[tuple[Any, int]]) -> Where:
    """The day rows of these (checkpoint, period start) cells."""

    def where(table: Any) -> ColumnElement[bool]:
        return or_(
            false(),
            *(
                and_(
                    table.checkpoint_id == cp,
                    table.arrival_day >= start,
                    table.arrival_day < period.end(start),
                )
                for cp, start in starts
            ),
        )

    return where


def _by_period(period: Period, cells: dict[Cell, Any]) -> dict[Cell, list[Any]]:
    parts: dict[Cell, list[Any]] = defaultdict(list)
    for cell, figures in cells.items():
        parts[(cell[0], period.start(cell[1]), *cell[2:])].append(figures)
    return parts


def merge_cells(parts: list[CellFigures]) -> CellFigures:
    """One cell's figures from the figures of cells that partition it (a month's days)."""
    holds: dict[str, int] = defaultdict(int)
    for reason, count in np.frombuffer(b"".join(p.holds for p in parts), HOLDS).tolist():
        holds[reason.decode()] += count
    fees: dict[bytes, list[int]] = defaultdict(lambda: [0, 0])
    for currency, total, unreceipted in np.frombuffer(
        b"".join(p.fees for p in parts), FEES
    ).tolist():
        fees[currency][0] += total
        fees[currency][1] += unreceipted
    return CellFigures(
        stops=sum(p.stops for p in parts),
        completed_stops=sum(p.completed_stops for p in parts),
        timed_stops=sum(p.timed_stops for p in parts),
        total_dwell_minutes=sum(p.total_dwell_minutes for p in parts),
        held_stops=sum(p.held_stops for p in parts),
        turned_back_stops=sum(p.turned_back_stops for p in parts),
        dwell=_merged_values([p.dwell for p in parts]),
        holds=_pack_holds(holds),
        fees=np.array(sorted((c, t, u) for c, (t, u) in fees.items()), FEES).tobytes(),
        exporters=_merged_ids([p.exporters for p in parts]),
        evidence=EvidenceCounts.total(p.evidence for p in parts),
    )


def merge_procedures(parts: list[ProcedureCell]) -> ProcedureCell:
    return ProcedureCell(
        first_runs=sum(p.first_runs for p in parts),
        timed_runs=sum(p.timed_runs for p in parts),
        minutes=sum(p.minutes for p in parts),
        untimed_minutes=sum(p.untimed_minutes for p in parts),
        minute_values=_merged_values([p.minute_values for p in parts]),
        exporters=_merged_ids([p.exporters for p in parts]),
        evidence=EvidenceCounts.total(p.evidence for p in parts),
    )


def _merged_values(packed: list[bytes]) -> bytes:
    return np.sort(np.frombuffer(b"".join(packed), FLOAT64)).tobytes()


def _merged_ids(packed: list[bytes]) -> bytes:
    ids = {p[i : i + 16] for p in packed for i in range(0, len(p), 16)}
    return b"".join(sorted(ids))


def _periods_from_days(
    session: Session, period: Period, where: Where
) -> list[tuple[Any, dict[Cell, Any]]]:
    """(period table, its cells merged from the day rows meeting `where`), per table."""
    found: list[tuple[Any, dict[Cell, Any]]] = []
    for day_table, table in period.merged:
        parts = _by_period(period, stored(session, where, day_table))
        found.append((table, {cell: merge_cells(p) for cell, p in parts.items()}))
    if period.procedures is not None:
        runs = _by_period(period, stored_procedures(session, where))
        merged = {cell: merge_procedures(p) for cell, p in runs.items()}
        found.append((period.procedures, merged))
    return found


def _store_any(session: Session, table: Any, cells: list[Cell], figures: dict[Cell, Any]) -> None:
    if _is_procedures(table):
        store_procedures(session, cells, figures, table)
    else:
        store(session, table, cells, figures)


def _is_procedures(table: Any) -> bool:
    return table in (DayCellProcedure, MonthCellProcedure, MonthNetworkProcedure)


def refresh_periods(session: Session, period: Period, starts: set[tuple[Any, int]]) -> None:
    """Recomputes the period cells of these (checkpoint, period start) from their day rows
    (just refreshed, in the same transaction)."""
    for chunk in _chunks(sorted(starts, key=str), 100):
        for table, cells in _periods_from_days(session, period, _days_of(period, chunk)):
            _store_any(session, table, chunk, cells)
    pool_periods(session, period, sorted({start for _, start in starts}))


def build_periods(session: Session, period: Period, start: int, end: int) -> None:
    """The period cells from `start` to `end` (period starts), from the day rows, into
    period tables emptied beforehand (rebuild)."""
    for table, cells in _periods_from_days(session, period, _days(start, end)):
        _store_any(session, table, [], cells)
    pool_periods(session, period, period.starts(start, end))


POOLED_PER_READ = 3  # periods whose procedure cells are read at once (~12 MB at 10M stops)


def pool_periods(session: Session, period: Period, starts: list[int]) -> None:
    """Rewrites the network rows of these periods from their checkpoints' cells (just
    stored, in the same transaction): per procedure, chapter set or none, every
    checkpoint's cell merged. Only periods that ended SETTLED_DAYS ago have network rows:
    the current one changes with every stop, and its rows (every checkpoint's runs, ~4 MB
    at national traffic) would be written anew at every refresh, each second; it is read
    from its checkpoints' cells instead."""
    for table, network in period.networks:
        _pool(session, period, (table, network), starts)


# Days after its end before a period has network rows: its last day's stops still open at
# midnight (trucks waiting at a checkpoint) change it for hours after; later corrections are
# rare, and each rewrites the period's network rows.
SETTLED_DAYS = 2


POOLED_PER_REFRESH = 3  # settled periods without network rows written by one refresh


def pool_ended(session: Session, period: Period) -> None:
    """The network rows of the periods settled since they were last written (the month or
    week just past, at the first refresh SETTLED_DAYS after its end), the latest first and
    a few a refresh (after the migration that made a table: every period there is)."""
    for table, network in period.networks:
        missing = session.scalars(
            select(table.arrival_day)
            .where(table.arrival_day < period.start(_today() - SETTLED_DAYS))
            .except_(select(network.arrival_day))
        )
        _pool(session, period, (table, network), sorted(missing)[-POOLED_PER_REFRESH:])


def _pool(session: Session, period: Period, tables: tuple[Any, Any], starts: list[int]) -> None:
    """The network rows of these periods in `tables` (cells, network) written anew, a few
    periods' cells read at a time."""
    table, network = tables
    for chunk in _chunks(starts, POOLED_PER_READ):
        cells = [(NETWORK, start) for start in chunk]
        _store_any(session, network, cells, _pooled(session, period, table, chunk))


def _today() -> int:
    return utcnow().date().toordinal() - EPOCH


def _pooled(session: Session, period: Period, table: Any, starts: list[int]) -> dict[Cell, Any]:
    """The network cells of these periods that have settled (SETTLED_DAYS past their end),
    merged from their cells in `table`."""
    starts = [start for start in starts if period.end(start) + SETTLED_DAYS <= _today()]
    where: Where = lambda rows: rows.arrival_day.in_(starts)  # noqa: E731
    procedures = _is_procedures(table)
    found = (
        stored_procedures(session, where, exporters=False, table=table)
        if procedures
        else stored(session, where, table, exporters=False)
    )
    parts: dict[Cell, list[Any]] = defaultdict(list)
    for cell, figures in found.items():
        parts[(NETWORK, *cell[1:])].append(figures)
    merge: Callable[[list[Any]], Any] = merge_procedures if procedures else merge_cells
    return {cell: merge(figures) for cell, figures in parts.items()}


def _verify_periods(
    session: Session, period: Period, start: int, end: int, stale: set[tuple[Any, int]]
) -> list[str]:
    """The period rows from `start` to `end` against their day rows merged anew."""
    problems = []
    for table, want in _periods_from_days(session, period, _days(start, end)):
        if table is MonthCellProcedure:
            have: dict[Cell, Any] = stored_procedures(session, _days(start, end), table=table)
        else:
            have = stored(session, _days(start, end), table)
        for cell in _differing(want, have, stale):
            problems.append(
                f"{table.__tablename__}: checkpoint {cell[0]} {period.name} starting day "
                f"{cell[1]}{f' {cell[2]!r}' if len(cell) > 2 else ''}: differs from its days"
            )
        problems += _wrong_indexes(session, _days(start, end), table, stale)
    for table, network in period.networks:
        starts = period.starts(start, end)
        problems += _verify_network(session, period, (table, network), starts, stale)
    return problems


def _verify_network(
    session: Session,
    period: Period,
    tables: tuple[Any, Any],
    starts: list[int],
    stale: set[tuple[Any, int]],
) -> list[str]:
    """The network rows of these periods against their cells merged anew (a period with a
    marked day is skipped: the reports read it from its checkpoints' cells)."""
    table, network = tables
    skipped = {(NETWORK, start) for _, start in stale}
    where = _days(starts[0], period.end(starts[-1])) if starts else lambda t: false()
    have: dict[Cell, Any] = (
        stored_procedures(session, where, table=network)
        if _is_procedures(network)
        else stored(session, where, network)
    )
    # A period without network rows is read from its checkpoints' cells: only the rows
    # there are must be right (and a period ended only now may have none yet).
    want = _pooled(session, period, table, sorted({cell[1] for cell in have}))
    problems = [
        f"{network.__tablename__}: {period.name} starting day {cell[1]}"
        f"{f' {cell[2]!r}' if len(cell) > 2 else ''}: "
        f"differs from its checkpoints' {period.name} cells"
        for cell in _differing(want, have, skipped)
    ]
    return problems + _wrong_indexes(session, where, network, skipped)


def _wrong_indexes(session: Session, where: Where, table: Any, skipped: set[Any]) -> list[str]:
    """The rows whose index is not their sorted values' (value_index.index_of)."""
    extra = _KEY_BEYOND_DAY.get(table)
    keys = [table.checkpoint_id, table.arrival_day, *([getattr(table, extra)] if extra else [])]
    values, index = (getattr(table, name) for name in VALUE_COLUMNS[table])
    rows = session.execute(select(*keys, values, index).where(where(table)))
    return [
        f"{table.__tablename__}: checkpoint {cell[0]} day {cell[1]}"
        f"{f' {cell[2]!r}' if len(cell) > 2 else ''}: its {index.name} differs from its values"
        for *cell, packed, found in rows
        if tuple(cell[:2]) not in skipped and bytes(found) != value_index.index_of(bytes(packed))
    ]


def _differing(want: dict[Cell, Any], have: dict[Cell, Any], skipped: set[Any]) -> list[Cell]:
    """The cells (in a stable order) stored wrong, missing or left over, but those whose
    (checkpoint, day) is in `skipped` (marked: the reports read them from the rows)."""
    return [
        cell
        for cell in sorted(set(want) | set(have), key=str)
        if cell[:2] not in skipped
        and (cell not in have or cell not in want or not have[cell].same_as(want[cell]))
    ]


# --- reading cells ------------------------------------------------------------------------


def stored(
    session: Session,
    where: Where,
    table: Any = DayCell,
    *,
    exporters: bool = True,
    values: bool = True,
    indexed: bool = False,
) -> dict[Cell, CellFigures]:
    """The rows of `table` (DayCell or DayCellCargo) meeting `where`; `exporters`: read whose
    stops they are (only the advocates' thresholds need them); `values`: read the dwell
    times, holds and fees too (a report that needs only the counts and sums reads 8 bytes a
    stop less); `indexed`: of the dwell times only their index (value_index.py), the
    percentiles then reading the slices they need. Read raw off the DB-API cursor: a report
    may read tens of thousands of cells, and per-row conversions were most of its time."""
    width = 3 if _is_cargo(table) else 2
    columns = [
        table.checkpoint_id,
        table.arrival_day,
        *([table.hs_chapters] if _is_cargo(table) else []),
        table.stops,
        table.completed_stops,
        table.timed_stops,
        table.total_dwell_minutes,
        table.held_stops,
        table.turned_back_stops,
        *(getattr(table, name) for name in EVIDENCE_COLUMNS),
        *([_dwell(table, indexed)] if values else []),
        *([table.holds, table.fees] if values else []),
        *([table.exporters] if exporters else []),
    ]
    stmt = select(*columns).where(where(table))
    checkpoint_of = _CheckpointIds()
    cells: dict[Cell, CellFigures] = {}
    with streamed_rows(session, stmt) as rows:
        for row in rows:
            cp = checkpoint_of(row[0])
            found = CellFigures(*row[width : width + 6])
            found.evidence = EvidenceCounts.of(row[width + 6 : width + 11])
            blobs = [bytes(b) for b in row[width + 11 :]]  # psycopg reads memoryviews
            if values:
                found.dwell, found.holds, found.fees = blobs[:3]
            if values and indexed and found.timed_stops >= value_index.INDEXED_FROM:
                found.index, found.dwell, found.source = found.dwell, b"", table
            if exporters:
                found.exporters = blobs[-1]
            cells[(cp, *row[1:width])] = found
    return cells


def _dwell(table: Any, indexed: bool) -> ColumnElement[bytes]:
    return _values_or_index(table, table.timed_stops) if indexed else table.dwell_values


def _values_or_index(table: Any, count: Any) -> ColumnElement[bytes]:
    """A cell's index of its sorted values if it has enough (`count`) for one to pay, else
    its values."""
    values, index = VALUE_COLUMNS[table]
    return case(
        (count >= value_index.INDEXED_FROM, getattr(table, index)),
        else_=getattr(table, values),
    )


def answers(principal: Any, filters: ReportFilters) -> bool:
    """Can day cells answer this question? Not an exporter's own figures (its stops only),
    nor a question cut by destination or over GPS-confirmed stops only (see the module's
    docstring)."""
    return (
        not principal.is_exporter
        and filters.destination_province is None
        and not filters.confirmed_only
    )


@dataclass(frozen=True)
class Window:
    """A report's `from`/`to` as whole days read from cells and edge days read from stops."""

    first_whole: int | None  # the first whole day (None: from the beginning)
    end_whole: int | None  # the day after the last whole day (None: to the end)
    edges: tuple[int, ...]  # days the window covers in part

    @classmethod
    def of(cls, filters: ReportFilters) -> "Window":
        edges: list[int] = []
        first = end = None
        if filters.from_ is not None:
            first = _day(filters.from_)
            if not _at_midnight(filters.from_):
                edges.append(first)
                first += 1
        if filters.to is not None:
            end = _day(filters.to)
            if not _at_midnight(filters.to):
                edges.append(end)
        return cls(first, end, tuple(sorted(set(edges))))

    def periods(self, period: "Period") -> "PeriodSpan | None":
        """The whole periods (months, weeks) within the whole days, if any."""
        first = self.first_whole
        if first is not None and period.start(first) != first:
            first = period.end(first)
        end = None if self.end_whole is None else period.start(self.end_whole)
        if first is not None and end is not None and first >= end:
            return None
        return PeriodSpan(first, end)

    def whole(self, table: Any) -> ColumnElement[bool]:
        conditions = [table.arrival_day.is_not(None)]
        if self.first_whole is not None:
            conditions.append(table.arrival_day >= self.first_whole)
        if self.end_whole is not None:
            conditions.append(table.arrival_day < self.end_whole)
        return and_(*conditions)


@dataclass(frozen=True)
class PeriodSpan:
    """Whole periods: from the one starting `first` (None: the first there is) to the one
    before the period starting `end` (None: the last there is)."""

    first: int | None
    end: int | None

    def holds(self, day: int) -> bool:
        return (self.first is None or day >= self.first) and (self.end is None or day < self.end)

    def of_periods(self, table: Any) -> ColumnElement[bool]:
        """A period table's rows in the span (their day: the period's first)."""
        return and_(
            true(),
            *([table.arrival_day >= self.first] if self.first is not None else []),
            *([table.arrival_day < self.end] if self.end is not None else []),
        )

    def outside(self, table: Any) -> ColumnElement[bool]:
        """A day table's rows outside the span."""
        return or_(
            false(),
            *([table.arrival_day < self.first] if self.first is not None else []),
            *([table.arrival_day >= self.end] if self.end is not None else []),
        )


def _day(moment: datetime) -> int:
    return moment.astimezone(UTC).date().toordinal() - EPOCH


def _at_midnight(moment: datetime) -> bool:
    return moment.astimezone(UTC).time() == time(0)


def cells_in_scope(
    session: Session,
    filters: ReportFilters,
    *,
    exporters: bool = True,
    cargo: bool = False,
    values: bool = True,
    period: Period | None = None,
    indexed: bool = False,
    network: bool = False,
) -> dict[Cell, CellFigures]:
    """Every cell of the question with its figures: whole days from the rollups unless
    marked, marked cells and partial days from the stops. The checkpoint and province
    filters select whole cells; the window selects days, with the exact time on edge days.
    `cargo`: cells cut by the set of HS chapters (DayCellCargo). `period` (MONTH, WEEK):
    whole periods of the window as their cells (their day: the period's first), for
    questions whose groups need no finer day and whose cells need no protection (an
    admin's); WEEK has no cargo cells. `indexed`: stored cells bring their dwell index
    rather than their dwell times (see `stored`). `network`: the question's groups are over
    every checkpoint (their cells' checkpoints do not matter): the whole periods that have
    network rows are read as those (a cell each, its checkpoint NETWORK)."""
    table = DayCellCargo if cargo else DayCell
    if period is not None and table not in dict(period.merged):
        period = None

    def from_table(table: Any) -> Callable[[Where], dict[Cell, Any]]:
        return lambda where: stored(
            session, where, table, exporters=exporters, values=values, indexed=indexed
        )

    return _in_scope(
        session,
        filters,
        from_table(table),
        lambda where: compute(session, where, cargo=cargo),
        (period, period.of(table), from_table) if period else None,
        network,
    )


def procedure_cells_in_scope(session: Session, filters: ReportFilters) -> dict[Cell, ProcedureCell]:
    """As `cells_in_scope` (day cells, with their exporters), the procedures' runs per
    (checkpoint, day, procedure): an advocate's, whose rule decides cell by cell. An
    admin's are added up per row (`procedure_groups_in_scope`)."""
    return _in_scope(
        session,
        filters,
        lambda where: stored_procedures(session, where),
        lambda where: compute_procedures(session, where),
    )


@dataclass
class ProcedureGroup:
    """A report group's runs of a procedure, added up over its cells: their sums (as
    ProcedureCell's), and their minutes, those read whole as packed values in any order
    (`loose`) and those of cells read by their index as value_index runs."""

    first_runs: int = 0
    timed_runs: int = 0
    minutes: float = 0.0
    untimed_minutes: float = 0.0
    evidence: EvidenceCounts = field(default_factory=lambda: EvidenceCounts())
    loose: list[bytes] = field(default_factory=list)
    indexed: list[value_index.Run] = field(default_factory=list)

    def add(self, part: ProcedureCell, cell: Cell = ()) -> None:
        """A cell's runs (`cell` names it, to read slices of it if it was read by its index)."""
        self.first_runs += part.first_runs
        self.timed_runs += part.timed_runs
        self.minutes += part.minutes
        self.untimed_minutes += part.untimed_minutes
        self.evidence = self.evidence.plus(part.evidence)
        if part.source is None:
            self.loose.append(part.minute_values)
        else:
            run = value_index.Run.of((part.source, cell), part.timed_runs, part.index)
            self.indexed.append(run)

    def values(self) -> value_index.Group:
        return value_index.Group(self.indexed, np.frombuffer(b"".join(self.loose), FLOAT64))


def procedure_groups_in_scope(
    session: Session, filters: ReportFilters, *, by_checkpoint: bool
) -> Iterator[dict[fig.Key, ProcedureGroup]]:
    """The procedures' runs added up per row of an admin's report (whole months read from
    month cells, cells with many runs by their index, as `cells_in_scope` reads them):
    (procedure,), or (procedure, checkpoint) `by_checkpoint`. The rollups' rows are added
    up by the database, one row a group and its cells' minutes concatenated, where reading
    them one by one (8,000 cells at 1M stops) spent most of the report converting rows in
    Python; cells computed from the rows are added here.

    The whole months, one procedure's groups at a time when they hold more than
    ONE_READ_MINUTES: a procedure's minutes need be in memory only until its percentiles
    are taken (at 10M stops ~8 MB a procedure; all at once peaked at ~150 MB), and fewer
    are read in one statement (a statement per procedure cost half again the report's time
    at 1M stops). The rest (days outside whole months, rows not in the rollups: few values)
    is read once, for all procedures: a statement per procedure would scan the day cells as
    many times."""
    reading = _reading(session, filters, MONTH)
    rest: dict[fig.Key, ProcedureGroup] = defaultdict(ProcedureGroup)
    for where in reading.days:
        _add_procedure_rows(session, DayCellProcedure, where, by_checkpoint, rest)
    for where in reading.rows:
        for cell, part in compute_procedures(session, where).items():
            rest[(cell[2], cell[0]) if by_checkpoint else (cell[2],)].add(part, cell)
    network = MonthNetworkProcedure
    months = [] if by_checkpoint else _network_periods(session, filters, reading, network)
    parts = _period_parts(reading, months, MonthCellProcedure, network)
    many = _timed_runs(session, parts) > ONE_READ_MINUTES
    for procedure in Procedure if many else [None]:
        # Taken out of `rest`, not shared with it: a batch's minutes are freed with the batch.
        mine = [key for key in rest if procedure is None or key[0] == procedure]
        groups = defaultdict(ProcedureGroup, {key: rest.pop(key) for key in mine})
        for table, where in parts:
            only = where if procedure is None else _all_of(where, _of_procedure(procedure))
            _add_procedure_rows(session, table, only, by_checkpoint, groups)
        if groups:
            yield dict(groups)
        del groups
    if many:  # a procedure no longer in the vocabulary (rows of an older release)
        others = defaultdict(ProcedureGroup, rest)
        for table, where in parts:
            only = _all_of(where, lambda table: table.procedure.not_in(list(Procedure)))
            _add_procedure_rows(session, table, only, by_checkpoint, others)
        if others:
            yield dict(others)


def _network_periods(
    session: Session, filters: ReportFilters, reading: "_Reading", table: Any
) -> list[int]:
    """The whole periods of a question over every checkpoint that their network rows (in
    `table`) answer: those stored, but the periods with a marked day (read from their
    checkpoints' cells and the rows, as `_reading` says). None for a question narrowed to
    some checkpoints or stops: the network rows hold them all."""
    everywhere = filters.model_copy(update={"from_": None, "to": None}) == ReportFilters()
    if reading.span is None or not everywhere:
        return []
    stored = session.scalars(
        select(table.arrival_day).where(reading.span.of_periods(table)).distinct()
    )
    return sorted(set(stored) - reading.stale)


def _period_parts(
    reading: "_Reading", starts: list[int], table: Any, network: Any
) -> list[tuple[Any, Where]]:
    """(table, condition) for the whole periods: those starting at `starts` from their
    network rows, the others from their checkpoints' cells in `table`."""
    if not starts:
        return [(table, where) for where in reading.periods]

    ours: Where = lambda rows: rows.arrival_day.in_(starts)  # noqa: E731
    elsewhere: Where = lambda rows: rows.arrival_day.not_in(starts)  # noqa: E731
    return [(network, ours)] + [(table, _all_of(where, elsewhere)) for where in reading.periods]


ONE_READ_MINUTES = 2_000_000  # 16 MB of minutes: read in one statement below this


def _timed_runs(session: Session, parts: list[tuple[Any, Where]]) -> int:
    """The timed runs of the rows meeting `parts` ((table, condition)) that are read whole:
    how many minutes a reading holds (a row with an index is read by a few slices)."""
    return sum(
        session.scalar(
            select(func.coalesce(func.sum(table.timed_runs), 0)).where(
                part(table), table.timed_runs < value_index.INDEXED_FROM
            )
        )
        or 0
        for table, part in parts
    )


def _of_procedure(procedure: Procedure) -> Where:
    return lambda table: table.procedure == procedure


def _add_procedure_rows(
    session: Session,
    table: Any,
    where: Where,
    by_checkpoint: bool,
    groups: dict[fig.Key, ProcedureGroup],
) -> None:
    """The rows of `table` meeting `where` added to their groups: summed by the database,
    with the minutes of the rows read whole (too few runs for an index) concatenated, and
    the others read by their index one row at a time, as `stored_procedures` does. The sums
    and the minutes are two statements: grouping rows, SQLite sorts every column its
    aggregates name, so one statement would copy even the indexed rows' minutes (80 MB of
    network rows at 10M stops) to take none of them."""
    keys = [table.procedure, *([table.checkpoint_id] if by_checkpoint else [])]
    sums = [table.first_runs, table.timed_runs, table.minutes, table.untimed_minutes]
    sums += [getattr(table, name) for name in EVIDENCE_COLUMNS]
    whole = table.timed_runs < value_index.INDEXED_FROM
    checkpoint_of = _CheckpointIds()

    def key_of(row: Any) -> fig.Key:
        return (row[0], checkpoint_of(row[1])) if by_checkpoint else (row[0],)

    totals = select(
        *keys, *(func.sum(column) for column in sums), func.sum(case((whole, 0), else_=1))
    )
    values = select(*keys, concat_bytes(table.minute_values)).where(where(table), whole)
    width = len(keys)
    found: dict[fig.Key, ProcedureCell] = {}
    indexed = False  # some rows have an index
    with streamed_rows(session, totals.where(where(table)).group_by(*keys)) as rows:
        for row in rows:
            first, timed, minutes, untimed, *counts = row[width : width + 4 + len(EVIDENCE_COLUMNS)]
            runs = found[key_of(row)] = ProcedureCell(first, timed, float(minutes), float(untimed))
            runs.evidence = EvidenceCounts.of(counts)
            indexed = indexed or row[-1] > 0
    # A row per procedure (per checkpoint): at 10M stops ~8 MB of minutes each, so one a fetch.
    with streamed_rows(session, values.group_by(*keys), chunk=1) as rows:
        for row in rows:
            found[key_of(row)].minute_values = bytes(row[-1] or b"")
    for key, runs in found.items():
        groups[key].add(runs)
    if indexed:
        many = _all_of(where, lambda rows: rows.timed_runs >= value_index.INDEXED_FROM)
        found_cells = stored_procedures(session, many, exporters=False, table=table, indexed=True)
        for cell, part in found_cells.items():
            group = groups[(cell[2], cell[0]) if by_checkpoint else (cell[2],)]
            group.indexed.append(value_index.Run.of((table, cell), part.timed_runs, part.index))


def _in_scope(
    session: Session,
    filters: ReportFilters,
    from_rollups: Callable[[Where], dict[Cell, Any]],
    from_rows: Callable[[Where], dict[Cell, Any]],
    periods: tuple[Period, Any, Callable[[Any], Callable[[Where], dict[Cell, Any]]]] | None = None,
    network: bool = False,
) -> dict[Cell, Any]:
    """The cells of a question: `periods` (the period, its table, a table's reader) for
    whole periods, with their network rows where `network` allows and there are some."""
    reading = _reading(session, filters, periods[0] if periods else None)
    cells: dict[Cell, Any] = {}
    if periods is not None:
        period, table, reader = periods
        pooled = dict(period.networks).get(table) if network else None
        starts = _network_periods(session, filters, reading, pooled) if pooled else []
        for part, where in _period_parts(reading, starts, table, pooled):
            cells.update(reader(part)(where))
    for where in reading.days:
        cells.update(from_rollups(where))
    for where in reading.rows:
        cells.update(from_rows(where))
    return cells


@dataclass(frozen=True)
class _Reading:
    """Where the cells of a question are read, as conditions on their tables: whole periods
    from period cells, days from day cells, and what the rollups do not hold from the rows
    (computed). No two parts hold the same cell."""

    periods: list[Where]
    days: list[Where]
    rows: list[Where]
    span: "PeriodSpan | None" = None  # the whole periods read from period cells
    stale: frozenset[int] = frozenset()  # the starts of the periods with a marked day


def _reading(session: Session, filters: ReportFilters, period: Period | None) -> _Reading:
    """The parts of a question (see `cells_in_scope`): marked cells (and the whole periods
    with a marked day) are left out of the rollups' parts, in the statements themselves, and
    read from the rows."""
    window = Window.of(filters)
    in_place = _narrowed(filters.model_copy(update={"from_": None, "to": None}))
    marked = {
        (cp, day)
        for cp, day in session.execute(
            select(RollupDirty.checkpoint_id, RollupDirty.arrival_day)
            .where(in_place(RollupDirty), window.whole(RollupDirty))
            .distinct()
        )
    }
    if len(marked) > MAX_MARKED_CELLS:
        # Most of the question is marked (a bulk load not yet refreshed, a refresh far
        # behind): one pass over its stops, as before the rollups, beats naming every cell.
        return _Reading([], [], [_narrowed(filters)])
    unmarked = _none_of(marked)
    span = window.periods(period) if period else None
    periods: list[Where] = []
    by_day: list[Where] = [lambda table: true()]
    stale: set[tuple[Any, int]] = set()
    if span is not None and period is not None:
        # Whole periods from their cells but those with a marked day (their row may be
        # older than a stop), read by their days; the days outside whole periods by day.
        stale = {(cp, period.start(day)) for cp, day in marked if span.holds(day)}
        periods.append(_all_of(in_place, span.of_periods, _none_of(stale)))
        by_day = [span.outside]
        for chunk in _chunks(sorted(stale, key=str), 100):
            by_day.append(_days_of(period, chunk))
    days = [_all_of(in_place, window.whole, part, unmarked) for part in by_day]
    # What the rollups do not hold, read from the rows: each part a query of its own (their
    # cells never overlap), so that each finds its few rows through an index (an OR of the
    # three would scan every row to find none).
    live: list[Where] = []
    if marked:
        live.append(of_cells(marked))
    if window.edges:
        live.append(
            lambda table: and_(table.arrival_day.in_(window.edges), _narrowed(filters)(table))
        )
    if filters.from_ is None and filters.to is None:
        live.append(lambda table: table.arrival_day.is_(None))
    rows = [_all_of(in_place, part) for part in live]
    return _Reading(periods, days, rows, span, frozenset(start for _, start in stale))


def _none_of(cells: set[Cell]) -> Where:
    """The condition "in none of these cells" (at most MAX_MARKED_CELLS of them)."""
    if not cells:
        return lambda table: true()
    inside = of_cells(cells)
    return lambda table: not_(inside(table))


def _all_of(*conditions: Where) -> Where:
    return lambda table: and_(*(condition(table) for condition in conditions))


def _narrowed(filters: ReportFilters) -> Where:
    """The filters' conditions on a table (narrow() builds them into a SELECT: its WHERE is
    all that is kept)."""

    def where(table: Any) -> ColumnElement[bool]:
        clause = narrow(select(table.checkpoint_id), filters, table).whereclause
        return clause if clause is not None else true()

    return where


# --- from cells to a report's groups ------------------------------------------------------


def tallies(
    cells: dict[Cell, CellFigures],
) -> dict[privacy.Cell, dict[privacy.Atom, privacy.Tally]]:
    """The cells as privacy.py's atoms: per day cell, one atom (a whole cell) or, for cargo
    cells, one per set of HS chapters (none: None, as privacy.stop_atoms reads them)."""
    atoms: dict[privacy.Cell, dict[privacy.Atom, privacy.Tally]] = defaultdict(dict)
    for cell, figures in cells.items():
        atom = (cell[2] or None, None, None) if len(cell) > 2 else privacy.WHOLE
        atoms[cell[:2]][atom] = privacy.Tally(
            figures.stops, figures.completed_stops, figures.exporter_ids()
        )
    return dict(atoms)


def group_figures(
    session: Session,
    groups: dict[Any, list[tuple[Cell, CellFigures]]],
    standard_minutes: float,
    target_of: Callable[[Any], float] | None = None,
) -> dict[Any, fig.Figures]:
    """Each group's figures from its cells' (figures.py says what each one means): counts
    added, holds and fees merged by numpy from their cells' packed records, and the dwell
    times' order statistics exact: from the values in memory, or, for cells read with
    their index, from the few slices of their values that settle them (value_index.py), all
    groups' slices read at once."""
    found = {group: _additive([p for _, p in parts]) for group, parts in groups.items()}
    indexed = {group for group, parts in groups.items() if any(p.source for _, p in parts)}
    for group in groups.keys() - indexed:
        dwell = np.frombuffer(b"".join(p.dwell for _, p in groups[group]), FLOAT64)
        figures = found[group]
        figures.within_standard = int(np.count_nonzero(dwell <= standard_minutes))
        figures.p50_dwell_minutes, figures.p90_dwell_minutes, figures.tail_mean_dwell_minutes = (
            order_statistics(dwell)
        )
    runs = {group: _value_group(groups[group]) for group in indexed}
    for group, stats in value_groups_statistics(session, runs, standard_minutes).items():
        figures = found[group]
        figures.within_standard = stats.within
        figures.p50_dwell_minutes, figures.p90_dwell_minutes = stats.p50, stats.p90
        figures.tail_mean_dwell_minutes = stats.tail_mean
    _within_targets(session, groups, found, standard_minutes, target_of)
    return found


def _within_targets(
    session: Session,
    groups: dict[Any, list[tuple[Cell, CellFigures]]],
    found: dict[Any, fig.Figures],
    standard_minutes: float,
    target_of: Callable[[Any], float] | None,
) -> None:
    """Each group's stops within their own checkpoint's target (`target_of(checkpoint)`):
    the count within the standard where every cell's target is the standard (most), else
    counted per target: from the values in memory, and for indexed cells from their slices,
    one batch of slices per distinct target."""
    batches: dict[float, dict[Any, value_index.Group]] = defaultdict(dict)
    for group, parts in groups.items():
        figures = found[group]
        by_target: dict[float, list[tuple[Cell, CellFigures]]] = defaultdict(list)
        for cell, part in parts:
            by_target[target_of(cell[0]) if target_of else standard_minutes].append((cell, part))
        if set(by_target) <= {standard_minutes}:
            figures.within_target = figures.within_standard
            continue
        for minutes, subset in by_target.items():
            loose = [p.dwell for _, p in subset if p.source is None]
            dwell = np.frombuffer(b"".join(loose), FLOAT64)
            figures.within_target += int(np.count_nonzero(dwell <= minutes))
            indexed = [(cell, p) for cell, p in subset if p.source is not None]
            if indexed:
                batches[minutes][group] = _value_group(indexed)
    for minutes, runs in batches.items():
        for group, stats in value_groups_statistics(session, runs, minutes).items():
            found[group].within_target += stats.within


def procedure_statistics(
    session: Session, groups: dict[Any, ProcedureGroup]
) -> dict[Any, value_index.Stats]:
    """Each group's p50 and p90 of its runs' minutes (and the rest of value_index.Stats),
    exact: from the minutes in memory, or from the slices of indexed cells' minutes."""
    found: dict[Any, value_index.Stats] = {}
    indexed: dict[Any, value_index.Group] = {}
    for key, group in groups.items():
        values = group.values()
        if values.runs:
            indexed[key] = values
        else:
            p50, p90, tail = order_statistics(values.loose)
            found[key] = value_index.Stats(0, p50, p90, tail)
    # No standard for procedures: below every value, it reads nothing.
    return found | value_groups_statistics(session, indexed, -math.inf)


def _value_group(parts: list[tuple[Cell, CellFigures]]) -> value_index.Group:
    """A group's dwell times: the indexed cells' as runs, the others' values as they are."""
    return value_index.Group(
        [
            value_index.Run.of((p.source, cell), p.timed_stops, p.index)
            for cell, p in parts
            if p.source is not None
        ],
        np.frombuffer(b"".join(p.dwell for _, p in parts if p.source is None), FLOAT64),
    )


def _additive(parts: list[CellFigures]) -> fig.Figures:
    """A group's counts and sums, hold reasons and fees: its cells' added up."""
    found = fig.Figures(
        stops=sum(p.stops for p in parts),
        completed_stops=sum(p.completed_stops for p in parts),
        timed_stops=sum(p.timed_stops for p in parts),
        total_dwell_minutes=sum(p.total_dwell_minutes for p in parts),
        held_stops=sum(p.held_stops for p in parts),
        turned_back_stops=sum(p.turned_back_stops for p in parts),
    )
    EvidenceCounts.total(p.evidence for p in parts).add_to(found)
    holds = np.frombuffer(b"".join(p.holds for p in parts), HOLDS)
    reasons, where = np.unique(holds["reason"], return_inverse=True)
    counts = np.bincount(where, weights=holds["holds"], minlength=len(reasons))
    found.hold_reasons = sorted(
        ((r.decode(), int(n)) for r, n in zip(reasons, counts, strict=True)),
        key=lambda item: (-item[1], item[0]),
    )
    fees = np.frombuffer(b"".join(p.fees for p in parts), FEES)
    currencies, where = np.unique(fees["currency"], return_inverse=True)
    for index, currency in enumerate(currencies):
        mine = fees[where == index]
        found.fees.append(
            fig.Fees(
                currency.decode(),
                Decimal(int(mine["total"].sum())).scaleb(-2),
                Decimal(int(mine["unreceipted"].sum())).scaleb(-2),
            )
        )
    return found


CELLS_PER_ROWID_LOOKUP = 2_000  # 3-4 values each: under SQLite's 32,766 variables


def _value_slices(
    session: Session, wanted: dict[Any, list[tuple[int, int]]]
) -> dict[value_index.Slice, np.ndarray]:
    """The slices [first, end) of stored sorted values (dwell times, or a procedure's
    minutes), by (table, cell). PostgreSQL: `substr` in the database, one statement for many
    cells, so only the slices travel; SQLite: blob reads (_sqlite_value_slices). Written as
    SQL with placeholders: SQLAlchemy's compilation of a VALUES list of thousands of rows
    took ten times as long as the statement itself."""
    by_table: dict[Any, list[tuple[Cell, int, int]]] = defaultdict(list)
    for (table, cell), spans in wanted.items():
        by_table[table] += [(cell, first, end) for first, end in spans]
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return _sqlite_value_slices(connection, by_table)
    found: dict[value_index.Slice, np.ndarray] = {}
    for table, slices in by_table.items():
        extra = _KEY_BEYOND_DAY.get(table)
        keys = ["checkpoint_id", "arrival_day", *([extra] if extra else [])]
        column = VALUE_COLUMNS[table][0]
        rows, params = _wanted_slices(keys, slices)
        sql = (
            f"WITH wanted (n, {', '.join(keys)}, byte, bytes) AS ({rows})"
            f" SELECT wanted.n, substr(t.{column}, wanted.byte, wanted.bytes)"
            f" FROM wanted JOIN {table.__tablename__} t ON "
            + " AND ".join(f"t.{key} = wanted.{key}" for key in keys)
        )
        options = {BINARY_RESULTS: True}
        cursor = connection.exec_driver_sql(sql, params, execution_options=options).cursor
        assert cursor is not None
        for n, packed in cursor.fetchall():
            cell, first, end = slices[n]
            found[((table, cell), first, end)] = np.frombuffer(bytes(packed), FLOAT64)
        cursor.close()
    return found


def _sqlite_value_slices(
    connection: Connection, by_table: dict[Any, list[tuple[Cell, int, int]]]
) -> dict[value_index.Slice, np.ndarray]:
    """SQLite: each cell's values opened once as a blob, and only its slices' bytes read.
    Not `substr`: SQLite loads the whole value for every slice taken from it (a month cell's
    ~100 KB at 10M stops, a few times a cell), through its overflow pages. The blob is read
    in the session's read transaction, the same row as the index read before it."""
    raw = connection.connection.driver_connection
    assert raw is not None
    found: dict[value_index.Slice, np.ndarray] = {}
    for table, slices in by_table.items():
        spans: dict[Cell, list[tuple[int, int]]] = defaultdict(list)
        for cell, first, end in slices:
            spans[cell].append((first, end))
        column = VALUE_COLUMNS[table][0]
        for cell, rowid in _rowids(connection, table, list(spans)):
            with raw.blobopen(table.__tablename__, column, rowid, readonly=True) as blob:
                for first, end in spans[cell]:
                    found[((table, cell), first, end)] = np.frombuffer(
                        blob[first * 8 : end * 8], FLOAT64
                    )
    return found


def _rowids(connection: Connection, table: Any, cells: list[Cell]) -> Iterator[tuple[Cell, int]]:
    """SQLite: the rowid of each of `cells` in `table`, by a VALUES list of their keys."""
    extra = _KEY_BEYOND_DAY.get(table)
    keys = ["checkpoint_id", "arrival_day", *([extra] if extra else [])]
    row = "(" + ", ".join("?" * (len(keys) + 1)) + ")"
    for chunk in _chunks(cells, CELLS_PER_ROWID_LOOKUP):
        params: list[Any] = []
        for n, cell in enumerate(chunk):
            params += [n, cell[0].hex, *cell[1:]]
        sql = (
            f"WITH wanted (n, {', '.join(keys)}) AS (VALUES {', '.join([row] * len(chunk))})"
            f" SELECT wanted.n, t.rowid FROM wanted JOIN {table.__tablename__} t ON "
            + " AND ".join(f"t.{key} = wanted.{key}" for key in keys)
        )
        for n, rowid in connection.exec_driver_sql(sql, tuple(params)).fetchall():
            yield chunk[n], rowid


def _wanted_slices(
    keys: list[str], slices: list[tuple[Cell, int, int]]
) -> tuple[str, tuple[str, ...]]:
    """PostgreSQL: the wanted slices as rows (n, the cell's keys, first byte, bytes) in SQL,
    with its parameters: a few arrays (`unnest`), one statement whatever their number — a
    VALUES list of thousands of rows of placeholders cost psycopg ~10 ms a statement to
    take apart in Python, and the server as much to parse."""
    casts = ["int", "uuid", "int", *(["text"] if len(keys) > 2 else []), "int", "int"]
    columns: list[list[Any]] = [list(range(len(slices)))]
    columns += [list(part) for part in zip(*(cell for cell, _, _ in slices), strict=True)]
    columns += [[f * 8 + 1 for _, f, _ in slices], [(e - f) * 8 for _, f, e in slices]]
    arrays = ", ".join(f"%s::text::{cast}[]" for cast in casts)
    return f"SELECT * FROM unnest({arrays})", tuple(map(_array_literal, columns))


def _array_literal(items: list[Any]) -> str:
    """A PostgreSQL array's text, `{a,b,…}`, of ints, UUIDs or strings (HS chapter sets,
    quoted): psycopg's list dumper looks at every element (and its text format runs a regex
    over each), ~5 ms of the checkpoint report's ~85 at 10M stops."""
    if items and isinstance(items[0], str):
        quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
        return "{" + ",".join(f'"{item}"' for item in quoted) + "}"
    return "{" + ",".join(map(str, items)) + "}"


# The tables whose sorted values have an index: (values column, index column), and what
# names a row beyond its checkpoint and day.
VALUE_COLUMNS: dict[Any, tuple[str, str]] = {
    **{
        t: ("dwell_values", "dwell_index")
        for t in (
            DayCell,
            DayCellCargo,
            MonthCell,
            MonthCellCargo,
            MonthNetworkCargo,
            WeekCell,
            WeekNetworkCell,
        )
    },
    DayCellProcedure: ("minute_values", "minute_index"),
    MonthCellProcedure: ("minute_values", "minute_index"),
    MonthNetworkProcedure: ("minute_values", "minute_index"),
}
_KEY_BEYOND_DAY: dict[Any, str] = {
    DayCellCargo: "hs_chapters",
    MonthCellCargo: "hs_chapters",
    MonthNetworkCargo: "hs_chapters",
    DayCellProcedure: "procedure",
    MonthCellProcedure: "procedure",
    MonthNetworkProcedure: "procedure",
}


def value_groups_statistics(
    session: Session, groups: dict[Any, value_index.Group], standard_minutes: float
) -> dict[Any, value_index.Stats]:
    """value_index.statistics over cells stored in these tables. It knows each run by a
    number: it looks runs up by key several times a slice, and a key (table, (checkpoint,
    day, …)) hashes its UUID in Python code at every lookup (2–3 ms of the checkpoint
    report's ~80 at 10M stops on PostgreSQL)."""
    numbered: dict[Any, int] = {}
    by_number = {
        name: value_index.Group(
            [
                dataclasses.replace(run, key=numbered.setdefault(run.key, len(numbered)))
                for run in group.runs
            ],
            group.loose,
        )
        for name, group in groups.items()
    }
    keys = list(numbered)

    def fetch(wanted: dict[Any, list[tuple[int, int]]]) -> dict[value_index.Slice, np.ndarray]:
        found = _value_slices(session, {keys[n]: spans for n, spans in wanted.items()})
        slices: dict[value_index.Slice, np.ndarray] = {
            (numbered[key], first, end): part for (key, first, end), part in found.items()
        }
        for n, spans in wanted.items():
            for first, end in spans:
                if (n, first, end) not in slices:
                    # Name the cell, not its number: the number means nothing outside this call.
                    raise LookupError(f"values [{first}, {end}) of {keys[n]} are not stored")
        return slices

    return value_index.statistics(by_number, standard_minutes, fetch)


def order_statistics(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """p50, p90 and the mean of the slowest 10% of `values` (in any order), exactly, as
    percentiles.py defines them: the values at those ranks, found by np.partition."""
    n = len(values)
    if not n:
        return None, None, None
    tail = tail_size(n)
    ranks = sorted({*positions(n, 0.5)[:2], *positions(n, 0.9)[:2], n - tail})
    values = np.partition(values, ranks)
    found = []
    for q in (0.5, 0.9):
        low, high, weight = positions(n, q)
        a, b = float(values[low]), float(values[high])
        found.append(a + weight * (b - a))
    return found[0], found[1], float(np.sum(values[n - tail :])) / tail


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Refresher:
    """Refreshes marked cells every `interval` seconds on a thread of its own, for as long
    as the server runs (each worker has one; on PostgreSQL one at a time refreshes)."""

    def __init__(self, sessions: sessionmaker[Session], interval: float) -> None:
        self.sessions = sessions
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollup-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                while refresh(self.sessions) and not self._stop.is_set():
                    pass
            except Exception:  # a refresh that fails is retried; reports stay exact meanwhile
                log.exception("rollup refresh failed")
