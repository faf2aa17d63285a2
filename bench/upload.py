"""Receipt photos uploaded over real HTTP (issue 15), against the bare cost of carrying the
same bytes, in one run; and event ingestion with and without positions.

    .venv/bin/python bench/upload.py --db sqlite postgres --photos 200 --clients 4

On each database: one uvicorn worker (bench/ingest.py's `serve`) over a fresh migrated
database and an empty ATTACHMENTS_DIR. An exporter makes `--clients` shipments and a driver
link for each; each driver posts a trip (arrived, fee paid, held, released at five
checkpoints, each with the phone's fix) and then uploads receipt and hold-notice photos
to its fee_paid and held events (`POST …/events/{id}/attachments?kind=…`, the raw JPEG
as the body, as the driver's page does). The photos are made here with Pillow: 1600×1200,
gradients, soft blobs and grain, JPEG at the quality that puts each at 280–320 KB, every
one different (no upload is answered by idempotency). Timed:

- sequential: one driver uploads `--photos` photos one after another;
- concurrent: `--clients` drivers at once, each its own shipment, `--photos` in all;
- the reference: the same bodies, sequential and concurrent alike, to bench/bare_app.py's
  attachments endpoint (reads the body, answers its length: no decoding, no disk).

Each: p50 / p99 / max latency as the client saw it, photos/s, the server process's CPU time
per photo (/proc: on a busy machine, what the upload costs rather than how long it waited for
a core), every 201 stored (rows, files).
Beside them, the CPU (process time, in this process) of the upload's own image work,
`app.evidence.images.prepare` (decode every pixel, re-encode without metadata), per photo.

Then, unless `--ingest-duration 0`: bench/ingest.py --located's phases (wrk, events without
and with a position, there and back) on the same database kind.
"""

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from app.cli import alembic_config  # noqa: E402
from app.evidence import images  # noqa: E402
from app.evidence.models import Attachment, MediaType  # noqa: E402
from bench import databases, ingest  # noqa: E402

API = ingest.API
SIZE = (1600, 1200)
LOW, HIGH = 280_000, 320_000
WARM_UP = 5


# --- the photos ----------------------------------------------------------------------------


