"""Event ingestion over real HTTP, against the framework's own ceiling, in one run.

    .venv/bin/python bench/ingest.py --db sqlite postgres --duration 20 --connections 32

Each target is one uvicorn worker in its own process on a loopback port, loaded by wrk
(bench/wrk_events.lua: realistic stop sequences over many shipments, a fresh event_id per
request). The baselines are bench/bare_app.py: the same path and Pydantic body with no
database, as an `async def` and as a `def` endpoint. For the real service the run also
checks that every acknowledged event is in the database, reads the worker's peak RSS
(VmHWM), and times a 1,000-event POST /sync against the bare app validating the same body.

    .venv/bin/python bench/ingest.py --db postgres --workers 1 2 --duration 20

`--workers` measures the service alone with each number of worker processes
(`clearance serve --workers N`), one database, in one run: phases in the order given and
back again (1, 2, 2, 1: the database grows through the run, and favours neither), each
after a warm-up, with the workers' CPU time per event read from /proc. It prints each
count's events/s and its ratio to the first count's.

    .venv/bin/python bench/ingest.py --db sqlite postgres --located --duration 10

`--located` measures the service alone with and without the phone's fix on every event
(`location` with `accuracy_m`, within 150 m of the event's checkpoint: wrk_events.lua's
`located`), one server per database, phases without, with, with, without, each event stored
with its fix when it had one. It prints the events/s with positions over those without, and
the worker's CPU time per event (/proc) with and without: on a busy machine the CPU says
what the fix costs when the events/s mostly say how long the worker waited for a core.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from app.cli import alembic_config  # noqa: E402
from app.tracking.models import Stop, TrackingEvent  # noqa: E402
from bench import databases  # noqa: E402
from bench.profiling import py_spy  # noqa: E402

API = "/api/v1"
ADMIN = ("bench-admin@example.org", "bench-admin-password")
EXPORTER_PASSWORD = "bench-exporter-password"
LUA = Path(__file__).resolve().parent / "wrk_events.lua"
SHIPMENTS = 300
PROFILE = False


@dataclass
class LoadResult:
    target: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    peak_rss_mb: float | None = None
    stored: int | None = None


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
        return kb / 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: str, env: dict[str, str], factory: bool = False) -> Iterator[Server]:
    """One uvicorn worker in a child process, as `clearance serve` runs it."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log"]
    args += ["--log-level", "warning"] + (["--factory"] if factory else [])
    databases.OUT.mkdir(exist_ok=True)
    log = (databases.OUT / "ingest-server.log").open("ab")
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.1)
        yield Server(url, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def serve_workers(env: dict[str, str], workers: int) -> Iterator[Server]:
    """`clearance serve --workers N` in a child process (it migrates, makes the admin once,
    then uvicorn starts the workers)."""
    port = free_port()
    args = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    args += ["--workers", str(workers)]
    databases.OUT.mkdir(exist_ok=True)
    log = (databases.OUT / "ingest-server.log").open("ab")
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        # One worker: uvicorn serves in this very process; more: it starts them as children.
        while (workers > 1 and len(_children(process.pid)) < workers) or not _answers(url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"clearance serve --workers {workers} did not start")
            time.sleep(0.2)
        yield Server(url, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (uvicorn's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (all their threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def bench_workers(
    db: str, counts: list[int], duration: int, connections: int, shipments: int
) -> list[dict[str, Any]]:
    """The service with each number of workers in `counts`, on one database, in phases
    `counts` then reversed; returns every phase's figures."""
    url = databases.url_for(db, "ingest-workers")
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    targets = databases.OUT / f"ingest-workers-targets-{db}.txt"
    env = app_env(url)
    phases: list[dict[str, Any]] = []
    for workers in [*counts, *reversed(counts)]:
        with serve_workers(env, workers) as server:
            if not phases:  # the world, made through the API once
                with httpx.Client(base_url=server.url, timeout=60) as client:
                    token, checkpoints, shipment_ids = prepare_world(client, shipments)
                write_targets(targets, token, checkpoints, shipment_ids)
            run_wrk(server.url, targets, max(1, duration // 5), connections, "warm-up")
            time.sleep(0.5)  # the warm-up's last requests finish before the count
            pids = [server.process.pid, *_children(server.process.pid)]
            before, cpu_before = count_events(url), cpu_seconds(pids)
            result = run_wrk(server.url, targets, duration, connections, f"{db}, {workers}w")
            cpu = cpu_seconds(pids) - cpu_before
            time.sleep(0.5)  # requests wrk gave up on at the deadline may still be finishing
            stored = count_events(url) - before
        acknowledged = result.requests - result.errors
        if stored < acknowledged:
            raise RuntimeError(f"{acknowledged} events acknowledged, {stored} stored")
        phases.append(
            {
                **asdict(result),
                "workers": workers,
                "stored": stored,
                "worker_cpu_us_per_event": cpu / max(1, stored) * 1e6,
                "load_average": os.getloadavg()[0],
            }
        )
        print(
            f"  {db} {workers} worker(s): {result.requests_per_s:6.0f} events/s "
            f"(p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors {result.errors}, "
            f"{stored} stored), workers' CPU {cpu / max(1, stored) * 1e6:.0f} µs per event, "
            f"load {os.getloadavg()[0]:.1f}"
        )
    return phases


def workers_summary(phases: list[dict[str, Any]], counts: list[int]) -> dict[int, float]:
    """Mean acknowledged events/s per worker count over its phases."""
    return {
        n: statistics.mean(p["requests_per_s"] for p in phases if p["workers"] == n) for n in counts
    }


def app_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-" + "x" * 40,
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN[0],
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
    }


def login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = client.post(f"{API}/auth/token", data={"username": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def prepare_world(client: httpx.Client, shipments: int) -> tuple[str, list[str], list[str]]:
    """An exporter, five checkpoints and `shipments` shipments, made through the API."""
    admin = login(client, *ADMIN)
    org = client.post(f"{API}/organizations", json={"name": "Bench Cement"}, headers=admin)
    org.raise_for_status()
    email = f"exporter-{uuid.uuid4().hex[:8]}@example.org"
    user = {
        "email": email,
        "password": EXPORTER_PASSWORD,
        "role": "exporter",
        "organization_id": org.json()["id"],
    }
    client.post(f"{API}/users", json=user, headers=admin).raise_for_status()
    checkpoints = []
    for n in range(5):
        body = {
            "code": f"BENCH-{n}",
            "name": f"Bench checkpoint {n}",
            "province": "kirkuk",
            "kind": "province_entry",
            "authority": "army",
            "jurisdiction": "federal",
            "latitude": 35.4 + n / 100,
            "longitude": 44.3,
        }
        created = client.post(f"{API}/checkpoints", json=body, headers=admin)
        created.raise_for_status()
        checkpoints.append(created.json()["id"])
    exporter = login(client, email, EXPORTER_PASSWORD)
    shipment_ids: list[str] = []
    while len(shipment_ids) < shipments:
        rows = [shipment_body() for _ in range(min(500, shipments - len(shipment_ids)))]
        batch = client.post(f"{API}/shipments/batch", json=rows, headers=exporter)
        if batch.status_code != 201:
            raise RuntimeError(batch.text[:2000])
        shipment_ids += [item["id"] for item in batch.json()["items"]]
    return exporter["Authorization"].split()[1], checkpoints, shipment_ids


def shipment_body() -> dict[str, Any]:
    return {
        "origin_province": "sulaymaniyah",
        "origin_city": "Sulaymaniyah",
        "destination_province": "baghdad",
        "destination_city": "Baghdad",
        "truck_plate": "22 A 45871 SUL",
        "driver_name": "Karwan Ahmed",
        "driver_phone": "+9647701234567",
        "planned_departure": "2026-01-01T05:00:00+03:00",
        "cargo": [
            {
                "hs_code": "252329",
                "description": "Portland cement",
                "quantity": 600,
                "unit": "bag",
                "weight_kg": 30000,
                "value_usd": 2700,
            }
        ],
    }


def write_targets(path: Path, token: str, checkpoints: list[str], shipments: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([token, " ".join(checkpoints), *shipments]) + "\n")


def wrk_command(
    url: str,
    targets: Path,
    duration: int,
    connections: int,
    script: Path = LUA,
    arg: str = "1",
    *more: str,
) -> list[str]:
    """One wrk thread (the server has the other core), `script` given the targets file,
    `arg` (wrk_events.lua: a seed; wrk_flood.lua: its rate) and `more` (wrk_events.lua:
    `located`)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    args = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script)]
    return [*args, url, "--", str(targets), arg, *more]


def run_wrk(
    url: str, targets: Path, duration: int, connections: int, label: str, located: bool = False
) -> LoadResult:
    """wrk_events.lua against `url`; `located`: every event with the phone's fix."""
    args = wrk_command(url, targets, duration, connections, LUA, "1", *(["located"] * located))
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out, label)


def parse_wrk(out: str, label: str) -> LoadResult:
    return LoadResult(
        target=label,
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_latency(out, "50%"),
        p99_ms=_latency(out, "99%"),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        errors=_errors(out),
    )


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _errors(out: str) -> int:
    errors = 0
    found = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(found.group(1)) if found else 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return errors


def bench_bare(kind: str, targets: Path, duration: int, connections: int) -> LoadResult:
    with serve(f"bench.bare_app:{kind}_app", {}) as server:
        run_wrk(server.url, targets, max(1, duration // 5), connections, "warm-up")
        return run_wrk(server.url, targets, duration, connections, f"bare FastAPI, {kind} def")


def bench_service_path(targets: Path, duration: int, connections: int) -> LoadResult:
    """The service with its event writer answering at once (bench/bare_app.py): the ceiling
    of its own request path, before any database work."""
    url = databases.url_for("sqlite", "ingest-path")
    databases.recreate("sqlite", url)
    command.upgrade(alembic_config(url), "head")
    with serve("bench.bare_app:service_path_app", app_env(url), factory=True) as server:
        run_wrk(server.url, targets, max(1, duration // 5), connections, "warm-up")
        return run_wrk(server.url, targets, duration, connections, "service, writer stubbed")


def bench_service(
    db: str, duration: int, connections: int, shipments: int, sync_repeat: int = 5
) -> tuple[LoadResult, dict[str, float]]:
    url = databases.url_for(db, "ingest")
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    targets = databases.OUT / f"ingest-targets-{db}.txt"
    with serve("app.main:create_app", app_env(url), factory=True) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            token, checkpoints, shipment_ids = prepare_world(client, shipments)
            write_targets(targets, token, checkpoints, shipment_ids)
            run_wrk(server.url, targets, max(1, duration // 5), connections, "warm-up")
            before = count_events(url)
            with profiled(server, db):
                result = run_wrk(server.url, targets, duration, connections, f"service, {db}")
            result.peak_rss_mb = server.peak_rss_mb()
            time.sleep(0.5)  # requests wrk gave up on at the deadline may still be finishing
            result.stored = count_events(url) - before
            sync_times = time_sync(client, token, checkpoints, sync_repeat)
    return result, sync_times


def bench_located(db: str, duration: int, connections: int, shipments: int) -> dict[str, Any]:
    """Event ingestion with and without the phone's fix on every event (wrk_events.lua
    `located`: within 150 m of the checkpoint), one server and database, in phases without,
    with, with, without (the database grows through the run and favours neither), after a
    warm-up of each; every acknowledged event stored, with its fix when it had one."""
    url = databases.url_for(db, "ingest-located")
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    targets = databases.OUT / f"ingest-located-targets-{db}.txt"
    phases: list[dict[str, Any]] = []
    with serve("app.main:create_app", app_env(url), factory=True) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            token, checkpoints, shipment_ids = prepare_world(client, shipments)
        write_targets(targets, token, checkpoints, shipment_ids)
        for located in (False, True):
            run_wrk(server.url, targets, max(1, duration // 5), connections, "warm-up", located)
        for located in (False, True, True, False):
            label = f"{db}, {'with' if located else 'no'} positions"
            time.sleep(0.5)  # the previous phase's last requests finish before the count
            before, fixes_before = count_events(url), count_events(url, located=True)
            cpu_before = cpu_seconds([server.process.pid])
            result = run_wrk(server.url, targets, duration, connections, label, located)
            time.sleep(0.5)
            cpu = cpu_seconds([server.process.pid]) - cpu_before
            result.stored = count_events(url) - before
            fixes = count_events(url, located=True) - fixes_before
            acknowledged = result.requests - result.errors
            if result.stored < acknowledged or fixes != (result.stored if located else 0):
                raise RuntimeError(
                    f"{acknowledged} acknowledged, {result.stored} stored, {fixes} fixes"
                )
            phases.append(
                {
                    **asdict(result),
                    "located": located,
                    "worker_cpu_us_per_event": cpu / max(1, result.stored) * 1e6,
                    "load_average": os.getloadavg()[0],
                }
            )
            _print(result, phases[0]["requests_per_s"])
            print(f"  worker CPU {phases[-1]['worker_cpu_us_per_event']:.0f} µs per event")
        peak_rss_mb = server.peak_rss_mb()
    without = statistics.mean(p["requests_per_s"] for p in phases if not p["located"])
    with_ = statistics.mean(p["requests_per_s"] for p in phases if p["located"])
    cpu_without = statistics.mean(p["worker_cpu_us_per_event"] for p in phases if not p["located"])
    cpu_with = statistics.mean(p["worker_cpu_us_per_event"] for p in phases if p["located"])
    print(
        f"{db:10} events/s: no positions {without:.0f}, with {with_:.0f}, ×{with_ / without:.3f}; "
        f"worker CPU per event {cpu_without:.0f} → {cpu_with:.0f} µs, ×{cpu_with / cpu_without:.3f}"
    )
    return {
        "phases": phases,
        "without": without,
        "with": with_,
        "ratio": with_ / without,
        "cpu_us_without": cpu_without,
        "cpu_us_with": cpu_with,
        "cpu_ratio": cpu_with / cpu_without,
        "peak_rss_mb": peak_rss_mb,
        "confirmed_stops": count_confirmed_stops(url),
    }


@contextmanager
def profiled(server: Server, db: str) -> Iterator[None]:
    """With --profile: py-spy samples the server during the load (only the thread holding
    the interpreter lock: where the lock goes)."""
    if not PROFILE:
        yield
        return
    out = databases.OUT / f"ingest-profile-{db}.txt"
    with py_spy(server.process.pid, out, "--threads", "--gil", "--nonblocking", rate=200):
        yield


def count_events(url: str, located: bool = False) -> int:
    """Events stored (`located`: those with a fix)."""
    query = select(func.count()).select_from(TrackingEvent)
    if located:
        query = query.where(TrackingEvent.latitude.is_not(None))
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(query) or 0
    engine.dispose()
    return count


def count_confirmed_stops(url: str) -> int:
    """Stops whose fixes lie within their checkpoint's fence."""
    query = select(func.count()).select_from(Stop).where(Stop.position_evidence == "confirmed")
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(query) or 0
    engine.dispose()
    return count


def sync_body(checkpoints: list[str], shipment_id: str | None, size: int) -> dict[str, Any]:
    """`size` events of a trip through the checkpoints, as a phone queues them offline."""
    start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 200)
    pattern: list[dict[str, Any]] = [
        {"type": "arrived"},
        {"type": "procedure_started", "procedure": "document_check"},
        {"type": "procedure_completed", "procedure": "document_check"},
        {"type": "fee_paid", "fee": {"amount": 25000, "currency": "IQD", "receipt": True}},
        {"type": "released"},
    ]
    events = []
    for n in range(size):
        event = dict(pattern[n % len(pattern)])
        if event["type"] == "arrived":
            event["checkpoint_id"] = checkpoints[(n // len(pattern)) % len(checkpoints)]
        event["event_id"] = str(uuid.uuid4())
        event["occurred_at"] = (start + timedelta(minutes=3 * n)).isoformat()
        events.append(event)
    return {"shipment_id": shipment_id, "events": events}


def time_sync(
    client: httpx.Client, token: str, checkpoints: list[str], repeat: int
) -> dict[str, float]:
    """Median seconds per 1,000-event batch: a fresh shipment each time, as after a trip."""
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        f"{API}/shipments/batch", json=[shipment_body() for _ in range(repeat)], headers=headers
    )
    created.raise_for_status()
    times = []
    for item in created.json()["items"]:
        body = sync_body(checkpoints, item["id"], 1000)
        started = time.perf_counter()
        response = client.post(f"{API}/sync", json=body, headers=headers)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        assert response.json()["created"] == 1000, response.text
    return {"median_s": statistics.median(times), "min_s": min(times)}


def time_bare_sync(checkpoints: list[str], repeat: int = 5) -> float:
    with serve("bench.bare_app:async_app", {}) as server, httpx.Client(base_url=server.url) as c:
        times = []
        for _ in range(repeat):
            body = sync_body(checkpoints, str(uuid.uuid4()), 1000)
            started = time.perf_counter()
            c.post(f"{API}/sync", json=body).raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine() -> dict[str, Any]:
    import fastapi
    import sqlalchemy
    import uvicorn

    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2]
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "wrk": " ".join(wrk_version),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--shipments", type=int, default=SHIPMENTS)
    parser.add_argument("--sync-repeat", type=int, default=5, help="1,000-event batches")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", action="store_true", help="py-spy the service under load")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help="instead: the service with each of these numbers of workers (phases there and back)",
    )
    parser.add_argument(
        "--located",
        action="store_true",
        help="instead: the service with and without a position on every event (phases there "
        "and back)",
    )
    args = parser.parse_args(argv)
    global PROFILE
    PROFILE = args.profile
    if args.workers:
        return main_workers(args)
    if args.located:
        return main_located(args)

    # The bare apps never look at the ids: any well-formed targets file will do.
    bare_targets = databases.OUT / "ingest-targets-bare.txt"
    fake_checkpoints = [str(uuid.uuid4()) for _ in range(5)]
    fake_shipments = [str(uuid.uuid4()) for _ in range(args.shipments)]
    write_targets(bare_targets, "none", fake_checkpoints, fake_shipments)
    bare = {
        kind: bench_bare(kind, bare_targets, args.duration, args.connections)
        for kind in ("async", "sync")
    }
    path = bench_service_path(bare_targets, args.duration, args.connections)
    bare_sync_s = time_bare_sync(fake_checkpoints, args.sync_repeat)
    results: dict[str, Any] = {
        "machine": machine(),
        "bare": {k: asdict(v) for k, v in bare.items()},
        "service_path": asdict(path),
    }
    print(json.dumps(results["machine"]))
    _print(bare["async"], bare["async"].requests_per_s)
    _print(bare["sync"], bare["async"].requests_per_s)
    _print(path, bare["async"].requests_per_s)
    for db in args.db:
        service, sync_times = bench_service(
            db, args.duration, args.connections, args.shipments, args.sync_repeat
        )
        _print(service, bare["async"].requests_per_s)
        print(
            f"  peak RSS {service.peak_rss_mb:.0f} MB; stored {service.stored} events for "
            f"{service.requests} responses; "
            f"1,000-event /sync {sync_times['median_s'] * 1000:.0f} ms "
            f"(bare app validating the same body: {bare_sync_s * 1000:.0f} ms)"
        )
        results[db] = {**asdict(service), "sync": sync_times, "bare_sync_s": bare_sync_s}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def main_workers(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    print(json.dumps(results["machine"]))
    for db in args.db:
        phases = bench_workers(db, args.workers, args.duration, args.connections, args.shipments)
        means = workers_summary(phases, args.workers)
        first = means[args.workers[0]]
        for n, mean in means.items():
            print(f"{db:10} {n} worker(s) {mean:7.0f} events/s  ×{mean / first:.2f}")
        results[db] = {"phases": phases, "events_per_s": means}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def main_located(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    print(json.dumps(results["machine"]))
    for db in args.db:
        results[db] = bench_located(db, args.duration, args.connections, args.shipments)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def _print(result: LoadResult, ceiling: float) -> None:
    print(
        f"{result.target:28} {result.requests_per_s:8.0f} req/s  "
        f"ratio {result.requests_per_s / ceiling:4.2f}"
        f"  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
    )


if __name__ == "__main__":
    main()
