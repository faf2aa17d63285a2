"""The demo data: deterministic, and exactly what the API would have stored for its events."""

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import (
    Integer,
    Table,
    Uuid,
    bindparam,
    case,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.db import Base
from app.demo import bulk, generator
from app.main import create_app
from app.shipments.models import Shipment
from app.tracking import materialize, service, timeline
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure, TrackingEvent
from tests.conftest import create_pg_database, drop_pg_database, make_settings, migrate
from tests.tracking.helpers import TABLES, stored_stop_rows

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _seed(
    app: FastAPI, shipments: int, seed: int = 3, days: int = generator.DAYS
) -> dict[str, int]:
    with app.state.session_factory() as session:
        return generator.seed(
            session,
            passwords=app.state.passwords,
            shipments=shipments,
            seed=seed,
            now=NOW,
            days=days,
        )


def _stops(session: Session, shipment_id: object) -> list[tuple[object, ...]]:
    rows = session.execute(
        select(
            Stop.seq,
            Stop.checkpoint_id,
            Stop.arrived_at,
            Stop.closed_at,
            Stop.outcome,
            Stop.dwell_minutes,
            Stop.hold_count,
            Stop.held_minutes,
            Stop.is_current,
        )
        .where(Stop.shipment_id == shipment_id)
        .order_by(Stop.seq)
    )
    return [tuple(row) for row in rows]


def test_demo_stops_are_what_the_events_give_through_the_api_path(
    app: FastAPI, client: TestClient
) -> None:
    written = _seed(app, shipments=40)

    assert written["shipments"] == 40
    assert written["checkpoints"] == 38
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == written["events"]
        for shipment in session.scalars(select(Shipment).order_by(Shipment.reference)):
            # What materialising the stored events from scratch gives, as every event write
            # through the API would store it.
            expected = _expected_stop_rows(session, shipment.id)
            assert stored_stop_rows(session, shipment.id) == expected, shipment.reference
            status = shipment.status
            service.rebuild(session, shipment)
            assert shipment.status == status
        session.rollback()


def _expected_stop_rows(session: Session, shipment_id: uuid.UUID) -> dict[str, list[Any]]:
    """What a from-scratch materialisation of the shipment's stored events gives, with its
    checkpoints' places as the event writer reads them (the fixes' evidence needs them)."""
    shipment = session.get_one(Shipment, shipment_id)
    events = [
        timeline.Event(*row)
        for row in session.execute(
            select(*service.TIMELINE_COLUMNS).where(TrackingEvent.shipment_id == shipment_id)
        )
    ]
    places = service.read_places(session, {e.checkpoint_id for e in events})
    rows = materialize.StopRows()
    built = timeline.build(events, places)
    materialize.add_stops(rows, shipment_id, shipment.organization_id, built.stops)
    materialize.add_trip_facts(session, rows)
    return {
        name: sorted(getattr(rows, name), key=lambda row: repr(sorted(row.items())))
        for name in TABLES
    }


def test_demo_stops_carry_the_evidence_of_their_taps_positions(
    app: FastAPI, client: TestClient
) -> None:
    """Most demo stops are confirmed by a tap's fix in the fence, a few contradicted by one
    clearly elsewhere (with the anomaly that names it), the rest without evidence; the
    shares differ from checkpoint to checkpoint (mobile coverage)."""
    _seed(app, shipments=600, seed=4)
    with app.state.session_factory() as session:
        counts = dict(
            session.execute(
                select(Stop.position_evidence, func.count()).group_by(Stop.position_evidence)
            ).all()
        )
        total = sum(counts.values())
        assert 0.50 < counts["confirmed"] / total < 0.70, counts
        assert 0.01 < counts["contradicted"] / total < 0.06, counts
        assert 0.25 < counts["none"] / total < 0.45, counts
        for anomalies in session.scalars(
            select(Stop.anomalies).where(Stop.position_evidence == "contradicted")
        ):
            assert "position_contradicts_checkpoint" in {a["code"] for a in anomalies}
        shares = [
            confirmed / stops
            for confirmed, stops in session.execute(
                select(
                    func.sum(case((Stop.position_evidence == "confirmed", 1), else_=0)),
                    func.count(),
                ).group_by(Stop.checkpoint_id)
            )
            if stops >= 50
        ]
        assert max(shares) - min(shares) > 0.08, shares


def test_every_demo_row_is_what_the_api_write_path_makes_of_its_events(
    app: FastAPI, client: TestClient
) -> None:
    """Every column, as stored: each shipment's stops, holds, procedures and fees are deleted
    and written again by the API's path (service.rebuild, StopRows.insert) from its stored
    events, and read back the same; every event's content hash is service.event_hash's."""
    _seed(app, shipments=40)
    with app.state.session_factory() as session:
        for shipment in session.scalars(select(Shipment).order_by(Shipment.reference)).all():
            demo = _stored_stop_rows(session, shipment.id)
            session.execute(delete(Stop).where(Stop.shipment_id == shipment.id))
            service.rebuild(session, shipment)
            assert _stored_stop_rows(session, shipment.id) == demo, shipment.reference
        events = session.execute(select(TrackingEvent.content_hash, *service.TIMELINE_COLUMNS))
        located = 0
        for content_hash, *columns in events:
            event = timeline.Event(*columns)
            # As the API hashes a location sent with its accuracy (every demo fix has one).
            fix = None if event.lat is None else (event.lat, event.lon, event.accuracy_m)
            located += fix is not None
            assert content_hash == service.event_hash(event, note=None, location=fix)
        assert located > 0
        session.rollback()


def _stored_stop_rows(session: Session, shipment_id: object) -> list[list[tuple[object, ...]]]:
    """The rows as the database holds them (no SQLAlchemy type processing: on SQLite, the
    exact text of every UUID and datetime), without the autoincremented ids."""
    rows = []
    for model in (Stop, StopHold, StopProcedure, StopFee):
        table = Base.metadata.tables[model.__tablename__]
        columns = [c.name for c in table.columns if not (c.primary_key and _is_int(c.type))]
        statement = text(
            f"SELECT {', '.join(columns)} FROM {table.name} WHERE shipment_id = :sid"
        ).bindparams(bindparam("sid", type_=Uuid()))
        rows.append(sorted(map(tuple, session.execute(statement, {"sid": shipment_id})), key=repr))
    return rows


def _is_int(type_: object) -> bool:
    return isinstance(type_, Integer)


def test_the_bulk_load_stores_values_as_sqlalchemy_would(
    app: FastAPI, client: TestClient, tmp_path: Path
) -> None:
    """The demo's rows reach the driver without SQLAlchemy's type processing. Copied through
    SQLAlchemy Core into a second database, every table reads back the same, value for value
    as the database holds it (on SQLite: the text of every UUID, datetime and JSON value)."""
    _seed(app, shipments=30)
    engine = app.state.engine
    if engine.dialect.name == "sqlite":
        copy_url = f"sqlite:///{tmp_path / 'copy.db'}"
    else:
        copy_url = create_pg_database("clearance_demo_copy")
    try:
        migrate(copy_url)
        copy_engine = create_engine(copy_url)
        with engine.connect() as source, copy_engine.begin() as target:
            # The copy's triggers mark its cells anew as its stops and trips go in: marks
            # are not copied.
            marks = ("rollup_dirty", "corridor_dirty")
            tables = [t for t in Base.metadata.sorted_tables if t.name not in marks]
            for table in tables:
                rows = [dict(row) for row in source.execute(select(table)).mappings()]
                if rows:
                    target.execute(insert(table), rows)
            for table in tables:
                assert _raw(target, table) == _raw(source, table), table.name
        copy_engine.dispose()
    finally:
        if engine.dialect.name != "sqlite":
            drop_pg_database(copy_url)


def _raw(connection: Connection, table: Table) -> list[tuple[object, ...]]:
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    rows = connection.exec_driver_sql(f'SELECT {columns} FROM "{table.name}"')
    return sorted(map(tuple, rows), key=repr)


@pytest.mark.parametrize("second_chunk", [1_000, 5], ids=["in-process", "worker-process"])
def test_the_same_seed_gives_the_same_world(
    app: FastAPI,
    client: TestClient,
    tmp_path: Path,
    second_chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also when the second world's trips are made in chunks by a worker process (as a large
    load is) rather than in this one: each trip has its own random stream."""
    scratch_url = f"sqlite:///{tmp_path / 'second.db'}"
    migrate(scratch_url)
    second = create_app(make_settings(scratch_url))
    worlds = []
    for world, chunk in ((app, generator.FLUSH_EVERY), (second, second_chunk)):
        monkeypatch.setattr(generator, "FLUSH_EVERY", chunk)
        _seed(world, shipments=25, seed=11)
        with world.state.session_factory() as session:
            worlds.append(_fingerprint(session))
    second.state.engine.dispose()

    assert worlds[0] == worlds[1]
    assert len(worlds[0][0]) == 25


def _fingerprint(session: Session) -> tuple[list[tuple[object, ...]], list[float | None]]:
    shipments = session.execute(
        select(
            Shipment.reference,
            Shipment.status,
            Shipment.destination_province,
            Shipment.transit_minutes,
            Shipment.tracking_code,
        ).order_by(Shipment.reference)
    ).all()
    dwell = session.scalars(
        select(Stop.dwell_minutes).order_by(Stop.arrived_at, Stop.dwell_minutes)
    ).all()
    return [tuple(row) for row in shipments], list(dwell)


def test_an_advocate_sees_figures_across_the_demo_exporters(
    app: FastAPI, client: TestClient
) -> None:
    # Three hundred trips in two days: dense enough that checkpoint-days pass the advocates'
    # cell thresholds (ten completed stops from three exporters, app/privacy.py).
    _seed(app, shipments=300, days=2)
    token = client.post(
        "/api/v1/auth/token",
        data={"username": generator.ADVOCATE_EMAIL, "password": generator.DEMO_PASSWORD},
    ).json()["access_token"]
    report = client.get(
        "/api/v1/reports/checkpoints", headers={"Authorization": f"Bearer {token}"}
    ).json()
    shown = [row for row in report["items"] if not row["suppressed"]]
    assert len(shown) >= 10
    assert all(row["p90_dwell_minutes"] >= row["p50_dwell_minutes"] for row in shown)
    steel, cement = (
        next(
            r
            for r in client.get(
                "/api/v1/reports/commodities", headers={"Authorization": f"Bearer {token}"}
            ).json()["items"]
            if r["hs_chapter"] == chapter
        )
        for chapter in ("72", "25")
    )
    assert steel["p50_dwell_minutes"] > cement["p50_dwell_minutes"]  # the story the demo tells


def test_seed_demo_command_fills_an_empty_database_once(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
    }
    command = [sys.executable, "-m", "app.cli", "seed-demo", "--shipments", "20"]
    root = Path(__file__).resolve().parents[2]
    first = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "20 shipments" in first.stdout
    again = subprocess.run(
        [*command, "--if-empty"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "already has shipments" in again.stdout


def test_the_demo_has_trips_on_the_road_now(app: FastAPI, client: TestClient) -> None:
    """A living system: some of today's trips have left and not yet arrived, some wait at a
    checkpoint, and nothing happened after `now`."""
    _seed(app, shipments=1_500, seed=5)
    with app.state.session_factory() as session:
        statuses = session.scalars(select(Shipment.status)).all()
        on_the_road = [s for s in statuses if s in ("in_transit", "at_checkpoint", "held")]
        assert len(on_the_road) >= 3, sorted(set(statuses))
        assert session.scalar(select(func.count()).where(Stop.is_current)) >= 1
        latest = session.scalar(select(func.max(TrackingEvent.occurred_at)))
        assert latest is not None
        assert latest <= NOW


def test_a_sqlite_load_skips_check_constraints_only_while_it_runs(tmp_path: Path) -> None:
    """The load's pragmas are its own: afterwards the connection checks, caches and sorts as
    before, and the indexes dropped for the load are back."""
    url = f"sqlite:///{tmp_path / 'pragmas.db'}"
    migrate(url)
    engine = create_app(make_settings(url)).state.engine
    pragmas = ("cache_size", "temp_store", "ignore_check_constraints")
    with engine.begin() as connection:
        before = {p: connection.exec_driver_sql(f"PRAGMA {p}").scalar() for p in pragmas}
        indexes = connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
        with generator._bulk_load(connection):
            assert connection.exec_driver_sql("PRAGMA ignore_check_constraints").scalar() == 1
        assert {p: connection.exec_driver_sql(f"PRAGMA {p}").scalar() for p in pragmas} == before
        assert connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar() == indexes
    engine.dispose()


@pytest.mark.parametrize("another_connection", [False, True])
def test_a_sqlite_load_writes_its_pages_once_when_it_can(
    tmp_path: Path, another_connection: bool
) -> None:
    """Alone with the file (as `seed-demo` is), the load goes through a rollback journal and
    writes its pages once, not into the write-ahead log and again at the checkpoint; beside
    another connection the mode cannot change, and the load goes through the log. Either
    way the data is all there and the file is in WAL mode afterwards."""
    path = tmp_path / "journal.db"
    migrate(f"sqlite:///{path}")
    app = create_app(make_settings(f"sqlite:///{path}"))
    with closing(sqlite3.connect(path)) as other:
        if another_connection:  # as a running server's connections are, having read
            other.execute("PRAGMA journal_mode=WAL").fetchall()
            other.execute("SELECT count(*) FROM shipments").fetchall()
        with app.state.session_factory() as session:
            assert generator.is_empty(session)  # as the command does: a read first
            generator.seed(session, passwords=app.state.passwords, shipments=200, seed=3, now=NOW)
        # Measured while connections are open: the last one to close removes the log.
        wal = path.with_name("journal.db-wal")
        logged = wal.stat().st_size if wal.exists() else 0
        assert other.execute("SELECT count(*) FROM shipments").fetchone()[0] == 200
    app.state.engine.dispose()
    with closing(sqlite3.connect(path)) as fresh:
        assert fresh.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    if another_connection:
        assert logged > 500_000  # the pages went through the log (and back at the checkpoint)
    else:
        assert logged == 0


def test_enum_values_are_checked_before_a_bulk_load_writes_them() -> None:
    from sqlalchemy.dialects import sqlite

    type_column = Base.metadata.tables["events"].c.type
    convert = bulk.converter(type_column, sqlite.dialect())
    assert convert("arrived") == "arrived"
    with pytest.raises(LookupError):
        convert("teleported")