class Photos:
    """Distinct photo-like JPEGs of 280–320 KB: a gradient and soft blobs of their own, and a
    grain read at an offset of their own from one field made once (the grain is what the
    encoder spends its bytes on; one field keeps the making fast)."""

    def __init__(self) -> None:
        width, height = SIZE
        rng = np.random.default_rng(0)
        self.grain = rng.normal(0, 7, (height + 64, width + 64, 3)).astype(np.float32)
        self.quality = 83

    def make(self, seed: int) -> bytes:
        width, height = SIZE
        rng = np.random.default_rng(seed)
        y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
        base = rng.uniform(40, 200, 3) + rng.uniform(-60, 60, 3) * x + rng.uniform(-60, 60, 3) * y
        coarse = rng.normal(128, 30, (height // 40, width // 40, 3)).clip(0, 255)
        blobs = Image.fromarray(coarse.astype(np.uint8)).resize(SIZE, Image.Resampling.BICUBIC)
        dy, dx = (int(v) for v in rng.integers(0, 64, 2))
        grain = self.grain[dy : dy + height, dx : dx + width]
        pixels = (base + np.asarray(blobs, dtype=np.float32) - 128 + grain).clip(0, 255)
        image = Image.fromarray(pixels.astype(np.uint8))
        for _ in range(20):  # the quality that lands in range, kept for the next photo
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=self.quality)
            if len(out.getvalue()) < LOW:
                self.quality += 1
            elif len(out.getvalue()) > HIGH:
                self.quality -= 1
            else:
                return out.getvalue()
        raise RuntimeError(f"no JPEG quality puts photo {seed} in {LOW}–{HIGH} bytes")

    def many(self, count: int, first_seed: int) -> list[bytes]:
        made = [self.make(first_seed + n) for n in range(count)]
        if len(set(made)) != count:
            raise RuntimeError("two photos came out the same")
        return made


# --- the world, through the API -----------------------------------------------------------


@dataclass
class Driver:
    shipment_id: str
    headers: dict[str, str]
    targets: list[tuple[str, str]]  # (event_id, kind): where photos go, in turn


def make_drivers(client: httpx.Client, count: int) -> list[Driver]:
    """An exporter's `count` shipments, a driver link each, and each driver's trip."""
    token, checkpoints, shipment_ids = ingest.prepare_world(client, count)
    exporter = {"Authorization": f"Bearer {token}"}
    drivers = []
    for index, shipment_id in enumerate(shipment_ids):
        issued = client.post(f"{API}/shipments/{shipment_id}/driver-token", headers=exporter)
        issued.raise_for_status()
        headers = {"Authorization": f"Bearer {issued.json()['token']}"}
        targets = []
        for event in trip(checkpoints, index):
            posted = client.post(
                f"{API}/shipments/{shipment_id}/events", json=event, headers=headers
            )
            if posted.status_code != 201:
                raise RuntimeError(posted.text[:2000])
            kind = {"fee_paid": "receipt", "held": "notice"}.get(event["type"])
            if kind:
                targets.append((event["event_id"], kind))
        drivers.append(Driver(shipment_id, headers, targets))
    return drivers


def trip(checkpoints: list[str], index: int) -> list[dict[str, Any]]:
    """Arrived, fee paid, held, released at each checkpoint, each tap with the phone's fix
    (bench/ingest.py makes checkpoint n at 35.4 + n/100, 44.3)."""
    start = datetime(2026, 3, 1, 6, tzinfo=UTC) + timedelta(days=index)
    steps: list[dict[str, Any]] = [
        {"type": "arrived"},
        {"type": "fee_paid", "fee": {"amount": 25000, "currency": "IQD", "receipt": False}},
        {"type": "held", "hold_reason": "missing_document"},
        {"type": "released"},
    ]
    events = []
    for n, checkpoint in enumerate(checkpoints):
        for k, step in enumerate(steps):
            event = {
                **step,
                "event_id": str(uuid.uuid4()),
                "occurred_at": (start + timedelta(hours=2 * n, minutes=10 * k)).isoformat(),
                "location": {"lat": 35.4 + n / 100, "lon": 44.3, "accuracy_m": 15.0},
            }
            if step["type"] == "arrived":
                event["checkpoint_id"] = checkpoint
            events.append(event)
    return events


# --- the uploads ----------------------------------------------------------------------------


@dataclass
class Phase:
    target: str
    clients: int
    photos: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    photos_per_s: float
    server_cpu_ms: float  # the server process's CPU time per photo (/proc): what a busy
    load_average: float  # machine's waiting for a core does not inflate


def upload_all(
    server: ingest.Server, drivers: list[Driver], photos: list[bytes], label: str
) -> tuple[Phase, list[int]]:
    """`photos` spread over `drivers`, each driver one client uploading its share one after
    another, all drivers at once; latencies as each client saw them, and the statuses."""
    shares: list[list[bytes]] = [photos[n :: len(drivers)] for n in range(len(drivers))]
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(drivers) + 1)

    def client(driver: Driver, share: list[bytes]) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            http.get("/healthz").raise_for_status()  # the connection, made before the clock
            start.wait()
            for n, body in enumerate(share):
                event_id, kind = driver.targets[n % len(driver.targets)]
                path = f"{API}/shipments/{driver.shipment_id}/events/{event_id}/attachments"
                headers = {**driver.headers, "Content-Type": MediaType.jpeg.value}
                began = time.perf_counter()
                response = http.post(path, params={"kind": kind}, content=body, headers=headers)
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
                    statuses.append(response.status_code)

    threads = [
        threading.Thread(target=client, args=(driver, share))
        for driver, share in zip(drivers, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.perf_counter(), ingest.cpu_seconds([server.process.pid])
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu = ingest.cpu_seconds([server.process.pid]) - cpu
    if len(latencies) != len(photos):
        raise RuntimeError(f"{label}: {len(latencies)} answers for {len(photos)} photos")
    return Phase(
        target=label,
        clients=len(drivers),
        photos=len(photos),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        max_ms=max(latencies) * 1000,
        photos_per_s=len(photos) / wall,
        server_cpu_ms=cpu / len(photos) * 1000,
        load_average=os.getloadavg()[0],
    ), statuses


def percentile(values: list[float], p: int) -> float:
    """The nearest-rank percentile: the value that p% of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * p // 100) - 1)]


def bench_db(
    db: str, sequential: list[bytes], concurrent: list[bytes], warm: list[bytes], clients: int
) -> dict[str, Any]:
    url = databases.url_for(db, "upload")
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    store = databases.OUT / f"upload-attachments-{db}"
    shutil.rmtree(store, ignore_errors=True)
    env = {**ingest.app_env(url), "ATTACHMENTS_DIR": str(store)}
    phases: list[Phase] = []
    with ingest.serve("app.main:create_app", env, factory=True) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            drivers = make_drivers(client, clients)
        _, statuses = upload_all(server, drivers[:1], warm, "warm-up")
        for photos, group, label in (
            (sequential, drivers[:1], f"{db}, sequential"),
            (concurrent, drivers, f"{db}, {clients} clients"),
        ):
            phase, answered = upload_all(server, group, photos, label)
            statuses += answered
            phases.append(phase)
            _print(phase)
        peak_rss_mb = server.peak_rss_mb()
    expected = len(warm) + len(sequential) + len(concurrent)
    if statuses.count(201) != expected:
        raise RuntimeError(f"{db}: statuses {sorted(set(statuses))}, not {expected} × 201")
    rows, stored_bytes = stored(url)
    files = [path for path in store.rglob("*") if path.is_file()]
    if rows != expected or len(files) != expected:
        raise RuntimeError(f"{db}: {expected} photos accepted, {rows} rows, {len(files)} files")
    bare = bench_bare(drivers, sequential, concurrent, warm, clients)
    return {
        "service": [asdict(p) for p in phases],
        "bare": [asdict(p) for p in bare],
        "peak_rss_mb": peak_rss_mb,
        "rows": rows,
        "files": len(files),
        "stored_mean_bytes": stored_bytes / rows,
    }


def bench_bare(
    drivers: list[Driver],
    sequential: list[bytes],
    concurrent: list[bytes],
    warm: list[bytes],
    clients: int,
) -> list[Phase]:
    """The same bodies, the same paths and headers, to bench/bare_app.py."""
    phases = []
    with ingest.serve("bench.bare_app:async_app", {}) as server:
        upload_all(server, drivers[:1], warm, "warm-up")
        for photos, group, label in (
            (sequential, drivers[:1], "bare, sequential"),
            (concurrent, drivers, f"bare, {clients} clients"),
        ):
            phase, statuses = upload_all(server, group, photos, label)
            if set(statuses) != {201}:
                raise RuntimeError(f"{label}: statuses {sorted(set(statuses))}")
            phases.append(phase)
            _print(phase)
    return phases


def stored(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    query = select(func.count(), func.sum(Attachment.stored_bytes)).select_from(Attachment)
    with engine.connect() as connection:
        rows, total = connection.execute(query).one()
    engine.dispose()
    return int(rows), int(total or 0)


def prepare_cpu_ms(photos: list[bytes]) -> float:
    """Median CPU ms (this process) of the upload's image work on one photo."""
    spent = []
    for body in photos:
        began = time.process_time()
        images.prepare(MediaType.jpeg, body)
        spent.append(time.process_time() - began)
    return statistics.median(spent) * 1000


def _print(phase: Phase) -> None:
    print(
        f"{phase.target:24} {phase.photos:4} photos  p50 {phase.p50_ms:7.1f} ms  "
        f"p99 {phase.p99_ms:7.1f} ms  max {phase.max_ms:7.1f} ms  "
        f"{phase.photos_per_s:6.1f} photos/s  server CPU {phase.server_cpu_ms:5.1f} ms a photo"
        f"  (load {phase.load_average:.1f})"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--photos", type=int, default=200, help="photos per phase")
    parser.add_argument("--clients", type=int, default=4, help="drivers uploading at once")
    parser.add_argument(
        "--ingest-duration", type=int, default=10, help="seconds per ingestion phase (0: none)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk's, for ingestion")
    parser.add_argument("--shipments", type=int, default=ingest.SHIPMENTS, help="for ingestion")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": ingest.machine(), "load_before": os.getloadavg()}
    print(json.dumps(results["machine"]), "load", results["load_before"])
    began = time.perf_counter()
    made = Photos()
    photos = made.many(WARM_UP + 2 * args.photos, first_seed=1)
    warm, sequential = photos[:WARM_UP], photos[WARM_UP : WARM_UP + args.photos]
    concurrent = photos[WARM_UP + args.photos :]
    sizes = [len(p) for p in photos]
    results["photos"] = {
        "count": len(photos),
        "mean_bytes": statistics.mean(sizes),
        "min_bytes": min(sizes),
        "max_bytes": max(sizes),
        "jpeg_quality": made.quality,
        "seconds_to_make": time.perf_counter() - began,
        "prepare_cpu_ms": prepare_cpu_ms(sequential[:20]),
    }
    print(json.dumps(results["photos"]))
    for db in args.db:
        results[db] = bench_db(db, sequential, concurrent, warm, args.clients)
        service, bare = results[db]["service"], results[db]["bare"]
        for mine, reference in zip(service, bare, strict=True):
            print(
                f"{mine['target']:24} ÷ bare: p50 ×{mine['p50_ms'] / reference['p50_ms']:.1f}, "
                f"photos/s ×{mine['photos_per_s'] / reference['photos_per_s']:.2f}"
            )
        print(
            f"  {results[db]['rows']} rows, {results[db]['files']} files, stored "
            f"{results[db]['stored_mean_bytes'] / 1000:.0f} KB a photo on average; "
            f"worker peak RSS {results[db]['peak_rss_mb']:.0f} MB"
        )
        if args.ingest_duration:
            results[db]["ingest"] = ingest.bench_located(
                db, args.ingest_duration, args.connections, args.shipments
            )
    results["load_after"] = os.getloadavg()
    print("load", results["load_after"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
