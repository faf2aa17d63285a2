"""`clearance seed-demo`: a deterministic, plausible, clearly synthetic world.

Exporters in Erbil, Sulaymaniyah, Duhok and Halabja ship cement, steel, dairy, food and
building materials to the other provinces. Each trip is a list of events, as a driver would
log them; `timeline.build` turns them into stops exactly as the API does, and everything is
written with bulk inserts. Checkpoints have their own heavy-tailed (log-normal) dwell times,
hold habits and receipt habits; some get better over the period and some worse; trucks move
by day, fewer on Fridays, and the mornings are slowest.
"""

import hashlib
import logging
import math
import random
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint

from app.auth.models import Role, User
from app.auth.passwords import Passwords
from app.checkpoints.models import Authority, Checkpoint, CheckpointKind, Jurisdiction
from app.db import Base, utcnow
from app.demo import bulk
from app.demo.places import DESTINATION_WEIGHTS, KRG, NAMES, PATHS
from app.geography import PROVINCE_CAPITALS, Province, estimate_road_km
from app.organizations.models import Organization
from app.shipments.models import CargoLine, RoutePoint, Shipment
from app.shipments.tracking_codes import ALPHABET
from app.tracking import geofence, materialize, timeline
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure, TrackingEvent
from app.tracking.vocabulary import EventType, HoldReason, Procedure
from app.types import CENT

logger = logging.getLogger(__name__)
DEMO_PASSWORD = "demo-password"
ADVOCATE_EMAIL = "advocate@demo.example"
DAYS = 180
FLUSH_EVERY = 1_000  # trips a chunk
WORKERS = 2  # processes making chunks while this one writes them


@dataclass(frozen=True)
class Goods:
    chapter: str
    hs_code: str
    description: str
    unit: str
    delay: float  # multiplies the checkpoint's dwell
    hold: float  # multiplies the checkpoint's hold probability
    reasons: tuple[HoldReason, ...]
    procedures: tuple[Procedure, ...]


GOODS = [
    Goods(
        "25",
        "252329",
        "Portland cement, 50 kg bags",
        "bag",
        1.0,
        1.0,
        (HoldReason.missing_document, HoldReason.security, HoldReason.fee_dispute),
        (Procedure.physical_inspection,),
    ),
    Goods(
        "72",
        "721420",
        "Reinforcing steel bars",
        "t",
        1.8,
        2.2,
        (
            HoldReason.permit_required,
            HoldReason.classification_dispute,
            HoldReason.missing_document,
        ),
        (Procedure.permit_verification, Procedure.physical_inspection),
    ),
    Goods(
        "04",
        "040120",
        "Milk and yoghurt, chilled",
        "pallet",
        1.4,
        1.6,
        (HoldReason.quality_test_pending, HoldReason.missing_document),
        (Procedure.quality_testing,),
    ),
    Goods(
        "19",
        "190590",
        "Bread and pastries",
        "pallet",
        1.2,
        1.1,
        (HoldReason.quality_test_pending, HoldReason.missing_document),
        (Procedure.quality_testing,),
    ),
    Goods(
        "68",
        "681011",
        "Concrete blocks",
        "t",
        1.1,
        1.0,
        (HoldReason.missing_document, HoldReason.security),
        (Procedure.physical_inspection,),
    ),
    Goods(
        "69",
        "690721",
        "Ceramic tiles",
        "box",
        1.1,
        1.2,
        (HoldReason.classification_dispute, HoldReason.missing_document),
        (Procedure.xray_scan,),
    ),
]
GOODS_WEIGHTS = [30, 22, 16, 12, 12, 8]


@dataclass
class _Checkpoint:
    id: uuid.UUID
    province: Province
    median: float
    sigma: float
    hold_rate: float
    receipt_rate: float
    drift: float  # the dwell factor at the end of the period; 1.0 at its start
    position: tuple[float, float]
    signal: float = 1.0  # how often a phone there has a fresh fix (mobile coverage), 0-1


def seed(
    session: Session,
    *,
    passwords: Passwords,
    shipments: int,
    seed: int,
    now: datetime | None = None,
    days: int = DAYS,
) -> dict[str, int]:
    """Fill an empty database with trips over the `days` before `now`; the same seed and `now`
    give the same data. Returns how many of each thing were written. Commits (on SQLite,
    anything already pending in the session first: see _pages_written_once)."""
    with _pages_written_once(session):
        return _seed(
            session, passwords=passwords, shipments=shipments, seed=seed, now=now, days=days
        )


