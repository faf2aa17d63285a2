"""Every day cell of some days rebuilt in bulk from their stops (`rollups.rebuild()`): the
rows `rollups.compute()`, `compute_procedures()`, `store()` and `store_procedures()` would
write, made with a handful of statements a round of days instead of row by row.

Why a second way to the same rows. After a bulk load every cell is computed at once: 10M
stops took 16 minutes through `compute()`, most of it per-row Python (a `uuid.UUID` made for
every stop's checkpoint and exporter, Decimals, dataclasses), and every round scanned all of
`stop_procedures` (it has no index by day). Here:

- each table is read once a round through the DB-API cursor, ids as the driver gives them
  (SQLite's hex text; PostgreSQL's uuid cast to text), each id turned into its 16 bytes once
  per round, not once per row;
- the stops' counts, sums, sorted dwell times and exporters are grouped by numpy, for the
  cells and the cargo cells from the same arrays; holds and fees are grouped by the database
  (per cargo cell, whose sums the day cells add up, in cents); the procedures' runs are read
  by joining the round's stops to them (the stop_id index), with whether the stop's own time
  is unknown;
- rows go in with `executemany` (SQLite) or `COPY` (PostgreSQL).

The rows are those of compute() + store(): the same packing (rollups.HOLDS, FEES, sorted
float64 values, sorted 16-byte exporter ids), every column equal but the float sums
(`total_dwell_minutes`, `minutes`, `untimed_minutes`), which are added in another order (as
`same_as` allows, to 1e-9 relative). tests/reports/test_rollup_build.py compares the two.
"""

import uuid
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.reports.rollups import FEES, FLOAT64, _cents, _money, _pack_holds

DAY_CELL_COLUMNS = (
    "checkpoint_id",
    "arrival_day",
    "stops",
    "completed_stops",
    "timed_stops",
    "total_dwell_minutes",
    "held_stops",
    "turned_back_stops",
    "dwell_values",
    "holds",
    "fees",
    "exporters",
)
PROCEDURE_COLUMNS = (
    "checkpoint_id",
    "arrival_day",
    "procedure",
    "first_runs",
    "timed_runs",
    "minutes",
    "untimed_minutes",
    "minute_values",
    "exporters",
)


class _Index(dict[Any, int]):
    """Values (raw ids, chapter sets, procedures) to small integers, in order of first sight."""

    def __missing__(self, key: Any) -> int:
        found = self[key] = len(self)
        return found


class _Driver:
    """The session's DB-API connection, in its write transaction, and the dialect's words."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.postgres = connection.dialect.name == "postgresql"
        self.raw: Any = connection.connection.driver_connection
        self.param = "%s" if self.postgres else "?"
        self.false = "false" if self.postgres else "0"

    def id(self, column: str) -> str:
        """A uuid column as text (psycopg would make a uuid.UUID of every value)."""
        return f"{column}::text" if self.postgres else column

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql.replace("?", self.param), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cursor = self.raw.cursor()
        try:
            if self.postgres:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                )
        finally:
            cursor.close()


class _Ids:
    """A round's ids (checkpoints, exporters) as integers; each id's stored form and 16
    bytes made once."""

    def __init__(self, postgres: bool) -> None:
        self.index = _Index()
        self.postgres = postgres

    def of(self, raws: tuple[Any, ...]) -> np.ndarray:
        return np.fromiter(map(self.index.__getitem__, raws), np.int64, len(raws))

    def stored(self) -> list[str]:
        """Each id as store() writes it: SQLite's 32 hex digits, PostgreSQL's uuid text."""
        return [raw if self.postgres else uuid.UUID(raw).hex for raw in self.index]

    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """Each id's rank in the byte order of the ids, and the ids' 16 bytes in that order
        (one row each)."""
        ids = [uuid.UUID(raw).bytes for raw in self.index]
        order = sorted(range(len(ids)), key=ids.__getitem__)
        rank = np.empty(len(ids), np.int64)
        rank[order] = np.arange(len(ids))
        table = np.frombuffer(b"".join(ids[i] for i in order), np.uint8).reshape(-1, 16)
        return rank, table


def _slices(blob: bytes, counts: np.ndarray, width: int) -> list[bytes]:
    """`blob` cut into consecutive pieces of `counts` records of `width` bytes."""
    ends = np.cumsum(counts) * width
    starts = ends - counts * width
    return [blob[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _sorted_values(cell: np.ndarray, values: np.ndarray, cells: int) -> list[bytes]:
    """Each cell's non-null values, sorted, as little-endian float64 (b"" for none)."""
    known = ~np.isnan(values)
    cell, values = cell[known], values[known]
    values = values[np.lexsort((values, cell))]
    return _slices(values.astype(FLOAT64).tobytes(), np.bincount(cell, minlength=cells), 8)


