"""Bulk-load N synthetic stops (with their shipments, cargo lines, holds, procedures and fees)
straight into a migrated database, for timing the reports at millions of stops.

The figures are plausible, not real: heavy-tailed dwell times per checkpoint, holds on a
share of stops, some turn-backs, fees with and without receipts. The same seed gives the
same rows, ids included, on either database: trips are made in chunks of CHUNK_TRIPS, each
from a random stream seeded by the seed and the chunk's number, so the rows depend neither
on which process makes them nor on which tables it asks for.

How the rows go in (bench/RESULTS.md, session 6, has what each step costs):

- Rows are made column by column with numpy, as tuples in each table's column order
  (TABLES), already in the form the driver stores: sqlite3's `executemany` of a prepared
  INSERT, or PostgreSQL's `COPY … FROM STDIN (FREEZE)` in text format. Ids sort by trip,
  so every primary key and unique index grows at its end.
- Two writer processes at once, one core each (GROUPS): the stops and holds, and all the
  rest. On PostgreSQL two connections, each in one transaction that empties its tables
  first (so COPY may FREEZE: no VACUUM needed for index-only scans). On SQLite two files, the second
  a copy of the migrated database, whose tables are then moved into the first by SQLite's
  transfer optimisation (records and index entries copied in order, nothing decoded or
  sorted). A load under PARALLEL_FROM stops runs in this process.
- Secondary indexes are dropped before the rows go in and built again after them from
  their own definitions (read from the database): one sorted build each instead of
  millions of insertions in random places.
- The rollup triggers (migrations/versions/20261206_day_cell_rollups.py) would mark a cell
  for every row: on PostgreSQL they are disabled around the COPY (DISABLE TRIGGER USER);
  on SQLite they are dropped and made again from the migration's own statements.
  `rollups.rebuild()` then computes every day cell (timed apart: it is part of the load),
  on PostgreSQL two rounds of days at once (`parallel`, one per writer the load had).
- PostgreSQL: foreign keys of and into the loaded tables are dropped and added back, each
  validated once by a join instead of a trigger per row. SQLite: a rollback journal instead
  of the write-ahead log (pages written once, as app/demo/generator.py does), no fsync, a
  1 GiB page cache for the index builds; foreign keys are not enforced during the load
  (`check=True` runs SQLite's own check afterwards, as the smoke test does).
"""

import os
import random
import re
import resource
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, text

from app.checkpoints.models import Authority, Checkpoint, CheckpointKind, Jurisdiction
from app.geography import Province
from app.organizations.models import Organization
from app.reports import rollups
from app.reports.models import DayCell
from app.shipments.models import CargoLine, Shipment, ShipmentStatus
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure
from app.tracking.vocabulary import HoldReason, Procedure, StopOutcome
from app.types import EPOCH

CHUNK_TRIPS = 2_000  # trips a chunk (fixed: the chunk's number seeds its random stream)
WORKERS = 2  # writer processes (one per core), each making its own tables' rows
PARALLEL_FROM = 100_000  # stops; a smaller load runs in this process (no start-up cost)
START = datetime(2025, 1, 1)  # naive UTC; the rows' times are UTC
CREATED = START.replace(tzinfo=UTC)  # for the rows written through SQLAlchemy
START_DAY = START.date().toordinal() - EPOCH
DAYS = 600  # departures spread over this many days
PROVINCES = [
    Province.kirkuk,
    Province.nineveh,
    Province.diyala,
    Province.salahaddin,
    Province.baghdad,
    Province.erbil,
    Province.sulaymaniyah,
    Province.duhok,
]
ORIGINS = [Province.erbil, Province.sulaymaniyah, Province.duhok]
CHAPTERS = ["04", "25", "72", "68", "19", "39", "73", "94"]

