"""REPORTS_DATABASE_URL: the reports, their exports and the live status read a second database
(a read replica), and nothing is ever written there.

The world is built through the API on a primary, then copied (SQLite: the file, after a WAL
checkpoint; PostgreSQL: CREATE DATABASE … TEMPLATE), and the copy is given something only it
holds: a checkpoint renamed. After that the primary moves on (a new trip, a truck at a
checkpoint now), so the two disagree, and the app over both must answer every report as the
copy says and every shipment read as the primary says. The copy's every row (and on SQLite its
file, byte for byte) is the same after a full round of API calls, and a write tried on the
reports' session fails, in the ORM and in the database itself.
"""

import hashlib
import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.checkpoints.models import Checkpoint
from app.db import ReadOnlySession, write_transaction
from tests.conftest import (
    PG_URL,
    DatabaseUnderTest,
    create_pg_database,
    drop_pg_database,
    migrate,
)
from tests.factories import (
    API,
    Actor,
    admin,
    make_checkpoint,
    make_exporter,
    make_shipment,
    make_user,
)
from tests.reports.conftest import client_on
from tests.tracking.helpers import driver_day, driver_headers, event, from_now, sync

MARKER = "Only in the replica"
REPORTS = [
    ("checkpoints", {}),
    ("corridors", {}),
    ("agencies", {}),
    ("commodities", {}),
    ("procedures", {"by": "checkpoint"}),
    ("trends", {"interval": "week"}),
    ("trends", {"interval": "month", "by": "checkpoint"}),
]
TRIPS = 3


@dataclass
class Pair:
    """A primary that has moved on since its copy, the replica, was taken."""

    backend: str
    primary: str
    replica: str
    a: dict[str, Any]  # the checkpoint renamed in the replica
    b: dict[str, Any]
    at_copy: dict[str, Any]  # every report's answer, read on the primary as it was copied