def _exporters(
    cell: np.ndarray, org: np.ndarray, ids: _Ids, cells: int, only: np.ndarray | None = None
) -> list[bytes]:
    """Each cell's distinct exporters' 16-byte ids, sorted, one after the other."""
    rank, table = ids.packed()
    width = max(len(table), 1)
    if only is not None:
        cell, org = cell[only], org[only]
    pairs = np.unique(cell * width + rank[org])
    owner, which = pairs // width, pairs % width
    return _slices(table[which].tobytes(), np.bincount(owner, minlength=cells), 16)


def _count(cell: np.ndarray, cells: int, where: np.ndarray | None = None) -> list[int]:
    if where is not None:
        cell = cell[where]
    return np.bincount(cell, minlength=cells).tolist()  # type: ignore[no-any-return]


def _sum(cell: np.ndarray, values: np.ndarray, cells: int) -> list[float]:
    """Each cell's sum of its non-null values (0.0 for none), as SQL's coalesce(sum(), 0)."""
    weights = np.where(np.isnan(values), 0.0, values)
    return np.bincount(cell, weights=weights, minlength=cells).tolist()  # type: ignore[no-any-return]


def build(session: Session, start: int, end: int) -> int:
    """Computes and inserts the day_cells, day_cell_cargo and day_cell_procedures rows of
    the days [start, end) from their stops. The session is in its write transaction and
    those days have no rows yet. Returns how many day cells it stored."""
    db = _Driver(session)
    checkpoints, exporters = _Ids(db.postgres), _Ids(db.postgres)
    chapters = _Index()
    stop_rows = db.rows(
        f"SELECT {db.id('checkpoint_id')}, arrival_day, COALESCE(hs_chapters, ''),"
        " CASE outcome WHEN 'open' THEN 0 WHEN 'turned_back' THEN 2 ELSE 1 END,"
        f" dwell_minutes, CASE WHEN hold_count > 0 THEN 1 ELSE 0 END, {db.id('organization_id')}"
        " FROM stops WHERE arrival_day >= ? AND arrival_day < ?",
        (start, end),
    )
    if not stop_rows:
        return 0
    cps, days, chapter_sets, outcomes, dwell_values, held, orgs = zip(*stop_rows, strict=True)
    del stop_rows
    days_wide = end - start
    cp = checkpoints.of(cps)
    day_cell = cp * days_wide + (np.array(days, np.int64) - start)
    chapter = np.fromiter(map(chapters.__getitem__, chapter_sets), np.int64, len(cps))
    org = exporters.of(orgs)
    outcome = np.array(outcomes, np.int8)
    dwell = np.array(dwell_values, np.float64)
    was_held = np.array(held, np.int8) == 1
    del cps, days, chapter_sets, outcomes, dwell_values, held, orgs
    chapters_wide = len(chapters)
    chapter_names = list(chapters)
    cp_stored = checkpoints.stored()

    # The holds and fees, grouped by the database per cargo cell and added up per day cell.
    holds_of: dict[tuple[int, ...], dict[str, int]] = defaultdict(dict)
    for raw, day, chapter_set, reason, n in db.rows(
        f"SELECT {db.id('checkpoint_id')}, arrival_day, COALESCE(hs_chapters, ''), reason,"
        " COUNT(*) FROM stop_holds WHERE arrival_day >= ? AND arrival_day < ?"
        " GROUP BY 1, 2, 3, 4",
        (start, end),
    ):
        for part in _keys(checkpoints.index, chapters, raw, day - start, chapter_set, days_wide):
            holds_of[part][str(reason)] = holds_of[part].get(str(reason), 0) + int(n)
    fees_of: dict[tuple[int, ...], dict[str, tuple[int, int]]] = defaultdict(dict)
    for raw, day, chapter_set, currency, total, unreceipted in db.rows(
        f"SELECT {db.id('checkpoint_id')}, arrival_day, COALESCE(hs_chapters, ''), currency,"
        f" SUM(amount), SUM(CASE WHEN receipt = {db.false} THEN amount ELSE 0 END)"
        " FROM stop_fees WHERE arrival_day >= ? AND arrival_day < ? GROUP BY 1, 2, 3, 4",
        (start, end),
    ):
        cents = (_cents(_money(total)), _cents(_money(unreceipted)))
        for part in _keys(checkpoints.index, chapters, raw, day - start, chapter_set, days_wide):
            had = fees_of[part].get(currency, (0, 0))
            fees_of[part][currency] = (had[0] + cents[0], had[1] + cents[1])

    stored = 0
    for cargo in (False, True):
        key = day_cell * chapters_wide + chapter if cargo else day_cell
        cells, cell = np.unique(key, return_inverse=True)
        cell = cell.reshape(-1)
        n = len(cells)
        columns: list[list[Any]] = [
            _count(cell, n),
            _count(cell, n, outcome != 0),
            _count(cell, n, ~np.isnan(dwell)),
            _sum(cell, dwell, n),
            _count(cell, n, was_held),
            _count(cell, n, outcome == 2),
            _sorted_values(cell, dwell, n),
        ]
        exporter_ids = _exporters(cell, org, exporters, n)
        rows = []
        for i, found in enumerate(cells.tolist()):
            if cargo:
                found, chapter_of = divmod(found, chapters_wide)
                where: tuple[int, ...] = (found, chapter_of)
            else:
                where = (found,)
                chapter_of = -1
            cp_of, day_of = divmod(found, days_wide)
            holds = holds_of.get(where)
            fees = fees_of.get(where)
            rows.append(
                (
                    cp_stored[cp_of],
                    start + day_of,
                    *([chapter_names[chapter_of]] if cargo else []),
                    *(column[i] for column in columns),
                    _pack_holds(holds) if holds else b"",
                    _pack_cents(fees) if fees else b"",
                    exporter_ids[i],
                )
            )
        if cargo:
            db.insert(
                "day_cell_cargo",
                (*DAY_CELL_COLUMNS[:2], "hs_chapters", *DAY_CELL_COLUMNS[2:]),
                rows,
            )
        else:
            db.insert("day_cells", DAY_CELL_COLUMNS, rows)
            stored = n
    _build_procedures(db, start, end, checkpoints, exporters)
    return stored


