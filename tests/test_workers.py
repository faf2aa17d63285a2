"""Several workers (README "Several workers"): real server processes on one database. The
login throttle counts for all of them (in the database, or in Redis), the event writers' kept
projections stay true to the events whichever worker wrote them, and `clearance serve
--workers 2` starts on PostgreSQL.

Two uvicorn processes on two ports stand for two workers: with one shared port the kernel
decides which worker takes a request, and a test could not spread its requests on purpose.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.shipments.models import Shipment
from app.tracking import materialize, service, timeline
from app.tracking.models import TrackingEvent
from tests.auth.redis_helpers import redis_prefix
from tests.conftest import PG_URL, TEST_SECRET, create_pg_database, drop_pg_database
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API, assert_problem, shipment_payload
from tests.live_server import wait_until_ready
from tests.tracking.helpers import FEE, event, expected_stop_rows, stored_stop_rows

ROOT = Path(__file__).resolve().parent.parent
SHIPMENTS = 4
CHECKPOINTS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(db_url: str, **extra: str) -> dict[str, str]:
    """This environment without any of the service's settings, then the test's."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(
        DATABASE_URL=db_url,
        ENVIRONMENT="test",
        SECRET_KEY=TEST_SECRET,
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_KIB="1024",
        LOG_LEVEL="WARNING",
        LOG_JSON="false",
    )
    return {**env, **extra}


@contextmanager
def _servers(*servers: tuple[list[str], dict[str, str], Path]) -> Iterator[list[str]]:
    """Server processes (command, environment, where its output goes), started together
    (each imports the app for seconds), until each answers /readyz; stopped afterwards."""
    started: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for command, env, log in servers:
            port = _free_port()
            with log.open("w") as out:
                process = subprocess.Popen(
                    [*command, "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=out
                )
            started.append((process, f"http://127.0.0.1:{port}", log))
        for process, base, log in started:
            wait_until_ready(base, process, where_output_is=f"(output in {log})")
        yield [base for _, base, _ in started]
    finally:
        for process, _, _ in started:
            process.terminate()
        for process, _, _ in started:
            process.wait(timeout=30)


@contextmanager
def two_workers(db_url: str, tmp_path: Path, **extra: str) -> Iterator[list[str]]:
    """Two uvicorn processes on one (migrated) database; the first makes the admin."""
    uvicorn = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    admin = {"BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with _servers(
        (uvicorn, _env(db_url, **admin, **extra), tmp_path / "worker-1.log"),
        (uvicorn, _env(db_url, **extra), tmp_path / "worker-2.log"),
    ) as bases:
        yield bases


def _sign_in(base: str, email: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base}{API}/auth/token", data={"username": email, "password": password}, timeout=30
    )


@pytest.mark.slow
@pytest.mark.parametrize("store", ["database", "redis"])
def test_six_wrong_passwords_spread_over_two_workers_get_the_sixth_a_429(
    db_url: str, tmp_path: Path, store: str
) -> None:
    with ExitStack() as stack:
        extra = {}
        if store == "redis":
            url, prefix = stack.enter_context(redis_prefix())
            extra = {"REDIS_URL": url, "REDIS_KEY_PREFIX": prefix}
        workers = stack.enter_context(two_workers(db_url, tmp_path, **extra))
        # Three failures seen by each worker: only a count they share reaches five.
        statuses = [_sign_in(workers[n % 2], ADMIN_EMAIL, "wrong").status_code for n in range(6)]
        assert statuses == [401] * 5 + [429]
        # The sixth went to the second worker; the first refuses too, the right password included.
        refused = _sign_in(workers[0], ADMIN_EMAIL, ADMIN_PASSWORD)
        assert_problem(refused, 429)
        assert 0 < int(refused.headers["retry-after"]) <= 900


@pytest.mark.slow
def test_two_workers_writing_events_of_the_same_shipments_leave_what_a_rebuild_gives(
    db_url: str, tmp_path: Path
) -> None:
    """All shipments at once; each one's events in pairs, the first of a pair to one worker
    and the second to the other, both sent together. From the second pair on, at least one
    worker's kept projection of the trip is stale (the other wrote since), and only its
    events_version check sends it back to the database: without that check the last write
    leaves out an event of the other worker's, and the stops differ from a rebuild."""
    with two_workers(db_url, tmp_path) as workers:
        trips = _make_trips(workers[0])
        with ThreadPoolExecutor(max_workers=1) as runner:  # a loop of its own (Playwright's)
            statuses = runner.submit(asyncio.run, _send_in_pairs(workers, trips)).result()

    assert statuses == [201] * sum(len(trip["events"]) for trip in trips)
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            for trip in trips:
                _assert_projection_is_a_rebuild(session, uuid.UUID(trip["id"]))
    finally:
        engine.dispose()