def _seed(
    session: Session,
    *,
    passwords: Passwords,
    shipments: int,
    seed: int,
    now: datetime | None,
    days: int,
) -> dict[str, int]:
    rnd = random.Random(seed)
    checkpoints = _checkpoints(session, rnd)
    organizations = _organizations(session, rnd, passwords)
    end = (now or utcnow()).replace(second=0, microsecond=0)
    connection = session.connection()
    dialect = connection.dialect
    world = _World(
        seed,
        checkpoints,
        organizations,
        end - timedelta(days=days),
        end,
        dialect.name,
        dialect.driver,
    )
    chunks = [
        range(first, min(first + FLUSH_EVERY, shipments))
        for first in range(0, shipments, FLUSH_EVERY)
    ]
    written = {"events": 0, "stops": 0}
    with _bulk_load(connection), _generated(world, chunks) as generated:
        for chunk in generated:
            bulk.write(connection, chunk.tables)
            for key in written:
                written[key] += chunk.written[key]
    session.commit()
    return {
        "checkpoints": sum(len(group) for group in checkpoints.values()),
        "organizations": len(organizations),
        "shipments": shipments,
        **written,
    }


@contextmanager
def _pages_written_once(session: Session) -> Iterator[None]:
    """SQLite: the load in a rollback journal instead of the write-ahead log, when it can.

    In WAL mode every page of the load is written twice, into the log and then, at the
    checkpoint after the commit, into the database file: at 1M stops 17 GB written for a
    5.8 GB file, and a fifth of the load's time (bench/RESULTS.md). A rollback journal
    keeps copies only of pages that existed before the transaction, none of the pages an
    empty database grows by, so they are written once, and the load is as atomic. The mode
    can only change while this is the file's one connection (say, not beside a running
    server); otherwise the load stays in WAL. While it runs, no other connection can open
    the file (it waits for the busy timeout, then fails; in WAL mode it would have read the
    empty database until the commit). WAL again afterwards (every new connection asks for
    it too, see app/db.py)."""
    engine = session.get_bind()
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        yield
        return
    session.commit()  # the caller's read transaction (is_empty) would keep the file open
    switched = _sqlite_journal_mode(engine, "DELETE") == "delete"
    try:
        yield
    finally:
        if switched:
            session.rollback()  # after a failure: the connection back to the pool, unlocked
            if _sqlite_journal_mode(engine, "WAL") != "wal":
                # Not lost: the next connection the app opens asks for WAL again.
                logger.warning("the demo load could not put the SQLite file back in WAL mode")


def _sqlite_journal_mode(engine: Engine, mode: str) -> str | None:
    raw = engine.raw_connection()  # outside any transaction: the mode cannot change in one
    try:
        assert raw.driver_connection is not None
        return str(raw.driver_connection.execute(f"PRAGMA journal_mode={mode}").fetchone()[0])
    except Exception:  # "database is locked": another connection has the file open
        return None
    finally:
        raw.close()


@dataclass(frozen=True)
class _World:
    """Everything a trip is made from; each trip has its own random stream, seeded by the
    world's seed and the trip's number, so trips can be made in any order, anywhere."""

    seed: int
    checkpoints: dict[Province, list["_Checkpoint"]]
    organizations: list[tuple[uuid.UUID, Province]]
    start: datetime
    end: datetime
    dialect: str  # the database's dialect and driver: rows are made in its representation
    driver: str

    def trips(self, numbers: range) -> "_Chunk":
        rows = _Rows(bulk.Formatter(bulk.dialect_named(self.dialect, self.driver)))
        for n in numbers:
            stream = self.seed * 1_000_003 + n
            rnd = random.Random(stream)
            phone = _Phone(random.Random(stream + _PHONE_STREAMS))
            org, home = rnd.choice(self.organizations)
            _trip(rnd, phone, n, org, home, self.checkpoints, self.start, self.end, rows)
        return rows.for_database()


@contextmanager
def _generated(world: _World, chunks: list[range]) -> Iterator[Iterator["_Chunk"]]:
    """The chunks' rows, in order. With more than two chunks, WORKERS other processes make
    them while this one writes: making trips costs more than writing their rows, and
    with two workers on two cores the writer still gets the share it needs."""
    if len(chunks) <= 2:
        yield (world.trips(chunk) for chunk in chunks)
        return
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=get_context("spawn")) as pool:
        yield _in_order(pool, world, chunks)