def _keys(
    checkpoints: _Index, chapters: _Index, raw: Any, day: int, chapter_set: str, days_wide: int
) -> list[tuple[int, ...]]:
    """A holds' or fees' group's day cell and cargo cell, those of them the round's stops
    have (the others store no row)."""
    cp, chapter = checkpoints.get(raw), chapters.get(chapter_set)
    if cp is None:
        return []
    day_cell = cp * days_wide + day
    return [(day_cell,)] if chapter is None else [(day_cell,), (day_cell, chapter)]


def _pack_cents(fees: dict[str, tuple[int, int]]) -> bytes:
    """As rollups._pack_fees, from cents."""
    return np.array(sorted((c.encode(), t, u) for c, (t, u) in fees.items()), FEES).tobytes()


def _build_procedures(
    db: _Driver, start: int, end: int, checkpoints: _Ids, exporters: _Ids
) -> None:
    """The procedure rows of the days [start, end): the round's runs, read through their
    stops (stop_procedures has no index by day; stops do, and runs one by stop)."""
    runs = db.rows(
        f"SELECT {db.id('p.checkpoint_id')}, p.arrival_day, p.procedure, p.run_number,"
        f" p.minutes, {db.id('p.organization_id')},"
        " CASE WHEN s.dwell_minutes IS NULL THEN 1 ELSE 0 END"
        " FROM stops s JOIN stop_procedures p ON p.stop_id = s.id"
        " WHERE s.arrival_day >= ? AND s.arrival_day < ?"
        " AND p.arrival_day >= ? AND p.arrival_day < ?",
        (start, end, start, end),
    )
    if not runs:
        return
    cps, days, names, run_numbers, minute_values, orgs, untimed = zip(*runs, strict=True)
    del runs
    procedures = _Index()
    days_wide = end - start
    key = checkpoints.of(cps) * days_wide + (np.array(days, np.int64) - start)
    procedure = np.fromiter(map(procedures.__getitem__, names), np.int64, len(names))
    key = key * len(procedures) + procedure
    first = np.array(run_numbers, np.int64) == 1
    minutes = np.array(minute_values, np.float64)
    org = exporters.of(orgs)
    at_untimed = np.array(untimed, np.int8) == 1
    del cps, days, names, run_numbers, minute_values, orgs, untimed
    cells, cell = np.unique(key, return_inverse=True)
    cell = cell.reshape(-1)
    n = len(cells)
    columns: list[list[Any]] = [
        _count(cell, n, first),
        _count(cell, n, ~np.isnan(minutes)),
        _sum(cell, minutes, n),
        _sum(cell, np.where(at_untimed, minutes, np.nan), n),
        _sorted_values(cell, minutes, n),
        _exporters(cell, org, exporters, n, first),
    ]
    cp_stored, procedure_names = checkpoints.stored(), list(procedures)
    rows = []
    for i, found in enumerate(cells.tolist()):
        found, procedure_of = divmod(found, len(procedures))
        cp_of, day_of = divmod(found, days_wide)
        rows.append(
            (
                cp_stored[cp_of],
                start + day_of,
                procedure_names[procedure_of],
                *(column[i] for column in columns),
            )
        )
    db.insert("day_cell_procedures", PROCEDURE_COLUMNS, rows)