@pytest.fixture(scope="module")
def pair(database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("replica")
    if database.backend == "postgres":
        primary = create_pg_database("clearance_primary")
        migrate(primary)
    else:
        primary = database.url_for_test(root)
    replica = ""
    try:
        with client_on(primary) as client:
            boss = admin(client)
            a, b = make_checkpoint(client, boss), make_checkpoint(client, boss)
            for _ in range(TRIPS):
                trip(client, make_exporter(client, boss), a, b)
            at_copy = every_report(client, boss)
        # The app is gone: its connections are closed, so the copy is of a quiet database.
        replica = copy_database(database.backend, primary, root / "replica.db")
        rename = update(Checkpoint).where(Checkpoint.code == a["code"]).values(name=MARKER)
        engine = create_engine(replica)
        with engine.begin() as connection:
            connection.execute(rename)
        engine.dispose()
        if database.backend == "sqlite":
            checkpoint_wal(replica)
        yield Pair(database.backend, primary, replica, a, b, at_copy)
    finally:
        if database.backend == "postgres":
            for url in (primary, replica):
                if url:
                    drop_pg_database(url)


def trip(client: TestClient, exporter: Actor, a: dict[str, Any], b: dict[str, Any]) -> str:
    """A finished trip through A then B, its events sent by the driver's phone in one sync."""
    shipment = make_shipment(client, exporter, route=[a["id"], b["id"]])
    response = sync(
        client, driver_day(a["id"], b["id"]), driver_headers(client, exporter, shipment)
    )
    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    return str(shipment["id"])


def copy_database(backend: str, primary: str, file: Path) -> str:
    if backend == "postgres":
        assert PG_URL is not None
        name = f"clearance_replica_{uuid.uuid4().hex[:10]}"
        admin_engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as connection:
            source = make_url(primary).database
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
        admin_engine.dispose()
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    shutil.copyfile(checkpoint_wal(primary), file)
    return f"sqlite:///{file}"


def checkpoint_wal(url: str) -> str:
    """Everything committed moved from the log into the file itself (which a copy then holds,
    and which no later reader changes); returns the file's name."""
    name = make_url(url).database
    assert name is not None
    connection = sqlite3.connect(name)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return name


def every_report(client: TestClient, who: Actor) -> dict[str, Any]:
    """Every report's JSON, without the moment it was read."""
    answers = {}
    for name, params in REPORTS:
        response = client.get(f"{API}/reports/{name}", params=params, headers=who.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        for moment in ("as_of", "generated_at"):
            body.pop(moment)
        answers[f"{name} {params}"] = body
    return answers


def rows(url: str, *queries: str) -> list[Any]:
    """Every row the queries answer, read by a connection of the test's own."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for query in queries for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def contents(url: str) -> dict[str, tuple[int, str]]:
    """Every table in the database (whatever the app's models say, alembic_version too), as a
    row count and a digest of its rows in a fixed order."""
    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    digests = {}
    for table in tables:
        found = sorted(repr(row) for row in rows(url, f'SELECT * FROM "{table}"'))
        digests[table] = (len(found), hashlib.sha256("\n".join(found).encode()).hexdigest())
    return digests


def file_digest(url: str) -> str:
    name = make_url(url).database
    assert name is not None
    return hashlib.sha256(Path(name).read_bytes()).hexdigest()


@pytest.fixture
def over_both(pair: Pair) -> Iterator[TestClient]:
    """The app with DATABASE_URL on the primary and REPORTS_DATABASE_URL on the replica."""
    with client_on(pair.primary, reports_database_url=pair.replica) as client:
        yield client


def test_reports_answer_as_the_replica_says(pair: Pair, over_both: TestClient) -> None:
    client = over_both
    boss = admin(client)
    shipment_id = trip(client, make_exporter(client, boss), pair.a, pair.b)  # the primary only

    answers = every_report(client, boss)

    # The replica's answers: what the primary said when it was copied, with the copy's own name.
    assert json.dumps(answers).count(MARKER) > 0
    unmarked = json.loads(json.dumps(answers).replace(MARKER, pair.a["name"]))
    assert unmarked == pair.at_copy
    # … and not the primary's, which has one more trip (and its own name for A).
    with client_on(pair.primary) as primary_only:
        on_primary = every_report(primary_only, admin(primary_only))
    assert MARKER not in json.dumps(on_primary)
    for report, answer in on_primary.items():
        assert answer != pair.at_copy[report], report
    by_code = {row["checkpoint_code"]: row for row in answers["checkpoints {}"]["items"]}
    assert by_code[pair.a["code"]]["stops"] == TRIPS
    assert by_code[pair.a["code"]]["checkpoint_name"] == MARKER
    # Reads of one shipment go to the primary: the new trip is there, with its stops.
    response = client.get(f"{API}/shipments/{shipment_id}", headers=boss.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "delivered"


def test_exports_read_the_replica(pair: Pair, over_both: TestClient) -> None:
    boss = admin(over_both)
    csv = over_both.get(
        f"{API}/reports/checkpoints", params={"format": "csv"}, headers=boss.headers
    )
    assert csv.status_code == 200, csv.text
    assert MARKER in csv.text
    assert pair.a["name"] not in csv.text
    xlsx = over_both.get(
        f"{API}/reports/checkpoints", params={"format": "xlsx"}, headers=boss.headers
    )
    assert xlsx.status_code == 200, xlsx.text


def test_live_status_reads_the_replica(pair: Pair, over_both: TestClient) -> None:
    """A truck arrives at A now, on the primary; the live status, read on the replica, does not
    count it yet (as a lagging replica would not) and says so by its last_event_at."""
    client = over_both
    boss = admin(client)
    exporter = make_exporter(client, boss)
    shipment = make_shipment(client, exporter, route=[pair.a["id"], pair.b["id"]])
    now = [
        {**event("departed", 0), "occurred_at": from_now(-60)},
        {**event("arrived", 0, checkpoint_id=pair.a["id"]), "occurred_at": from_now(-5)},
    ]
    response = sync(client, now, driver_headers(client, exporter, shipment))
    assert response.status_code == 200, response.text

    live = client.get(f"{API}/checkpoints/status", headers=boss.headers)
    assert live.status_code == 200, live.text
    by_code = {row["checkpoint_code"]: row for row in live.json()["items"]}
    assert by_code[pair.a["code"]]["checkpoint_name"] == MARKER
    assert by_code[pair.a["code"]]["trucks_now"] == 0
    on_primary = client.get(f"{API}/shipments/{shipment['id']}", headers=exporter.headers)
    assert on_primary.json()["status"] == "at_checkpoint"
    with client_on(pair.primary) as primary_only:
        live = primary_only.get(f"{API}/checkpoints/status", headers=admin(primary_only).headers)
    by_code = {row["checkpoint_code"]: row for row in live.json()["items"]}
    assert by_code[pair.a["code"]]["trucks_now"] >= 1


def test_nothing_is_written_to_the_replica(pair: Pair, over_both: TestClient) -> None:
    """A full round: sign-ins, an exporter made (it can read reports at once: it is known on
    the primary only), a shipment, its driver link, single events and a sync, every report in
    every format as an admin, an exporter and an advocate, the live status, the pages."""
    before = contents(pair.replica)
    file_before = file_digest(pair.replica) if pair.backend == "sqlite" else None
    primary_before = contents(pair.primary)
    client = over_both
    boss = admin(client)
    exporter = make_exporter(client, boss)
    advocate = make_user(client, boss, "advocate")
    shipment = make_shipment(client, exporter, route=[pair.a["id"], pair.b["id"]])
    driver = driver_headers(client, exporter, shipment)
    first, *rest = driver_day(pair.a["id"], pair.b["id"])
    posted = client.post(f"{API}/shipments/{shipment['id']}/events", json=first, headers=driver)
    assert posted.status_code == 201, posted.text
    assert sync(client, rest, driver).status_code == 200
    for headers in (boss.headers, exporter.headers, advocate.headers):
        for name, params in REPORTS:
            for fmt in ("json", "csv", "xlsx"):
                response = client.get(
                    f"{API}/reports/{name}", params={**params, "format": fmt}, headers=headers
                )
                assert response.status_code == 200, (name, fmt, response.text)
        assert client.get(f"{API}/checkpoints/status", headers=headers).status_code == 200
    for path in ("/healthz", "/readyz", "/dashboard", "/metrics"):
        assert client.get(path).status_code == 200, path
    client.get(f"{API}/shipments", headers=exporter.headers).raise_for_status()

    assert contents(pair.replica) == before
    if file_before is not None:
        assert file_digest(pair.replica) == file_before
    after = contents(pair.primary)
    assert after["events"][0] == primary_before["events"][0] + len(rest) + 1


def reports_sessions(client: TestClient) -> sessionmaker[Session]:
    return client.app.state.reports_session_factory  # type: ignore[attr-defined,no-any-return]


def test_a_write_on_the_reports_session_fails(pair: Pair, over_both: TestClient) -> None:
    sessions = reports_sessions(over_both)
    # The ORM refuses before anything reaches the database …
    with sessions() as session, pytest.raises(ReadOnlySession):
        session.execute(update(Checkpoint).values(name="written"))
    with sessions() as session:
        session.get_one(Checkpoint, uuid.UUID(pair.a["id"])).name = "written"
        with pytest.raises(ReadOnlySession):
            session.flush()
    with sessions() as session, pytest.raises(ReadOnlySession), write_transaction(session):
        pass
    # … and the database refuses what the ORM does not see.
    with sessions() as session, pytest.raises(DBAPIError, match="read-?only"):
        session.execute(text("UPDATE checkpoints SET name = 'written'"))
    names = {row[0] for row in rows(pair.replica, "SELECT name FROM checkpoints")}
    assert "written" not in names
    assert MARKER in names


def test_without_a_replica_the_reports_read_the_primary_and_never_write(
    client: TestClient,
) -> None:
    sessions = reports_sessions(client)
    assert sessions.kw["bind"] is client.app.state.engine  # type: ignore[attr-defined]
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    response = client.get(f"{API}/checkpoints/status", headers=boss.headers)
    assert checkpoint["code"] in {row["checkpoint_code"] for row in response.json()["items"]}
    with sessions() as session, pytest.raises(ReadOnlySession):
        session.execute(update(Checkpoint).values(name="written"))