# Each table's columns in its own order; the columns left out are nullable or have a server
# default, and get NULL or that default (checked against the metadata by _check_columns).
TABLES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "shipments": (
        Shipment,
        (
            "id",
            "tracking_code",
            "organization_id",
            "status",
            "origin_province",
            "origin_city",
            "destination_province",
            "destination_city",
            "truck_plate",
            "driver_name",
            "driver_phone",
            "planned_departure",
            "distance_km",
            "distance_estimated",
            "departed_at",
            "delivered_at",
            "last_event_at",
            "transit_minutes",
            "anomalies",
            "events_version",
            "created_at",
            "updated_at",
        ),
    ),
    "cargo_lines": (
        CargoLine,
        (
            "id",
            "shipment_id",
            "line_no",
            "hs_code",
            "hs_chapter",
            "description",
            "quantity",
            "unit",
            "weight_kg",
            "value_usd",
        ),
    ),
    "stops": (
        Stop,
        (
            "id",
            "shipment_id",
            "organization_id",
            "checkpoint_id",
            "seq",
            "arrived_at",
            "closed_at",
            "outcome",
            "dwell_minutes",
            "hold_count",
            "held_minutes",
            "is_current",
            "last_event_at",
            "anomalies",
            "arrival_day",
            "hs_chapters",
            "origin_province",
            "destination_province",
            "trip_has_distance",
        ),
    ),
    "stop_holds": (
        StopHold,
        (
            "stop_id",
            "reason",
            "started_at",
            "ended_at",
            "minutes",
            "event_id",
            "shipment_id",
            "organization_id",
            "checkpoint_id",
            "arrived_at",
            "arrival_day",
            "hs_chapters",
        ),
    ),
    "stop_procedures": (
        StopProcedure,
        (
            "stop_id",
            "procedure",
            "started_at",
            "completed_at",
            "minutes",
            "run_number",
            "shipment_id",
            "organization_id",
            "checkpoint_id",
            "arrived_at",
            "arrival_day",
            "hs_chapters",
        ),
    ),
    "stop_fees": (
        StopFee,
        (
            "stop_id",
            "amount",
            "currency",
            "receipt",
            "paid_at",
            "event_id",
            "origin_province",
            "destination_province",
            "trip_has_distance",
            "shipment_id",
            "organization_id",
            "checkpoint_id",
            "arrived_at",
            "arrival_day",
            "hs_chapters",
        ),
    ),
}


@dataclass
class Loaded:
    """What a load wrote and how long each step took: wall-clock seconds, and CPU seconds
    of this process, its workers and (PostgreSQL) the loading connection's server process
    (parallel index builds' helpers not counted) — on a shared machine the CPU time says
    what the wall time would be on an idle one."""

    stops: int = 0
    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    index_seconds: dict[str, float] = field(default_factory=dict)  # each index's build
    writers: list["_Done"] = field(default_factory=list)  # what each writer did, and when
    backend_pid: int | None = None  # PostgreSQL's process serving the load, if local

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), self._cpu()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - wall
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + self._cpu() - cpu

    def _cpu(self) -> float:
        used = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            used += usage.ru_utime + usage.ru_stime
        if self.backend_pid is not None:
            try:
                fields = Path(f"/proc/{self.backend_pid}/stat").read_text().rsplit(")", 1)[1]
                ticks = fields.split()[11:13]  # utime, stime
                used += sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                self.backend_pid = None  # not on this machine
        return used


@dataclass(frozen=True)
class _World:
    """Everything a chunk of trips is made from (pickled to the workers)."""

    seed: int
    trips: int
    per_trip: int
    checkpoints: list[tuple[str, float]]  # (id as stored, dwell scale)
    organizations: list[str]
    postgres: bool  # rows as COPY text (PostgreSQL) or as sqlite3 parameters


def load(
    engine: Engine,
    stops: int,
    seed: int = 1,
    checkpoints: int = 40,
    organizations: int = 30,
    stops_per_shipment: int = 5,
    *,
    workers: int = WORKERS,
    drop_indexes: bool = True,
    drop_triggers: bool = True,
    build_rollups: bool = True,
    check: bool = False,
) -> Loaded:
    """Loads `stops` stops (a multiple of `stops_per_shipment`) into an empty migrated
    database. `drop_indexes`/`drop_triggers` False keep them during the load (to measure
    what dropping them saves); `check` validates SQLite's foreign keys afterwards."""
    postgres = engine.dialect.name == "postgresql"
    for model, columns in TABLES.values():
        _check_columns(model.__table__, columns)
    rnd = random.Random(seed)
    cps = _checkpoints(rnd, checkpoints)
    orgs = [
        {"id": _uuid(rnd), "name": f"Synthetic exporter {i}", "created_at": CREATED}
        for i in range(organizations)
    ]
    with engine.begin() as connection:
        if connection.scalar(text("SELECT count(*) FROM shipments")):
            raise RuntimeError("the database already has shipments: load into an empty one")
        connection.execute(
            insert(Checkpoint), [{k: v for k, v in c.items() if not k.startswith("_")} for c in cps]
        )
        connection.execute(insert(Organization), orgs)
    world = _World(
        seed=seed,
        trips=stops // stops_per_shipment,
        per_trip=stops_per_shipment,
        checkpoints=[(c["id"].hex, c["_scale"]) for c in cps],
        organizations=[o["id"].hex for o in orgs],
        postgres=postgres,
    )
    loaded = Loaded()
    parallel = workers > 1 and stops >= PARALLEL_FROM
    if postgres:
        _load_postgres(engine, world, parallel, drop_indexes, loaded)
    else:
        _load_sqlite(engine, world, parallel, drop_indexes, drop_triggers, check, loaded)
    if build_rollups:
        from app.config import Settings
        from app.db import create_db_engine, make_session_factory

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=engine.url.render_as_string(False), environment="test"
        )
        app_engine = create_db_engine(settings)
        with loaded.phase("rollups"):
            rollups.rebuild(
                make_session_factory(app_engine),
                days_per_round=_days_per_round(stops),
                parallel=workers,
            )
            _analyze(app_engine, [DayCell.__tablename__])
        app_engine.dispose()
    return loaded