async def _send_in_pairs(workers: list[str], trips: list[dict[str, Any]]) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as http:

        async def post(base: str, trip: dict[str, Any], body: dict[str, Any]) -> int:
            path = f"{base}{API}/shipments/{trip['id']}/events"
            return (await http.post(path, json=body, headers=trip["driver"])).status_code

        async def drive(trip: dict[str, Any]) -> list[int]:
            statuses: list[int] = []
            events = trip["events"]
            for first, second in zip(events[::2], events[1::2], strict=True):
                statuses += await asyncio.gather(
                    post(workers[0], trip, first), post(workers[1], trip, second)
                )
            return statuses

        per_trip = await asyncio.gather(*(drive(trip) for trip in trips))
    return [status for statuses in per_trip for status in statuses]


def _assert_projection_is_a_rebuild(session: Session, shipment_id: uuid.UUID) -> None:
    """Stops, holds, procedures, fees and the shipment's own fields (status …) as stored are
    what building the timeline from all its stored events gives."""
    assert stored_stop_rows(session, shipment_id) == expected_stop_rows(session, shipment_id)
    events = session.execute(
        select(*service.TIMELINE_COLUMNS).where(TrackingEvent.shipment_id == shipment_id)
    ).all()
    built = timeline.build([timeline.Event(*row) for row in events])
    shipment = session.get_one(Shipment, shipment_id)
    expected = materialize.shipment_fields(built)
    assert {field: getattr(shipment, field) for field in expected} == expected
    assert shipment.status == "delivered"
    assert len(built.stops) == CHECKPOINTS


def _make_trips(base: str) -> list[dict[str, Any]]:
    """SHIPMENTS planned shipments of one exporter, each with a driver link and the events
    of a whole trip over the same CHECKPOINTS checkpoints."""
    with httpx.Client(base_url=f"{base}{API}", timeout=30) as http:
        boss = _bearer(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        checkpoints = [
            _created(http, "/checkpoints", boss, _checkpoint(n))["id"] for n in range(CHECKPOINTS)
        ]
        org = _created(http, "/organizations", boss, {"name": "Workers Co"})
        user = {"email": "w@example.org", "password": "password-w1", "role": "exporter"}
        _created(http, "/users", boss, {**user, "organization_id": org["id"]})
        exporter = _bearer(http, user["email"], user["password"])
        trips = []
        for _ in range(SHIPMENTS):
            shipment = _created(http, "/shipments", exporter, shipment_payload())
            token = _created(http, f"/shipments/{shipment['id']}/driver-token", exporter, None)
            driver = {"Authorization": f"Bearer {token['token']}"}
            trips.append({"id": shipment["id"], "driver": driver, "events": _trip(checkpoints)})
    return trips


def _checkpoint(n: int) -> dict[str, Any]:
    return {"code": f"W-{n}", "name": f"W{n}", "province": "kirkuk", "kind": "internal"}


def _trip(checkpoints: list[str]) -> list[dict[str, Any]]:
    """Depart; at every checkpoint arrive, hold, pay, release; deliver (in time order)."""
    events, minute = [event("departed", 0)], 0
    for checkpoint in checkpoints:
        minute += 60
        events += [
            event("arrived", minute, checkpoint_id=checkpoint),
            event("held", minute + 5, hold_reason="security"),
            event("fee_paid", minute + 10, fee=FEE),
            event("released", minute + 20),
        ]
    return [*events, event("delivered", minute + 60)]


def _bearer(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = http.post("/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _created(
    http: httpx.Client, path: str, headers: dict[str, str], body: dict[str, Any] | None
) -> dict[str, Any]:
    response = http.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="TEST_POSTGRES_URL is not set (several workers: PostgreSQL)")
def test_clearance_serve_with_two_workers_on_postgresql_answers_readyz(tmp_path: Path) -> None:
    """A fresh database: `serve` migrates it and makes the admin once, then two workers."""
    url = create_pg_database("clearance_workers")
    env = _env(
        url,
        BOOTSTRAP_ADMIN_EMAIL="boss@example.org",
        BOOTSTRAP_ADMIN_PASSWORD="boss-password-1",
        LOG_LEVEL="INFO",  # uvicorn says when each worker has started
    )
    serve = [sys.executable, "-m", "app.cli", "serve", "--workers", "2"]
    log = tmp_path / "serve.log"
    try:
        with _servers((serve, env, log)) as [base]:
            assert httpx.get(f"{base}/readyz").status_code == 200
            assert _sign_in(base, "boss@example.org", "boss-password-1").status_code == 200
            _wait_for(lambda: log.read_text().count("Application startup complete") == 2, log)
            assert httpx.get(f"{base}/readyz").status_code == 200
    finally:
        drop_pg_database(url)


def _wait_for(condition: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