def _in_order(pool: ProcessPoolExecutor, world: _World, chunks: list[range]) -> Iterator["_Chunk"]:
    # A few chunks made ahead of the writer per worker: memory stays flat at any size.
    ahead: deque[Future[_Chunk]] = deque()
    for chunk in chunks:
        ahead.append(pool.submit(world.trips, chunk))
        if len(ahead) == 2 * WORKERS + 1:
            yield ahead.popleft().result()
    while ahead:
        yield ahead.popleft().result()


# The tables a trip fills, in the order their rows are written (foreign keys first). Their
# secondary indexes are dropped while the trips load and built afterwards: one sorted build
# per index instead of millions of random B-tree insertions. Unique constraints stay, as
# checks; the ids the generator makes sort by trip (see _ordered_id), so the primary keys and
# the unique indexes led by shipment_id grow at their end.
_BULK_TABLES = (
    Shipment,
    CargoLine,
    RoutePoint,
    TrackingEvent,
    Stop,
    StopHold,
    StopProcedure,
    StopFee,
)


@contextmanager
def _bulk_load(connection: Connection) -> Iterator[None]:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # For this load only: a larger page cache, in-memory sorts for the index builds, and
        # no CHECK constraints (on SQLite they were half the cost of inserting an event: the
        # enum columns' IN lists). Every value of an enum column is checked against the same
        # list before it is written (bulk.converter), and the events' come from the enums.
        restore = {
            pragma: int(connection.exec_driver_sql(f"PRAGMA {pragma}").scalar_one())
            for pragma in ("cache_size", "temp_store", "ignore_check_constraints")
        }
        connection.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB; the default: 2 MiB
        connection.exec_driver_sql("PRAGMA temp_store=MEMORY")
        connection.exec_driver_sql("PRAGMA ignore_check_constraints=ON")
    else:
        # Index builds sort in memory rather than in temporary files (this transaction only).
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
    indexes = [
        index for model in _BULK_TABLES for index in _table(model).indexes if not index.unique
    ]
    # PostgreSQL checks a foreign key with a trigger and a query for every inserted row (~19M
    # of them here); added back after the load, each is validated with one join instead. In
    # the same transaction: nothing else ever sees the tables without them.
    foreign_keys = (
        []
        if sqlite
        else [fk for model in _BULK_TABLES for fk in _table(model).foreign_key_constraints]
    )
    for index in indexes:
        index.drop(connection)
    for foreign_key in foreign_keys:
        connection.execute(DropConstraint(foreign_key))
    try:
        yield
        for index in indexes:
            index.create(connection)
        for foreign_key in foreign_keys:
            connection.execute(AddConstraint(foreign_key))
    finally:
        if sqlite:
            for pragma, value in restore.items():
                connection.exec_driver_sql(f"PRAGMA {pragma}={value}")


def _table(model: type[Base]) -> Table:
    return model.metadata.tables[model.__tablename__]


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Shipment))