def _days_per_round(stops: int) -> int:
    # About 500,000 stops a round, and at most 60 days: each round reads the whole of
    # stop_procedures once (it has no index by day), and the bulk rebuild holds a round's
    # stops (~100 bytes each; on PostgreSQL ~150 bytes of text, two or three copies for a
    # moment) and its cells' holds and fees (~1 KB a cell) in memory.
    per_day = max(1, stops // DAYS)
    return max(7, min(60, 500_000 // per_day))


def _analyze(engine: Engine, tables: list[str] | None = None) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            for table in tables or [""]:
                connection.execute(text(f"VACUUM ANALYZE {table}" if tables else "ANALYZE"))
        else:
            for table in tables or [""]:
                connection.execute(text(f"ANALYZE {table}"))


def _check_columns(table: Any, columns: tuple[str, ...]) -> None:
    """The columns are in the table's order, and those left out may be."""
    names = [column.name for column in table.columns]
    if [name for name in names if name in columns] != list(columns):
        raise AssertionError(f"{table.name}: columns not in the table's order: {columns}")
    for column in table.columns:
        if column.name in columns or column.nullable or column.server_default is not None:
            continue
        if column.primary_key and column.autoincrement in (True, "auto"):
            continue
        raise AssertionError(f"{table.name}.{column.name} is required: add it to TABLES")


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


def _checkpoints(rnd: random.Random, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": _uuid(rnd),
            "code": f"SYN-{i:03d}",
            "name": f"Synthetic checkpoint {i}",
            "province": rnd.choice(PROVINCES),
            "kind": rnd.choice(list(CheckpointKind)),
            "authority": rnd.choice(list(Authority)),
            "jurisdiction": rnd.choice(list(Jurisdiction)),
            "latitude": 33 + rnd.random() * 4,
            "longitude": 42 + rnd.random() * 4,
            "active": True,
            "created_at": CREATED,
            "updated_at": CREATED,
            # each checkpoint has its own typical delay: the median differs 10-fold across them
            "_scale": rnd.lognormvariate(3.5, 0.7),  # not a column: dropped before insert
        }
        for i in range(count)
    ]


# --- making rows --------------------------------------------------------------------------

Rows = dict[str, Any]  # table -> list of tuples (SQLite) or COPY text (PostgreSQL)
MINUTE = 60_000_000  # microseconds


def _chunk(world: _World, number: int, tables: tuple[str, ...] = tuple(TABLES)) -> Rows:
    """The rows of `tables` for trips [number × CHUNK_TRIPS, …), made column by column with
    numpy: the same whatever process makes them and whichever tables it asks for (every
    random number is drawn, in the same order, from a stream seeded by the seed and
    `number`; only the rows asked for are turned into the driver's values)."""
    rng = np.random.default_rng([world.seed, number])
    first = number * CHUNK_TRIPS
    trips = np.arange(first, min(first + CHUNK_TRIPS, world.trips), dtype=np.int64)
    n, per = len(trips), world.per_trip
    pg = world.postgres
    checkpoint_ids = np.array([c for c, _ in world.checkpoints])
    scales = np.array([s for _, s in world.checkpoints])

    # A trip: exporter, goods, corridor, distance, departure; then its stops in route order.
    org = np.array(world.organizations)[rng.integers(0, len(world.organizations), n)]
    chapter = np.array(CHAPTERS)[rng.integers(0, len(CHAPTERS), n)]
    origin = np.array([str(p) for p in ORIGINS])[rng.integers(0, len(ORIGINS), n)]
    destination = np.array([str(p) for p in PROVINCES])[rng.integers(0, len(PROVINCES), n)]
    distance = np.round(rng.uniform(150, 700, n), 1)
    departed = rng.integers(0, DAYS * 24 * 60, n) * MINUTE
    # `per` stops a trip, drawn without replacement from the checkpoints
    route = np.argsort(rng.random((n, len(scales))), axis=1)[:, :per]
    gap = rng.integers(20, 181, (n, per)) * MINUTE  # on the road before each stop
    dwell = np.round(rng.lognormal(0, 0.9, (n, per)) * scales[route], 2)
    dwell_us = np.round(dwell * MINUTE).astype(np.int64)
    arrived = departed[:, None] + np.cumsum(gap, axis=1) + np.cumsum(dwell_us, axis=1) - dwell_us
    closed = arrived + dwell_us
    held = rng.random((n, per)) < 0.2
    turned_back = rng.random(n) < 0.03  # at the last stop
    reason = rng.integers(0, len(HoldReason), (n, per))
    procedure = rng.integers(0, len(Procedure), (n, per))
    has_fee = rng.random((n, per)) < 0.5
    usd = rng.random((n, per)) >= 0.8
    iqd = rng.integers(0, 3, (n, per))
    receipt = rng.random((n, per)) < 0.6
    delivered = closed[:, -1] + rng.integers(30, 301, n) * MINUTE
    seq = np.tile(np.arange(1, per + 1), n)
    shipment_id = _ids(rng, trips, np.zeros(n, np.int64))
    stop_id = _ids(rng, np.repeat(trips, per), seq)
    line_id = _ids(rng, trips, np.full(n, per + 1))
    hold_event = _ids(rng, None, None, n * per)
    fee_event = _ids(rng, None, None, n * per)

    # Per stop (trip-major, so ids ascend), as flat arrays.
    def each_stop(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, per)

    last = seq == per
    dwell, held, arrived, closed = dwell.ravel(), held.ravel(), arrived.ravel(), closed.ravel()
    times: dict[str, np.ndarray] = {}  # made when a table asked for needs them

    def moment(name: str, us: Callable[[], np.ndarray]) -> np.ndarray:
        if name not in times:
            times[name] = _times(us(), pg)
        return times[name]

    def context() -> dict[str, Any]:  # what holds, procedures and fees copy from their stop
        return {
            "shipment_id": each_stop(shipment_id),
            "organization_id": each_stop(org),
            "checkpoint_id": checkpoint_ids[route].ravel(),
            "arrived_at": moment("arrived", lambda: arrived),
            "arrival_day": START_DAY + arrived // (24 * 60 * MINUTE),
            "hs_chapters": each_stop(chapter),
        }

    def corridor() -> dict[str, Any]:
        return {
            "origin_province": each_stop(origin),
            "destination_province": each_stop(destination),
            "trip_has_distance": True,
        }

    def stops() -> dict[str, Any]:
        closed_at = moment("closed", lambda: closed)
        return {
            "id": stop_id,
            **context(),
            **corridor(),
            "seq": seq,
            "closed_at": closed_at,
            "outcome": np.where(
                last & each_stop(turned_back),
                str(StopOutcome.turned_back),
                str(StopOutcome.released),
            ),
            "dwell_minutes": dwell,
            "hold_count": held.astype(np.int64),
            "held_minutes": np.where(held, dwell * 0.6, 0.0),
            "is_current": False,
            "last_event_at": closed_at,
            "anomalies": "[]",
        }

    def holds() -> dict[str, Any]:
        return {
            "stop_id": stop_id,
            "reason": np.array([str(r) for r in HoldReason])[reason.ravel()],
            "started_at": moment("arrived", lambda: arrived),
            "ended_at": moment("closed", lambda: closed),
            "minutes": dwell * 0.6,
            "event_id": hold_event,
            **context(),
        }

    def procedures() -> dict[str, Any]:
        done = moment("completed", lambda: arrived + np.round(dwell * MINUTE / 3).astype(np.int64))
        return {
            "stop_id": stop_id,
            "procedure": np.array([str(p) for p in Procedure])[procedure.ravel()],
            "started_at": moment("arrived", lambda: arrived),
            "completed_at": done,
            "minutes": dwell / 3,
            "run_number": 1,
            **context(),
        }

    def fees() -> dict[str, Any]:
        in_usd = usd.ravel()
        return {
            "stop_id": stop_id,
            "amount": np.where(in_usd, 20.0, np.array([5000.0, 10000.0, 25000.0])[iqd.ravel()]),
            "currency": np.where(in_usd, "USD", "IQD"),
            "receipt": receipt.ravel(),
            "paid_at": moment("arrived", lambda: arrived),
            "event_id": fee_event,
            **context(),
            **corridor(),
        }

    def shipments() -> dict[str, Any]:
        departed_at = moment("departed", lambda: departed)
        return {
            "id": shipment_id,
            "tracking_code": np.char.add("SYN-", np.char.zfill(trips.astype(str), 10)),
            "organization_id": org,
            "status": np.where(
                turned_back, str(ShipmentStatus.turned_back), str(ShipmentStatus.delivered)
            ),
            "origin_province": origin,
            "origin_city": "City",
            "destination_province": destination,
            "destination_city": "City",
            "truck_plate": "00 A 00000",
            "driver_name": "Driver",
            "driver_phone": "+9647000000000",
            "planned_departure": departed_at,
            "distance_km": distance,
            "distance_estimated": False,
            "departed_at": departed_at,
            "delivered_at": np.where(turned_back, None, _times(delivered, pg)),
            "last_event_at": moment("closed", lambda: closed)[last],
            "transit_minutes": np.where(turned_back, None, (delivered - departed) / MINUTE),
            "anomalies": "[]",
            "events_version": 0,
            "created_at": departed_at,
            "updated_at": departed_at,
        }

    def cargo_lines() -> dict[str, Any]:
        return {
            "id": line_id,
            "shipment_id": shipment_id,
            "line_no": 1,
            "hs_code": np.char.add(chapter, "0000"),
            "hs_chapter": chapter,
            "description": "Synthetic goods",
            "quantity": Decimal(20),
            "unit": "t",
            "weight_kg": Decimal(20000),
            "value_usd": Decimal(9000),
        }

    made: dict[str, tuple[Callable[[], dict[str, Any]], np.ndarray | None]] = {
        "shipments": (shipments, None),
        "cargo_lines": (cargo_lines, None),
        "stops": (stops, None),
        "stop_holds": (holds, held),
        "stop_procedures": (procedures, None),
        "stop_fees": (fees, has_fee.ravel()),
    }
    return {
        name: _table_rows(made[name][0](), TABLES[name][1], made[name][1], pg)
        for name in TABLES
        if name in tables
    }


def _ids(
    rng: np.random.Generator,
    trips: np.ndarray | None,
    numbers: np.ndarray | None,
    count: int = 0,
) -> np.ndarray:
    """UUIDs as stored (32 hex digits). With `trips`: sorting by trip, then by the row's
    number in it (app/demo/generator.py's _ordered_int: a table's rows arrive in key order
    and its primary key grows at its end); without: random (version 4)."""
    if trips is None or numbers is None:
        raw = rng.integers(0, 256, (count, 16), dtype=np.uint8)
        raw[:, 6] = raw[:, 6] & 0x0F | 0x40
    else:
        count = len(trips)
        raw = np.empty((count, 16), np.uint8)
        raw[:, :4] = trips.astype(">u4").view(np.uint8).reshape(count, 4)
        raw[:, 4:6] = numbers.astype(">u2").view(np.uint8).reshape(count, 2)
        raw[:, 6:] = rng.integers(0, 256, (count, 10), dtype=np.uint8)
        raw[:, 6] = raw[:, 6] & 0x0F | 0x80
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80
    return np.frombuffer(raw.tobytes().hex().encode(), dtype="S32").astype("U32")


def _times(us: np.ndarray, pg: bool) -> np.ndarray:
    """Microseconds after START as stored: SQLAlchemy's SQLite text (the UTC time, no
    offset) or a PostgreSQL timestamptz literal."""
    moments = np.datetime64(START, "us") + us.astype("timedelta64[us]")
    text = np.datetime_as_string(moments, unit="us").astype("S26")
    text.view(np.uint8).reshape(-1, 26)[:, 10] = ord(" ")
    if pg:
        text = np.char.add(text, b"+00")
    return text.astype(str)


def _table_rows(
    values: dict[str, Any], columns: tuple[str, ...], keep: np.ndarray | None, pg: bool
) -> Any:
    """One table's rows in its column order: tuples for sqlite3, or COPY's text format
    (tab-separated, \\N for NULL; no value here needs escaping)."""
    count = len(next(v for v in values.values() if isinstance(v, np.ndarray)))
    if keep is not None:
        count = int(keep.sum())
    made = []
    for column in columns:
        value = values[column]
        if not isinstance(value, np.ndarray):
            made.append(repeat(_stored(value, pg), count))
            continue
        if keep is not None:
            value = value[keep]
        if value.dtype == bool:
            value = np.where(value, "t", "f") if pg else value.astype(np.int64)
        elif value.dtype == object:  # values or None
            value = np.array(["\\N" if v is None else str(v) for v in value]) if pg else value
        made.append(value.astype(str).tolist() if pg else value.tolist())
    if not pg:
        return list(zip(*made, strict=False))
    if not count:
        return b""
    return ("\n".join(map("\t".join, zip(*made, strict=False))) + "\n").encode()


def _stored(value: Any, pg: bool) -> Any:
    """A constant as the driver stores it (as SQLAlchemy binds Numeric: str on PostgreSQL,
    float on SQLite)."""
    if isinstance(value, bool):
        return ("t" if value else "f") if pg else int(value)
    if isinstance(value, Decimal):
        return str(value) if pg else float(value)
    return str(value) if pg else value


# --- writing ------------------------------------------------------------------------------

# The tables split between two writers running at once (one core each), of about equal work
# at 10M stops: the stops with their eleven indexes, and the holds (~9% of the rest's rows and
# bytes; on PostgreSQL the stops alone took 311 s against 381 for the rest, session 14).
GROUPS = (("stops", "stop_holds"), ("shipments", "cargo_lines", "stop_procedures", "stop_fees"))


@dataclass
class _Job:
    """What one writer process does: its tables' rows, then their indexes and statistics."""

    url: str
    world: _World
    tables: tuple[str, ...]
    indexes: list[tuple[str, str]]  # (name, definition) to build after the rows
    disable_triggers: bool = False  # PostgreSQL: around the COPY


@dataclass
class _Done:
    tables: tuple[str, ...]
    stops: int = 0
    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    index_seconds: dict[str, float] = field(default_factory=dict)


def _run_jobs(jobs: list[_Job], parallel: bool, loaded: Loaded) -> None:
    """The jobs, each in a process of its own when `parallel`, else one after the other."""
    if parallel and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=len(jobs), mp_context=get_context("spawn")) as pool:
            done = list(pool.map(_write, jobs))
    else:
        done = [_write(job) for job in jobs]
    for result in done:
        loaded.stops += result.stops
        loaded.rows += result.rows
        loaded.index_seconds.update(result.index_seconds)
        loaded.writers.append(result)


def _write(job: _Job) -> _Done:
    if job.world.postgres:
        return _write_postgres(job)
    return _write_sqlite(job)


def _chunk_numbers(world: _World) -> range:
    return range(-(-world.trips // CHUNK_TRIPS))


# --- PostgreSQL ---------------------------------------------------------------------------


def _load_postgres(
    engine: Engine, world: _World, parallel: bool, drop_indexes: bool, loaded: Loaded
) -> None:
    """Secondary indexes and the foreign keys of and into the loaded tables dropped (and
    committed), two writers (COPY, then indexes), the foreign keys added back (each
    validated by one join)."""
    listed = ", ".join(f"'{name}'::regclass" for name in TABLES)
    with engine.begin() as connection:
        indexes = [
            (table, name, definition)
            for table, name, definition in connection.execute(
                text(
                    "SELECT indrelid::regclass::text, indexrelid::regclass::text, "
                    "pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid IN "
                    f"({listed}) AND NOT indisunique AND NOT indisprimary"
                )
            )
            if drop_indexes
        ]
        foreign_keys = connection.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM "
                f"pg_constraint WHERE contype = 'f' AND (conrelid IN ({listed}) "
                f"OR confrelid IN ({listed}))"
            )
        ).all()
        with loaded.phase("drop"):
            for _, name, _ in indexes:
                connection.execute(text(f"DROP INDEX {name}"))
            for table, name, _ in foreign_keys:
                connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    url = engine.url.render_as_string(False)
    jobs = [
        _Job(
            url,
            world,
            group,
            [(name, sql) for table, name, sql in indexes if table in group],
            disable_triggers=True,
        )
        for group in (GROUPS if parallel else (tuple(TABLES),))
    ]
    with loaded.phase("write"):
        _run_jobs(jobs, parallel, loaded)
    with loaded.phase("foreign_keys"), engine.begin() as connection:
        for table, name, definition in foreign_keys:
            connection.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    with loaded.phase("analyze"):
        _analyze(engine, ["checkpoints", "organizations"])


def _write_postgres(job: _Job) -> _Done:
    """COPY … FREEZE of the job's tables in one transaction that empties them first (so the
    rows are frozen and visible to all: no VACUUM needed for index-only scans), the rollup
    triggers disabled meanwhile; then their indexes, then ANALYZE."""
    from sqlalchemy import create_engine

    done = _Done(job.tables)
    engine = create_engine(job.url)
    loaded = Loaded()
    raw = engine.raw_connection()
    try:
        connection: Any = raw.driver_connection
        cursor = connection.cursor()
        loaded.backend_pid = connection.info.backend_pid
        tables = ", ".join(job.tables)
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        with loaded.phase("rows"):
            if job.disable_triggers:
                for table in job.tables:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor.execute(f"TRUNCATE {tables}")  # empty already: checked before the load
            statements = {
                name: f"COPY {name} ({', '.join(TABLES[name][1])}) FROM STDIN (FREEZE)"
                for name in job.tables
            }
            for number in _chunk_numbers(job.world):
                for name, data in _chunk(job.world, number, job.tables).items():
                    if data:
                        with cursor.copy(statements[name]) as copy:
                            copy.write(data)
                    lines = data.count(b"\n")
                    done.rows += lines
                    done.stops += lines if name == "stops" else 0
        with loaded.phase("indexes"):
            for name, definition in job.indexes:
                began = time.perf_counter()
                cursor.execute(definition)
                done.index_seconds[name] = time.perf_counter() - began
            if job.disable_triggers:
                for table in job.tables:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            connection.commit()
        with loaded.phase("analyze"):
            connection.autocommit = True
            cursor.execute(f"ANALYZE {tables}")
    finally:
        raw.close()
        engine.dispose()
    done.seconds, done.cpu_seconds = loaded.seconds, loaded.cpu_seconds
    return done


# --- SQLite -------------------------------------------------------------------------------

PRAGMAS = (
    "synchronous=OFF",  # a load that fails is loaded again: no fsync until it is done
    "cache_size=-1048576",  # 1 GiB: the index builds sort in memory
    "temp_store=MEMORY",
    "threads=2",  # the index builds' sorts may use both cores
    "foreign_keys=OFF",
    "ignore_check_constraints=ON",  # the enums' values come from the enums
)


def loaded_table_triggers(execute: Callable[[str], Any]) -> dict[str, str]:
    """The SQLite triggers on the tables the load fills (the rollups' marks of day and
    corridor cells), by name, as the database has them at its migration: they would mark
    every row loaded, and a table with triggers loses SQLite's transfer optimisation in the
    merge. Read from the database itself, so a migration that redefines one is followed."""
    listed = ", ".join(f"'{name}'" for name in TABLES)
    return {
        name: sql
        for name, sql in execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({listed})"
        )
    }


