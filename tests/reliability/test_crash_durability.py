"""Crash durability: the server as a subprocess under concurrent event load, killed with
SIGKILL at random moments, restarted. Every event that was acknowledged (2xx) must be stored
exactly once; a client that retries with the same `event_id` after the crash stores nothing
twice. Black-box over HTTP, on SQLite (a file) and PostgreSQL (a database of its own).

CI runs a few rounds; `CRASH_ROUNDS=50 pytest tests/reliability/test_crash_durability.py -s`
is the long run (its figures are in tests/reliability/README.md).
"""

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, PG_URL, create_pg_database, drop_pg_database
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API
from tests.live_server import wait_until_ready

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "3"))
WRITERS = int(os.environ.get("CRASH_WRITERS", "8"))
SHIPMENTS = 4
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        assert PG_URL is not None
        url = create_pg_database("clearance_crash")  # not the shared test database
        yield url
        drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'crash.db'}"


class Server:
    """`clearance serve` in a child process, killed with SIGKILL, started again."""

    def __init__(self, database_url: str, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "crash-test-secret-key-long-enough-0123456789abcdef",
            "ENVIRONMENT": "test",
            "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "1024",
            "LOG_LEVEL": "WARNING",
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until_ready(self.base, self.process, f"see {self.log}")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@dataclass
class Ledger:
    """What the clients know: acknowledged events, and those whose fate they never learnt."""

    acked: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    unknown: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # a 5xx is a bug, crash or not


def an_event(checkpoint_id: str, rng: random.Random) -> dict[str, Any]:
    occurred = datetime.now(UTC) - timedelta(minutes=rng.randint(0, 600))
    event: dict[str, Any] = {"event_id": str(uuid.uuid4()), "occurred_at": occurred.isoformat()}
    kind = rng.choice(["note", "note", "arrived", "held", "released", "fee_paid"])
    event["type"] = kind
    if kind == "note":
        event["note"] = "queue at the checkpoint " + "x" * rng.randint(0, 200)
    elif kind == "arrived":
        event["checkpoint_id"] = checkpoint_id
    elif kind == "held":
        event["hold_reason"] = "missing_document"
    elif kind == "fee_paid":
        event["fee"] = {"amount": rng.randint(1, 500) * 1000, "currency": "IQD", "receipt": True}
    return event


def writer(
    base: str,
    headers: dict[str, str],
    shipments: list[str],
    checkpoint_id: str,
    ledger: Ledger,
    stop: threading.Event,
    seed: int,
) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        while not stop.is_set():
            shipment = rng.choice(shipments)
            event = an_event(checkpoint_id, rng)
            try:
                response = http.post(f"{API}/shipments/{shipment}/events", json=event)
            except httpx.HTTPError:
                with ledger.lock:
                    ledger.unknown[event["event_id"]] = (shipment, event)
                return  # the server is gone
            with ledger.lock:
                ledger.statuses[response.status_code] += 1
                if response.is_success:
                    ledger.acked[event["event_id"]] = (shipment, event)
                else:
                    if response.status_code >= 500:
                        ledger.server_errors.append(f"{event} -> {response.text}")
                    ledger.unknown[event["event_id"]] = (shipment, event)


def stored_ids(http: httpx.Client, shipments: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for shipment in shipments:
        response = http.get(f"{API}/shipments/{shipment}/events")
        assert response.status_code == 200, response.text
        assert response.json()["next_cursor"] is None
        counts.update(item["event_id"] for item in response.json()["items"])
    return counts


def set_up_world(base: str) -> tuple[dict[str, str], list[str], str]:
    with httpx.Client(base_url=base, timeout=30) as http:

        def token(email: str, password: str) -> dict[str, str]:
            form = {"username": email, "password": password}
            response = http.post(f"{API}/auth/token", data=form)
            assert response.status_code == 200, response.text
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

        boss = token(ADMIN_EMAIL, ADMIN_PASSWORD)
        org = http.post(f"{API}/organizations", json={"name": "Crash Cement"}, headers=boss)
        user = {
            "email": "crash@example.org",
            "password": "crash-password",
            "role": "exporter",
            "organization_id": org.json()["id"],
        }
        assert http.post(f"{API}/users", json=user, headers=boss).status_code == 201
        checkpoint = http.post(
            f"{API}/checkpoints",
            json={"code": "CRASH-1", "name": "Crash", "province": "kirkuk", "kind": "internal"},
            headers=boss,
        )
        assert checkpoint.status_code == 201, checkpoint.text
        exporter = token(user["email"], user["password"])
        shipments = []
        for n in range(SHIPMENTS):
            body = {
                "origin_province": "sulaymaniyah",
                "origin_city": "Sulaymaniyah",
                "destination_province": "baghdad",
                "destination_city": "Baghdad",
                "truck_plate": f"22 A {n:05d} SUL",
                "driver_name": "Karwan Ahmed",
                "driver_phone": "+9647701234567",
                "planned_departure": "2026-11-30T05:00:00+03:00",
                "route": [checkpoint.json()["id"]],
                "cargo": [
                    {
                        "hs_code": "252329",
                        "description": "cement",
                        "quantity": 600,
                        "unit": "bag",
                        "weight_kg": 30000,
                        "value_usd": 2700,
                    }
                ],
            }
            created = http.post(f"{API}/shipments", json=body, headers=exporter)
            assert created.status_code == 201, created.text
            shipments.append(created.json()["id"])
        return exporter, shipments, checkpoint.json()["id"]


def test_acknowledged_events_survive_kill_9_exactly_once(database_url: str, tmp_path: Path) -> None:
    server = Server(database_url, tmp_path / "server.log")
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    ledger = Ledger()
    kills = 0
    try:
        server.start()
        headers, shipments, checkpoint_id = set_up_world(server.base)
        for round_no in range(ROUNDS):
            stop = threading.Event()
            writers = [
                threading.Thread(
                    target=writer,
                    args=(
                        server.base,
                        headers,
                        shipments,
                        checkpoint_id,
                        ledger,
                        stop,
                        rng.random(),
                    ),
                    daemon=True,
                )
                for _ in range(WRITERS)
            ]
            for thread in writers:
                thread.start()
            time.sleep(rng.uniform(0.3, 1.5))  # a random moment under load
            server.kill()
            kills += 1
            stop.set()
            for thread in writers:
                thread.join(timeout=60)
                assert not thread.is_alive(), "a client hung after the kill"
            server.start()
            with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
                counts = stored_ids(http, shipments)
                lost = [event_id for event_id in ledger.acked if counts[event_id] != 1]
                assert not lost, f"round {round_no}: acknowledged but not stored once: {lost[:5]}"
                twice = [event_id for event_id, n in counts.items() if n > 1]
                assert not twice, f"round {round_no}: stored twice: {twice[:5]}"
                strangers = set(counts) - set(ledger.acked) - set(ledger.unknown)
                assert not strangers, f"round {round_no}: events nobody sent: {strangers}"
            # The reports' day cells (refreshed by the server as it ran, killed or not) equal
            # a recomputation from the stops.
            verified = subprocess.run(
                [sys.executable, "-m", "app.cli", "verify-rollups"],
                cwd=ROOT,
                env=server.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert verified.returncode == 0, f"round {round_no}: {verified.stdout}{verified.stderr}"
        # Every client retries what it sent, acknowledged or not, as a phone's queue would.
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            before = stored_ids(http, shipments)
            for event_id, (shipment, event) in {**ledger.unknown, **ledger.acked}.items():
                response = http.post(f"{API}/shipments/{shipment}/events", json=event)
                expected = {200} if before[event_id] else {201}
                assert response.status_code in expected, f"{event_id}: {response.text}"
            after = stored_ids(http, shipments)
            assert set(after.values()) == {1}, "a retry stored an event twice"
            assert set(after) == set(ledger.acked) | set(ledger.unknown)
        print(
            f"\ncrash durability ({database_url.split(':')[0]}): rounds={ROUNDS} kills={kills} "
            f"acknowledged={len(ledger.acked)} in-flight at a kill={len(ledger.unknown)} "
            f"(stored anyway: {sum(1 for e in ledger.unknown if before[e])}) lost=0 "
            f"duplicates=0 statuses={dict(ledger.statuses)}"
        )
        assert len(ledger.acked) > ROUNDS * 10, "the load was too light to mean anything"
        assert not ledger.server_errors, (
            f"5xx under load (see {server.log}): {ledger.server_errors}"
        )
    finally:
        server.stop()
