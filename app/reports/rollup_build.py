"""Every day cell of some days rebuilt in bulk from their stops (`rollups.rebuild()`): the
rows `rollups.compute()`, `compute_procedures()`, `store()` and `store_procedures()` would
write, made with a handful of statements a round of days instead of row by row.

Why a second way to the same rows. After a bulk load every cell is computed at once: 10M
stops took 16 minutes through `compute()`, most of it per-row Python (a `uuid.UUID` made for
every stop's checkpoint and exporter, Decimals, dataclasses), and every round scanned all of
`stop_procedures` (it has no index by day). Here:

- each table is read once a round, ids as text (SQLite's hex; PostgreSQL's uuid cast to
  text), each id turned into its 16 bytes once per round, not once per row: on SQLite
  through the DB-API cursor into numpy columns a chunk at a time (memory stays a few dozen
  bytes a stop of the round); on PostgreSQL as one text the server joins and pyarrow parses
  (no Python per value; the round's text is held whole, ~150 bytes a row, two or three
  copies of it for a moment);
- the stops' counts, sums, sorted dwell times and exporters are grouped by numpy, for the
  cells and the cargo cells from the same arrays; holds and fees are grouped by the database
  (per cargo cell, whose sums the day cells add up, in cents); the procedures' runs by one
  pass over their table (it has no index by day), and those at stops of unknown time
  through those few stops;
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

from app.reports.rollups import EVIDENCE_COLUMNS, FEES, FLOAT64, _cents, _money, _pack_holds
from app.reports.value_index import index_of

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
    "dwell_index",
    *EVIDENCE_COLUMNS,
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
    "minute_index",
    *EVIDENCE_COLUMNS,
)


CHUNK_ROWS = 20_000  # rows read at a time
INSERT_ROWS = 10_000  # rows written at a time


class _Index(dict[Any, int]):
    """Values (raw ids, chapter sets, procedures) to small integers, in order of first sight."""

    def __missing__(self, key: Any) -> int:
        found = self[key] = len(self)
        return found

    def numbers(self, values: list[Any]) -> np.ndarray:
        """The numbers of `values` (distinct, in order of first sight), as int32. Into an
        empty index (a round's stop ids, each seen once) they go in one step."""
        if not self:
            self.update(zip(values, range(len(values)), strict=True))
            if len(self) == len(values):
                return np.arange(len(values), dtype=np.int32)
            self.clear()  # not distinct after all: one by one below
        return np.fromiter(map(self.__getitem__, values), np.int32, len(values))


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

    def columns(self, sql: str, params: tuple[Any, ...], kinds: tuple[Any, ...]) -> list[Any]:
        """The rows of `sql` as one array a column, of a numpy type or (an _Index) the
        numbers of the column's values. SQLite's are made a chunk of rows at a time: a
        round's rows as Python tuples would take about 400 bytes each. PostgreSQL's come as
        one text (_columns_by_text)."""
        if self.postgres:
            return self._columns_by_text(sql, params, kinds)
        parts: list[list[np.ndarray]] = [[] for _ in kinds]
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql.replace("?", self.param), params)
            while chunk := cursor.fetchmany(CHUNK_ROWS):
                for part, kind, values in zip(parts, kinds, zip(*chunk, strict=True), strict=True):
                    if isinstance(kind, _Index):
                        numbers = map(kind.__getitem__, values)
                        part.append(np.fromiter(numbers, np.int32, len(values)))
                    else:
                        part.append(np.array(values, kind))
        finally:
            cursor.close()
        return [
            np.concatenate(part)
            if part
            else np.empty(0, np.int32 if isinstance(kind, _Index) else kind)
            for part, kind in zip(parts, kinds, strict=True)
        ]

    def _columns_by_text(
        self, sql: str, params: tuple[Any, ...], kinds: tuple[Any, ...]
    ) -> list[Any]:
        """columns() on PostgreSQL: the rows joined by the server into one text, a tab
        between values and a line a row, parsed by pyarrow's CSV reader (C++, off the
        interpreter lock), each text column's distinct values numbered through its _Index
        once. Row by row through a cursor (or COPY, a message a row), the Python work per
        value took two thirds of a rebuild's time at 10M stops, and two rounds at once could
        not overlap it. A round's text is held whole: ~150 bytes a row. PostgreSQL caps a
        value at 1 GB, about 7M rows: a round of 7 days (the CLI's) reaches it at a million
        stops a day, a hundred times today's national traffic."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        names = [f"c{i}" for i in range(len(kinds))]
        # NULL is an empty value (concat_ws would leave it out); the ids, chapter sets and
        # procedures have no tab or line break in them.
        line = ", ".join(f"COALESCE({name}::text, '')" for name in names)
        joined = (
            f"SELECT string_agg(concat_ws(E'\\t', {line}), E'\\n')"
            f" FROM ({sql.replace('?', self.param)}) AS q({', '.join(names)})"
        )
        with self.raw.cursor() as cursor:
            text = cursor.execute(joined, params).fetchone()[0]
        if text is None:  # no rows
            return [np.empty(0, np.int32 if isinstance(k, _Index) else k) for k in kinds]
        data = pa.py_buffer(text.encode())
        del text
        table = pa_csv.read_csv(
            data,
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={
                    name: pa.string() if isinstance(kind, _Index) else pa.from_numpy_dtype(kind)
                    for name, kind in zip(names, kinds, strict=True)
                },
                null_values=[""],  # a NULL number; an empty text stays ""
            ),
        )
        del data
        columns: list[Any] = []
        for name, kind in zip(names, kinds, strict=True):
            column = table.column(name).combine_chunks()
            if isinstance(kind, _Index):
                encoded = column.dictionary_encode()  # values numbered in order of first sight
                numbers = kind.numbers(encoded.dictionary.to_pylist())
                columns.append(numbers[encoded.indices.to_numpy()])
            elif column.null_count and np.dtype(kind).kind != "f":
                # NaN would become a number in an integer array (np.array() raises on None)
                raise ValueError(f"NULL in an integer column of {sql!r}")
            else:  # a NULL float is NaN, as np.array() makes None
                columns.append(column.to_numpy(zero_copy_only=False).astype(kind, copy=False))
        return columns

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
    chapters, stop_ids = _Index(), _Index()
    cp, days, chapter, outcome, dwell, held, org, _, position, anomalous = db.columns(
        f"SELECT {db.id('checkpoint_id')}, arrival_day, COALESCE(hs_chapters, ''),"
        " CASE outcome WHEN 'open' THEN 0 WHEN 'turned_back' THEN 2 ELSE 1 END,"
        f" dwell_minutes, CASE WHEN hold_count > 0 THEN 1 ELSE 0 END, {db.id('organization_id')},"
        f" {db.id('id')}, {POSITION}, {ANOMALOUS}"
        " FROM stops WHERE arrival_day >= ? AND arrival_day < ?",
        (start, end),
        (
            checkpoints.index,
            np.int64,
            chapters,
            np.int8,
            np.float64,
            np.int8,
            exporters.index,
            stop_ids,  # the stop's number: its row in these arrays
            np.int8,
            np.int8,
        ),
    )
    if not len(cp):
        return 0
    evidence = _StopEvidence(db, start, end, stop_ids, position, anomalous)
    days_wide = end - start
    day_cell = cp.astype(np.int64) * days_wide + (days - start)
    was_held = held == 1
    del days, held
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
        evidence_columns = evidence.per_cell(cell, n)
        exporter_ids = _exporters(cell, org, exporters, n)
        table, names = (
            ("day_cell_cargo", (*DAY_CELL_COLUMNS[:2], "hs_chapters", *DAY_CELL_COLUMNS[2:]))
            if cargo
            else ("day_cells", DAY_CELL_COLUMNS)
        )
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
                    index_of(columns[6][i]),
                    *(column[i] for column in evidence_columns),
                )
            )
            if len(rows) == INSERT_ROWS:  # written as they are made: memory stays bounded
                db.insert(table, names, rows)
                rows = []
        db.insert(table, names, rows)
        stored = stored if cargo else n
    _build_procedures(db, start, end, checkpoints, exporters, evidence)
    return stored


# A stop's position evidence and whether it has an anomaly, as numbers (figures.stop_evidence).
POSITION = "CASE position_evidence WHEN 'confirmed' THEN 1 WHEN 'contradicted' THEN 2 ELSE 0 END"
ANOMALOUS = "CASE WHEN json_array_length(anomalies) > 0 THEN 1 ELSE 0 END"


class _StopEvidence:
    """The round's stops' evidence, one value a stop (by its number in the round): its
    position evidence, an anomaly, its fee events and those with a receipt attached (not
    withdrawn: figures.receipt_attached), from one pass over the round's fees."""

    def __init__(
        self,
        db: _Driver,
        start: int,
        end: int,
        stop_ids: _Index,
        position: np.ndarray,
        anomalous: np.ndarray,
    ) -> None:
        self.stop_ids, self.position, self.anomalous = stop_ids, position, anomalous
        self.fees = np.zeros(len(position), np.int64)
        self.receipts = np.zeros(len(position), np.int64)
        receipt = (
            "EXISTS (SELECT 1 FROM attachments a WHERE a.shipment_id = f.shipment_id"
            " AND a.event_id = f.event_id AND a.kind = 'receipt'"
            f" AND a.withdrawn = {db.false})"
        )
        for raw, events, photographed in db.rows(
            f"SELECT {db.id('f.stop_id')}, COUNT(*), SUM(CASE WHEN {receipt} THEN 1 ELSE 0 END)"
            " FROM stop_fees f WHERE f.arrival_day >= ? AND f.arrival_day < ? GROUP BY 1",
            (start, end),
        ):
            stop = stop_ids.get(raw)
            if stop is not None:
                self.fees[stop], self.receipts[stop] = int(events), int(photographed or 0)

    def per_cell(
        self, cell: np.ndarray, cells: int, stop: np.ndarray | None = None
    ) -> list[list[int]]:
        """Each cell's evidence counts (rollups.EVIDENCE_COLUMNS): `cell` gives each stop's
        cell, or with `stop`, each of some rows' (procedures' first runs) and their stops."""
        chosen = slice(None) if stop is None else stop
        position, anomalous = self.position[chosen], self.anomalous[chosen]

        def total(weights: np.ndarray) -> list[int]:
            found = np.bincount(cell, weights=weights, minlength=cells)
            return found.astype(np.int64).tolist()  # type: ignore[no-any-return]

        return [
            _count(cell, cells, position == 1),
            _count(cell, cells, position == 2),
            _count(cell, cells, anomalous == 1),
            total(self.fees[chosen]),
            total(self.receipts[chosen]),
        ]


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
    db: _Driver,
    start: int,
    end: int,
    checkpoints: _Ids,
    exporters: _Ids,
    evidence: _StopEvidence,
) -> None:
    """The procedure rows of the days [start, end). stop_procedures has no index by day:
    its rows are read by one pass over the table (about 0.15 µs a row on SQLite, where
    reaching each run through its stop cost 27 µs)."""
    procedures = _Index()

    def where(table: str) -> str:
        return f"{table}arrival_day >= ? AND {table}arrival_day < ?"

    cp, days, procedure, run_number, minutes, org, stop = db.columns(
        f"SELECT {db.id('checkpoint_id')}, arrival_day, procedure, run_number, minutes,"
        f" {db.id('organization_id')}, {db.id('stop_id')} FROM stop_procedures"
        f" WHERE {where('')}",
        (start, end),
        # A run's stop has its day: it is one of the round's stops (evidence.stop_ids).
        (
            checkpoints.index,
            np.int64,
            procedures,
            np.int64,
            np.float64,
            exporters.index,
            evidence.stop_ids,
        ),
    )
    if not len(cp):
        return
    # The minutes of runs at stops of unknown time: few stops (open or contradictory), found
    # by the stops' index by day, their runs by stop.
    untimed_cp, untimed_day, untimed_procedure, untimed_minutes = db.columns(
        f"SELECT {db.id('p.checkpoint_id')}, p.arrival_day, p.procedure, p.minutes"
        " FROM stops s JOIN stop_procedures p ON p.stop_id = s.id"
        f" WHERE {where('s.')} AND s.dwell_minutes IS NULL AND {where('p.')}",
        (start, end, start, end),
        (checkpoints.index, np.int64, procedures, np.float64),
    )
    days_wide, kinds = end - start, len(procedures)
    key = (cp.astype(np.int64) * days_wide + (days - start)) * kinds + procedure
    untimed_key = (
        untimed_cp.astype(np.int64) * days_wide + (untimed_day - start)
    ) * kinds + untimed_procedure
    first = run_number == 1
    del cp, days, procedure, run_number
    cells, cell = np.unique(key, return_inverse=True)
    cell = cell.reshape(-1)
    n = len(cells)
    columns: list[list[Any]] = [
        _count(cell, n, first),
        _count(cell, n, ~np.isnan(minutes)),
        _sum(cell, minutes, n),
        _sum(np.searchsorted(cells, untimed_key), untimed_minutes, n),
        _sorted_values(cell, minutes, n),
        _exporters(cell, org, exporters, n, first),
    ]
    evidence_columns = evidence.per_cell(cell[first], n, stop[first])
    cp_stored, procedure_names = checkpoints.stored(), list(procedures)
    rows = []
    for i, found in enumerate(cells.tolist()):
        found, procedure_of = divmod(found, kinds)
        cp_of, day_of = divmod(found, days_wide)
        rows.append(
            (
                cp_stored[cp_of],
                start + day_of,
                procedure_names[procedure_of],
                *(column[i] for column in columns),
                index_of(columns[4][i]),
                *(column[i] for column in evidence_columns),
            )
        )
        if len(rows) == INSERT_ROWS:
            db.insert("day_cell_procedures", PROCEDURE_COLUMNS, rows)
            rows = []
    db.insert("day_cell_procedures", PROCEDURE_COLUMNS, rows)