def _sqlite(path: str) -> sqlite3.Connection:
    """The file's connection for the load: a rollback journal (not the write-ahead log: an
    empty database's new pages are then written once, as app/demo/generator.py does), which
    needs the file to itself."""
    connection = sqlite3.connect(path, isolation_level=None)
    mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    if mode != "delete":
        connection.close()
        raise RuntimeError(f"{path} is open elsewhere: the load needs it alone ({mode})")
    for pragma in PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    return connection


def _load_sqlite(
    engine: Engine,
    world: _World,
    parallel: bool,
    drop_indexes: bool,
    drop_triggers: bool,
    check: bool,
    loaded: Loaded,
) -> None:
    """Two writers at once when `parallel`: the stops into the database file, everything else
    into a copy of it (same schema); then the copy's tables are moved in by SQLite's transfer
    optimisation (INSERT INTO t SELECT * FROM copy.t into an empty table with the same
    columns and indexes copies the pages' records in order, indexes included, without
    decoding or sorting anything)."""
    engine.dispose()  # the journal mode changes only on the file's one connection
    path = engine.url.database
    assert path
    connection = _sqlite(path)
    try:
        execute = connection.execute
        listed = ", ".join(f"'{name}'" for name in TABLES)
        indexes = [
            (table, name, sql)
            for table, name, sql in execute(
                "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql "
                f"IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({listed})"
            )
            if drop_indexes
        ]
        triggers = loaded_table_triggers(execute) if drop_triggers else {}
        groups = GROUPS if parallel else (tuple(TABLES),)
        files = [path] + [f"{path}.part{i}" for i in range(1, len(groups))]
        with loaded.phase("drop"):
            for name in triggers:
                execute(f"DROP TRIGGER {name}")
            connection.close()
            for copy in files[1:]:
                shutil.copyfile(path, copy)
            # In each file, the indexes of the tables it is filled with are dropped (built
            # again after its rows); the others stay, empty: the transfer fills them too.
            for file, group in zip(files, groups, strict=True):
                with closing(_sqlite(file)) as part:
                    for table, name, _ in indexes:
                        if table in group:
                            part.execute(f"DROP INDEX {name}")
        jobs = [
            _Job(f"sqlite:///{file}", world, group, [(n, s) for t, n, s in indexes if t in group])
            for file, group in zip(files, groups, strict=True)
        ]
        with loaded.phase("write"):
            _run_jobs(jobs, parallel, loaded)
        connection = _sqlite(path)
        execute = connection.execute
        with loaded.phase("merge"):
            for number, file in enumerate(files[1:]):
                execute(f"ATTACH DATABASE '{file}' AS part{number}")
            execute("BEGIN")
            for number, group in enumerate(groups[1:]):
                for table in group:
                    execute(f"INSERT INTO {table} SELECT * FROM part{number}.{table}")
                listed_group = ", ".join(f"'{t}'" for t in group)
                execute(
                    f"INSERT INTO sqlite_stat1 SELECT * FROM part{number}.sqlite_stat1 "
                    f"WHERE tbl IN ({listed_group})"
                )
            for statement in triggers.values():
                execute(statement)
            execute("COMMIT")
            for number in range(len(groups) - 1):
                execute(f"DETACH DATABASE part{number}")
            for file in files[1:]:
                Path(file).unlink()
        if check:
            with loaded.phase("foreign_keys"):
                problems = execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise AssertionError(f"foreign keys broken: {problems[:5]}")
        with loaded.phase("analyze"):
            execute("ANALYZE checkpoints")
            execute("ANALYZE organizations")
        execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _write_sqlite(job: _Job) -> _Done:
    """executemany of prepared INSERTs in one transaction, then the indexes, then ANALYZE."""
    done = _Done(job.tables)
    loaded = Loaded()
    with closing(_sqlite(job.url.removeprefix("sqlite:///"))) as connection:
        execute = connection.execute
        statements = {
            name: f"INSERT INTO {name} ({', '.join(TABLES[name][1])}) "
            f"VALUES ({', '.join('?' * len(TABLES[name][1]))})"
            for name in job.tables
        }
        with loaded.phase("rows"):
            execute("BEGIN")
            for number in _chunk_numbers(job.world):
                for name, rows in _chunk(job.world, number, job.tables).items():
                    connection.executemany(statements[name], rows)
                    done.rows += len(rows)
                    done.stops += len(rows) if name == "stops" else 0
            execute("COMMIT")
        with loaded.phase("indexes"):
            execute("BEGIN")
            for name, definition in job.indexes:
                began = time.perf_counter()
                execute(definition)
                done.index_seconds[name] = time.perf_counter() - began
            execute("COMMIT")
        with loaded.phase("analyze"):
            for table in job.tables:
                execute(f"ANALYZE {table}")
    done.seconds, done.cpu_seconds = loaded.seconds, loaded.cpu_seconds
    return done