def _checkpoints(session: Session, rnd: random.Random) -> dict[Province, list[_Checkpoint]]:
    by_province: dict[Province, list[_Checkpoint]] = {}
    rows = []
    for province, (english, arabic, kurdish) in NAMES.items():
        krg = province in KRG
        for number in (1, 2):
            lat, lon = PROVINCE_CAPITALS[province]
            position = (
                round(lat + rnd.uniform(-0.35, 0.35), 4),
                round(lon + rnd.uniform(-0.35, 0.35), 4),
            )
            checkpoint = _Checkpoint(
                id=uuid.UUID(int=rnd.getrandbits(128), version=4),
                province=province,
                median=math.exp(rnd.gauss(math.log(22 if krg else 38), 0.55)),
                sigma=rnd.uniform(0.45, 1.05),
                hold_rate=rnd.uniform(0.03, 0.12) if krg else rnd.uniform(0.06, 0.30),
                receipt_rate=rnd.uniform(0.55, 0.95),
                drift=rnd.choice([0.7, 0.85, 1.0, 1.0, 1.0, 1.2, 1.4]),
                position=position,
            )
            # From the id, not from `rnd`: the checkpoints' stream stays what it was.
            checkpoint.signal = random.Random(checkpoint.id.int).uniform(0.8, 1.0)
            by_province.setdefault(province, []).append(checkpoint)
            kind = CheckpointKind.internal if krg else CheckpointKind.province_entry
            rows.append(
                {
                    "id": checkpoint.id,
                    "code": f"DEMO-{english.upper().replace(' ', '')[:6]}-{number}",
                    "name": f"{english} {'exit' if krg else 'entry'} {number} (synthetic)",
                    "name_ar": f"سيطرة {arabic} {number} (بيانات تجريبية)",
                    "name_ckb": f"بازگەی {kurdish} {number} (نموونەیی)",
                    "province": province,
                    "kind": kind,
                    "authority": rnd.choice([Authority.security, Authority.police, Authority.joint])
                    if krg
                    else rnd.choice(
                        [Authority.army, Authority.police, Authority.customs, Authority.joint]
                    ),
                    "jurisdiction": Jurisdiction.krg
                    if krg
                    else rnd.choice(
                        [Jurisdiction.federal, Jurisdiction.federal, Jurisdiction.joint]
                    ),
                    "latitude": position[0],
                    "longitude": position[1],
                    "active": True,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
    session.execute(insert(Checkpoint), rows)
    return by_province


def _organizations(
    session: Session, rnd: random.Random, passwords: Passwords
) -> list[tuple[uuid.UUID, Province]]:
    trades = ["Cement", "Steel", "Dairy", "Foods", "Building Materials", "Ceramics"]
    organizations: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    for number in range(12):
        home = KRG[number % len(KRG)]
        org_id = uuid.UUID(int=rnd.getrandbits(128), version=4)
        name = f"Demo {trades[number % len(trades)]} Co. {number + 1} ({NAMES[home][0]})"
        organizations.append({"id": org_id, "name": name, "province": home, "created_at": utcnow()})
        users.append(
            {
                "id": uuid.UUID(int=rnd.getrandbits(128), version=4),
                "email": f"exporter{number + 1}@demo.example",
                "full_name": f"Shipping desk, {name}",
                "password_hash": passwords.hash(DEMO_PASSWORD),
                "role": Role.exporter,
                "organization_id": org_id,
                "is_active": True,
                "created_at": utcnow(),
            }
        )
    users.append(
        {
            "id": uuid.UUID(int=rnd.getrandbits(128), version=4),
            "email": ADVOCATE_EMAIL,
            "full_name": "Union analyst (demo)",
            "password_hash": passwords.hash(DEMO_PASSWORD),
            "role": Role.advocate,
            "organization_id": None,
            "is_active": True,
            "created_at": utcnow(),
        }
    )
    session.execute(insert(Organization), organizations)
    session.execute(insert(User), users)
    return [(o["id"], o["province"]) for o in organizations]


class _Rows:
    """A chunk's rows, as dicts of column values (the stop rows as materialize makes them);
    the events' already in the database's representation."""

    def __init__(self, formatter: bulk.Formatter) -> None:
        self.formatter = formatter
        self.event_format = _EventFormat(formatter)
        self.shipments: list[dict[str, Any]] = []
        self.cargo: list[dict[str, Any]] = []
        self.route: list[dict[str, Any]] = []
        self.events: list[tuple[Any, ...]] = []  # in the database's representation
        self.stops = materialize.StopRows()
        self.trips: dict[uuid.UUID, materialize.TripFacts] = {}  # the stop rows' report keys

    def for_database(self) -> "_Chunk":
        def formatted(model: type[Base], rows: list[dict[str, Any]]) -> list[bulk.TableRows]:
            return [self.formatter.table_rows(_table(model), rows)] if rows else []

        materialize.apply_trip_facts(self.stops, self.trips)
        events = _table(TrackingEvent).name, list(EVENT_COLUMNS), self.events
        tables = [  # in _BULK_TABLES' order: foreign keys first
            *formatted(Shipment, self.shipments),
            *formatted(CargoLine, self.cargo),
            *formatted(RoutePoint, self.route),
            *([bulk.TableRows(*events)] if self.events else []),
            *formatted(Stop, self.stops.stops),
            *formatted(StopHold, self.stops.holds),
            *formatted(StopProcedure, self.stops.procedures),
            *formatted(StopFee, self.stops.fees),
        ]
        return _Chunk(tables, {"events": len(self.events), "stops": len(self.stops.stops)})


@dataclass
class _Chunk:
    """What a worker hands the writer: each table's rows, ready for the driver."""

    tables: list[bulk.TableRows]
    written: dict[str, int]


def _trip(
    rnd: random.Random,
    phone: "_Phone",
    n: int,
    org: uuid.UUID,
    home: Province,
    checkpoints: dict[Province, list[_Checkpoint]],
    start: datetime,
    end: datetime,
    out: _Rows,
) -> None:
    goods = rnd.choices(GOODS, GOODS_WEIGHTS)[0]
    destination = rnd.choices(list(DESTINATION_WEIGHTS), list(DESTINATION_WEIGHTS.values()))[0]
    route = [rnd.choice(checkpoints[home])] + [
        rnd.choice(checkpoints[p]) for p in PATHS[destination]
    ]
    departed = _departure(rnd, start, end)
    progress = (departed - start) / (end - start)  # 0 at the start of the period, 1 at its end
    shipment_id = _ordered_id(rnd, n, 0)
    log = _Log(rnd, end)
    log.add(EventType.departed, departed, fix=phone.near(PROVINCE_CAPITALS[home]))
    clock = departed
    outcome = "delivered"
    previous: _Checkpoint | None = None
    for checkpoint in route:
        # No faster than 90 km/h in a straight line from the last checkpoint (the timeline
        # flags travel over 130 km/h as impossible).
        least = _km(previous.position, checkpoint.position) / 90 * 60 if previous else 0.0
        clock += timedelta(minutes=max(rnd.uniform(35, 140), least))
        previous = checkpoint
        clock, outcome = _stop(rnd, log, phone, checkpoint, goods, clock, progress)
        if outcome == "turned_back":
            break
    if outcome != "turned_back":
        log.add(
            EventType.delivered,
            clock + timedelta(minutes=rnd.uniform(45, 240)),
            fix=phone.near(PROVINCE_CAPITALS[destination]),
        )
    # The places the event writer gives the timeline (every demo checkpoint has the default
    # fence), so that the demo's stops are the API's for the same events.
    places = {c.id: geofence.Place(*c.position) for c in route}
    built = timeline.build(log.events, places)
    positions = [
        PROVINCE_CAPITALS[home],
        *(c.position for c in route),
        PROVINCE_CAPITALS[destination],
    ]
    out.shipments.append(
        {
            "id": shipment_id,
            "tracking_code": "KRD-"
            + "".join(rnd.choice(ALPHABET) for _ in range(4))
            + "-"
            + "".join(rnd.choice(ALPHABET) for _ in range(4)),
            "organization_id": org,
            "reference": f"DEMO-{n:06d}",
            "origin_province": home,
            "origin_city": NAMES[home][0],
            "destination_province": destination,
            "destination_city": NAMES[destination][0],
            "truck_plate": f"{rnd.randint(10, 99)} {rnd.choice('ABC')} {rnd.randint(10000, 99999)}",
            "driver_name": "Demo driver",
            "driver_phone": f"+96475{rnd.randint(10000000, 99999999)}",
            "planned_departure": departed,
            "distance_km": estimate_road_km(positions),
            "distance_estimated": True,
            "created_at": departed - timedelta(hours=rnd.uniform(2, 48)),
            "updated_at": departed,
            **materialize.shipment_fields(built),
        }
    )
    quantity = Decimal(rnd.randint(10, 40))
    out.cargo.append(
        {
            "id": _ordered_id(rnd, n, 0),
            "shipment_id": shipment_id,
            "line_no": 1,
            "hs_code": goods.hs_code,
            "hs_chapter": goods.chapter,
            "description": goods.description,
            "quantity": quantity,
            "unit": goods.unit,
            "weight_kg": quantity * 1000,
            "value_usd": quantity * rnd.randint(90, 700),
        }
    )
    out.route += [
        {
            "id": _ordered_id(rnd, n, i),
            "shipment_id": shipment_id,
            "position": i,
            "checkpoint_id": c.id,
        }
        for i, c in enumerate(route)
    ]
    out.events += out.event_format.rows(rnd, n, shipment_id, log.events)
    materialize.add_stops(out.stops, shipment_id, org, built.stops)
    # The report keys, as StopRows.insert adds them when the API writes stops (there from the
    # cargo lines and the shipments table; a demo trip has one cargo line).
    out.trips[shipment_id] = materialize.TripFacts(
        goods.chapter, str(home), str(destination), out.shipments[-1]["distance_km"] is not None
    )


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return geofence.distance_m(*a, *b) / 1000


def _departure(rnd: random.Random, start: datetime, end: datetime) -> datetime:
    """Mostly between 05:00 and 15:00 local (UTC+3), fewer on Fridays; up to `end` itself,
    so that today's trips are on the road when the demo starts."""
    while True:
        day = start + timedelta(days=rnd.randrange((end - start).days + 1))
        if day.weekday() == 4 and rnd.random() < 0.6:
            continue
        local_hour = rnd.triangular(4.5, 16, 7)
        departure = day.replace(hour=0, minute=0) + timedelta(hours=local_hour - 3)
        if departure <= end:
            return departure


def _stop(
    rnd: random.Random,
    log: "_Log",
    phone: "_Phone",
    checkpoint: _Checkpoint,
    goods: Goods,
    arrived: datetime,
    progress: float,
) -> tuple[datetime, str]:
    local_hour = (arrived.hour + 3) % 24
    rush = 1.35 if 8 <= local_hour < 12 else 1.0
    drift = 1.0 + (checkpoint.drift - 1.0) * progress
    dwell = rnd.lognormvariate(math.log(checkpoint.median), checkpoint.sigma)
    dwell *= goods.delay * rush * drift
    phone.at(checkpoint)
    log.add(EventType.arrived, arrived, checkpoint_id=checkpoint.id, fix=phone.tap(arrival=True))
    clock = arrived + timedelta(minutes=rnd.uniform(1, 8))
    for procedure in (Procedure.document_check, *goods.procedures):
        if procedure != Procedure.document_check and rnd.random() > 0.45:
            continue
        took = max(2.0, rnd.lognormvariate(math.log(dwell / 5 + 3), 0.5))
        log.add(EventType.procedure_started, clock, procedure=procedure, fix=phone.tap())
        clock += timedelta(minutes=took)
        log.add(EventType.procedure_completed, clock, procedure=procedure, fix=phone.tap())
    if rnd.random() < 0.45:
        iqd = rnd.random() < 0.85
        amount = Decimal(
            rnd.choice([5000, 10000, 15000, 25000, 50000]) if iqd else rnd.choice([10, 20, 50, 100])
        )
        log.add(
            EventType.fee_paid,
            clock,
            fee=(amount, "IQD" if iqd else "USD", rnd.random() < checkpoint.receipt_rate),
            fix=phone.tap(),
        )
    outcome = "released"
    if rnd.random() < checkpoint.hold_rate * goods.hold:
        reason = rnd.choice(goods.reasons)
        log.add(EventType.held, clock, hold_reason=reason, fix=phone.tap())
        clock += timedelta(minutes=rnd.lognormvariate(math.log(dwell * 1.5 + 20), 0.8))
        if rnd.random() < 0.08:
            outcome = "turned_back"
    closed = max(clock + timedelta(minutes=1), arrived + timedelta(minutes=dwell))
    log.add(
        EventType.turned_back if outcome == "turned_back" else EventType.released,
        closed,
        fix=phone.tap(release=True),
    )
    return closed, outcome


class _Log:
    """A trip's events, as a phone logs them; nothing after `now` (trips still on the road)."""

    def __init__(self, rnd: random.Random, now: datetime) -> None:
        self.rnd, self.now = rnd, now
        self.events: list[timeline.Event] = []
        self.fees: dict[uuid.UUID, tuple[Decimal, str, bool]] = {}

    def add(
        self,
        kind: EventType,
        when: datetime,
        *,
        checkpoint_id: uuid.UUID | None = None,
        procedure: Procedure | None = None,
        hold_reason: HoldReason | None = None,
        fee: tuple[Decimal, str, bool] | None = None,
        fix: "_Fix | None" = None,
    ) -> None:
        if when > self.now:
            return
        event_id = uuid.UUID(int=self.rnd.getrandbits(128), version=4)
        self.events.append(
            timeline.Event(
                event_id=event_id,
                type=kind,
                occurred_at=when.replace(microsecond=0),
                checkpoint_id=checkpoint_id,
                # The types the database gives back (enums, cents), so the stop digests
                # match those of a rebuild through the API.
                procedure=procedure,
                hold_reason=hold_reason,
                fee_amount=fee[0].quantize(CENT) if fee else None,
                fee_currency=fee[1] if fee else None,
                fee_receipt=fee[2] if fee else None,
                lat=fix[0] if fix else None,
                lon=fix[1] if fix else None,
                accuracy_m=fix[2] if fix else None,
            )
        )


# (lat, lon, accuracy_m) of a tap, as the driver's page sends it.
_Fix = tuple[float, float, float]
# Added to a trip's stream number for its phone's stream: above every trip's own (seed × 1,000,003
# + trip stays far below 2**64), so no trip's phone shares a stream with another trip.
_PHONE_STREAMS = 1 << 64
SHARING = 0.72  # trips whose driver lets the page read the phone's position
CONTRADICTED = 0.045  # of a sharing trip's stops: one tap's fix clearly elsewhere
CONFIRMED = 0.955  # of the others, times the checkpoint's signal: arrival and release in the fence
STALE = 0.1  # taps at a confirmed stop that go without a fix (none fresh within 90 s)


class _Phone:
    """Where a trip's phone says each tap happened, from the trip's own second random stream.

    A trip whose driver does not share positions (1 − SHARING) has no fix on any tap. For a
    sharing trip, each stop is one of:
    - confirmed: the arrival and the release carry fixes inside the checkpoint's fence (up to
      70% of its radius off, accuracy 4-30 m), the taps between mostly too;
    - contradicted: the release (or turn-back) is tapped 6-40 km down the road, well over the
      timeline's 5 km (the driver forgot and tapped it later); the arrival is in the fence;
    - none: no fresh fix at the checkpoint (weak signal: the checkpoint's `signal`), only the
      arrival's, from the queue 0.5-4 km before the fence, which neither confirms nor contradicts.
    """

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.sharing = rnd.random() < SHARING
        self.place: tuple[float, float] = (0.0, 0.0)
        self.mode = "none"

    def at(self, checkpoint: _Checkpoint) -> None:
        """The next taps are at this checkpoint."""
        self.place = checkpoint.position
        if not self.sharing:
            self.mode = "off"
            return
        u = self.rnd.random()
        if u < CONTRADICTED:
            self.mode = "contradicted"
        elif self.rnd.random() < CONFIRMED * checkpoint.signal:
            self.mode = "confirmed"
        else:
            self.mode = "none"

    def tap(self, *, arrival: bool = False, release: bool = False) -> _Fix | None:
        mode = self.mode
        if mode == "off":
            return None
        radius = geofence.DEFAULT_RADIUS_M
        if mode == "none":
            return self._off(self.place, self.rnd.uniform(500, 4_000)) if arrival else None
        if mode == "contradicted" and release:
            return self._off(self.place, self.rnd.uniform(6_000, 40_000))
        if not (arrival or release) and self.rnd.random() < STALE:
            return None
        return self._off(self.place, 0.7 * radius * math.sqrt(self.rnd.random()))

    def near(self, town: tuple[float, float]) -> _Fix | None:
        """A departure's or a delivery's fix, somewhere in the town."""
        return self._off(town, self.rnd.uniform(200, 3_000)) if self.sharing else None

    def _off(self, place: tuple[float, float], metres: float) -> _Fix:
        bearing = self.rnd.uniform(0, 2 * math.pi)
        lat = place[0] + metres * math.cos(bearing) / 111_320
        lon = place[1] + metres * math.sin(bearing) / (111_320 * math.cos(math.radians(place[0])))
        return round(lat, 6), round(lon, 6), round(self.rnd.uniform(4, 30), 1)


class _EventFormat:
    """Event rows made straight in the database's representation: 6.4M of them at full size,
    where converting rows of Python values afterwards cost more than making them."""

    def __init__(self, formatter: bulk.Formatter) -> None:
        table = _table(TrackingEvent)
        if tuple(table.c.keys()) != EVENT_COLUMNS:  # a column added to events: add it here
            raise RuntimeError(
                f"the demo's event columns {EVENT_COLUMNS} are not the events table's "
                f"{tuple(table.c.keys())}"
            )
        self.uuid = formatter.converter(table, "event_id")
        self.time = formatter.converter(table, "occurred_at")
        self.amount = formatter.converter(table, "fee_amount")
        self.receipt = formatter.converter(table, "fee_receipt")
        self.types = _stored(formatter, table, "type", EventType)
        self.procedures = _stored(formatter, table, "procedure", Procedure)
        self.reasons = _stored(formatter, table, "hold_reason", HoldReason)
        self.checkpoints: dict[uuid.UUID | None, Any] = {None: None}

    def rows(
        self, rnd: random.Random, trip: int, shipment_id: uuid.UUID, events: list[timeline.Event]
    ) -> list[tuple[Any, ...]]:
        shipment = self.uuid(shipment_id)
        return [
            self._row(event, _ordered_int(rnd, trip, number), shipment, rnd.randint(1, 900))
            for number, event in enumerate(events)
        ]

    def _row(
        self, event: timeline.Event, row_id: int, shipment: Any, delay: int
    ) -> tuple[Any, ...]:
        checkpoint = self.checkpoints.get(event.checkpoint_id)
        if checkpoint is None and event.checkpoint_id is not None:
            checkpoint = self.checkpoints[event.checkpoint_id] = self.uuid(event.checkpoint_id)
        return (  # in EVENT_COLUMNS' order
            bulk.uuid_text(row_id),
            shipment,
            self.uuid(event.event_id),
            self.types[event.type],
            self.time(event.occurred_at),
            self.time(event.occurred_at + timedelta(seconds=delay)),
            checkpoint,
            self.procedures[event.procedure],
            self.reasons[event.hold_reason],
            self.amount(event.fee_amount),
            event.fee_currency,
            self.receipt(event.fee_receipt),
            None,  # note
            event.lat,
            event.lon,
            "driver",
            _content_hash(event),
            event.accuracy_m,
        )


# The events table's columns, in the order _EventFormat makes its rows' values (a tuple
# each: 6.4M of them at full size, where a dict per row cost more than its values).
EVENT_COLUMNS = (
    "id",
    "shipment_id",
    "event_id",
    "type",
    "occurred_at",
    "received_at",
    "checkpoint_id",
    "procedure",
    "hold_reason",
    "fee_amount",
    "fee_currency",
    "fee_receipt",
    "note",
    "latitude",
    "longitude",
    "source",
    "content_hash",
    "accuracy_m",
)


def _stored(
    formatter: bulk.Formatter, table: Table, key: str, members: type[StrEnum]
) -> dict[Any, Any]:
    """Each member of an enum (and None) as the column stores it."""
    convert = formatter.converter(table, key)
    return {value: convert(value) for value in [None, *members]}


# service.event_hash's canonical JSON (sorted keys, no spaces) for an event without a note,
# whose values are plain ASCII: json.dumps cost more than all the rest of an event row. A
# location is [lat, lon, accuracy_m], floats as json writes them (their repr). A test compares
# the two on every event of a demo world.
_CANONICAL = (
    '{"checkpoint_id":%s,"fee":%s,"hold_reason":%s,"location":%s,"note":null,'
    '"occurred_at":"%s","procedure":%s,"type":"%s"}'
)


def _content_hash(event: timeline.Event) -> str:
    fee = "null"
    if event.fee_amount is not None:
        receipt = {True: "true", False: "false", None: "null"}[event.fee_receipt]
        fee = f'["{event.fee_amount.quantize(CENT)}","{event.fee_currency}",{receipt}]'
    location = "null"
    if event.lat is not None:
        location = f"[{event.lat!r},{event.lon!r},{event.accuracy_m!r}]"
    canonical = _CANONICAL % (
        _json_text(event.checkpoint_id),
        fee,
        _json_text(event.hold_reason),
        location,
        event.occurred_at.astimezone(UTC).isoformat(),
        _json_text(event.procedure),
        event.type,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_text(value: object) -> str:
    return "null" if value is None else f'"{value}"'


_VERSION_BITS = 0xF << 76 | 0x3 << 62  # where a UUID keeps its version and variant


def _ordered_int(rnd: random.Random, trip: int, number: int) -> int:
    """A version-8 (custom) UUID, as an int, that sorts by trip, then by the row's number
    within the trip, with 76 random bits. A table's rows then arrive in key order and its
    primary key grows at its end: random v4 keys made 6.4M event rows random insertions all
    over a B-tree larger than the page cache (and the same for indexes led by shipment_id)."""
    value = trip << 96 | number << 80 | rnd.getrandbits(76)
    return value & ~_VERSION_BITS | 0x8 << 76 | 0x2 << 62


def _ordered_id(rnd: random.Random, trip: int, number: int) -> uuid.UUID:
    return uuid.UUID(int=_ordered_int(rnd, trip, number))