# --- the loader alone ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """`python -m bench.synthetic_stops --stops 1000000 --db sqlite postgres`: each size into
    a fresh migrated database (bench/reports.py's, kept for its --reuse), timed by phase."""
    import argparse
    import json

    from bench.reports import load_average, prepare

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--stops", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    for db in args.db:
        for stops in args.stops:
            began, load = time.strftime("%H:%M:%S", time.gmtime()), load_average()
            _, found = prepare(db, stops, reuse=False)
            assert found is not None
            found = {"db": db, "stops": stops, "began": began, "load_before": load, **found}
            found["load_after"] = load_average()
            # This process's peak: the writers are processes of their own, so (when the load
            # runs them) it is the rollups' rebuild that sets it.
            status = Path("/proc/self/status").read_text()
            peak = re.search(r"VmHWM:\s+(\d+)", status)
            found["peak_rss_mb"] = int(peak[1]) / 1024 if peak else 0.0
            results.append(found)
            print(f"\n{db}, {stops:,} stops, {began} UTC (load {load} → {found['load_after']}):")
            print(f"  {'phase':<14} {'wall s':>9} {'CPU s':>9}")
            for phase, seconds in found["seconds"].items():
                print(f"  {phase:<14} {seconds:9.1f} {found['cpu_seconds'][phase]:9.1f}")
            for writer in found["writers"]:
                parts = " / ".join(
                    f"{p} {s:.1f} ({writer['cpu_seconds'][p]:.1f})"
                    for p, s in writer["seconds"].items()
                )
                print(f"  writer {'+'.join(writer['tables'])}: {parts}")
            print(f"  {'total':<14} {sum(found['seconds'].values()):9.1f}")
            print(f"  peak RSS of the loading process: {found['peak_rss_mb']:.0f} MB")
            if args.json:
                args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
