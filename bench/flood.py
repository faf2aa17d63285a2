"""Honest drivers under a flood of bad credentials: event ingestion with and without it,
against the same server, in one run.

    .venv/bin/python bench/flood.py --db sqlite postgres --duration 20

For each database: one uvicorn worker of the service (as bench/ingest.py runs it) and an
exporter's 300 shipments; then, for each `--flood` factor, four phases of `--duration`
seconds in the order alone, flood, flood, alone (so that a database growing through the
run favours neither side):

- alone: wrk's event ingestion (bench/wrk_events.lua, 32 connections), as bench/ingest.py;
- flood: the same, while a second wrk (bench/wrk_flood.lua) sends POST …/events with
  well-formed bodies and made-up driver links, each a different one, at `factor` × the
  honest events/s of the first alone phase (0: as fast as the server answers them).

The ratio is honest events/s under the flood over honest events/s alone (the goal: at least
0.8). For each phase it also reads the worker's CPU time (user + system, /proc) and prints
the CPU per honest event alone and what the flood added per bad request: a measure a busy
machine changes much less than a rate. Every flood answer must be a 401, every honest one a
201 that is stored.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402

from app.cli import alembic_config  # noqa: E402
from bench import databases, ingest  # noqa: E402

FLOOD_LUA = Path(__file__).resolve().parent / "wrk_flood.lua"


@dataclass
class Phase:
    flood_factor: float | None  # None: the honest load alone; 0: a flood as fast as it can
    honest: ingest.LoadResult
    worker_cpu_s: float  # the worker's user + system CPU during the honest load
    flood_requests_per_s: float | None = None
    flood_refused: int | None = None  # answered 401
    flood_other: int | None = None  # answered anything else (must be 0)
    load_average: float | None = None  # the machine's 1-minute load at the phase's end


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    server: ingest.Server,
    targets: Path,
    duration: int,
    connections: int,
    factor: float | None,
    alone_rate: float | None,
    flood_connections: int,
) -> Phase:
    flood = None
    if factor is not None:
        rate = 0.0 if factor == 0 else factor * (alone_rate or 0)
        args = ingest.wrk_command(
            server.url,
            targets,
            duration + 2,  # covers the honest load's whole window
            flood_connections,
            FLOOD_LUA,
            f"{rate:.1f}",
        )
        flood = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        time.sleep(0.2)
    cpu = process_cpu_s(server.process.pid)
    label = "alone" if factor is None else f"flood {factor:g}x"
    honest = ingest.run_wrk(server.url, targets, duration, connections, label)
    phase = Phase(factor, honest, process_cpu_s(server.process.pid) - cpu)
    if flood is not None:
        out, _ = flood.communicate(timeout=duration + 60)
        result = ingest.parse_wrk(out, "flood")
        statuses = dict(
            part.split("=")
            for part in out.split("flood statuses:")[1].split()  # "401=N other=M"
        )
        phase.flood_requests_per_s = result.requests_per_s
        phase.flood_refused = int(statuses["401"])
        phase.flood_other = int(statuses["other"])
    phase.load_average = os.getloadavg()[0]
    return phase


def bench_db(
    db: str,
    duration: int,
    connections: int,
    shipments: int,
    factors: list[float],
    flood_connections: int,
) -> dict[str, Any]:
    url = databases.url_for(db, "flood")
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    targets = databases.OUT / f"flood-targets-{db}.txt"
    with ingest.serve("app.main:create_app", ingest.app_env(url), factory=True) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            token, checkpoints, shipment_ids = ingest.prepare_world(client, shipments)
        ingest.write_targets(targets, token, checkpoints, shipment_ids)
        ingest.run_wrk(server.url, targets, max(1, duration // 5), connections, "warm-up")
        before = ingest.count_events(url)
        phases: list[Phase] = []
        alone_rate: float | None = None
        for factor in factors:
            for planned in (None, factor, factor, None):
                phase = run_phase(
                    server, targets, duration, connections, planned, alone_rate, flood_connections
                )
                if planned is None and alone_rate is None:
                    alone_rate = phase.honest.requests_per_s
                phases.append(phase)
                _print_phase(db, phase)
        time.sleep(0.5)  # requests wrk gave up on at the deadline may still be finishing
        stored = ingest.count_events(url) - before
    return {
        "phases": [asdict(p) for p in phases],
        "summary": [
            _summary(db, factor, phases[4 * i : 4 * i + 4], duration)
            for i, factor in enumerate(factors)
        ],
        "honest_requests": sum(p.honest.requests for p in phases),
        "stored": stored,
    }


def _summary(db: str, factor: float, mine: list[Phase], duration: int) -> dict[str, Any]:
    """One factor's four phases: the ratio, and the worker CPU each kind of request cost
    (what the flood phases took beyond their honest events at the alone phases' cost)."""
    alone = [p for p in mine if p.flood_factor is None]
    flooded = [p for p in mine if p.flood_factor is not None]
    alone_events = sum(p.honest.requests for p in alone)
    flooded_events = sum(p.honest.requests for p in flooded)
    cpu_per_event = sum(p.worker_cpu_s for p in alone) / alone_events
    bad = sum((p.flood_requests_per_s or 0) * duration for p in flooded)
    flood_cpu = sum(p.worker_cpu_s for p in flooded) - flooded_events * cpu_per_event
    summary = {
        "db": db,
        "flood_factor": factor,
        "alone_events_per_s": statistics.mean(p.honest.requests_per_s for p in alone),
        "flooded_events_per_s": statistics.mean(p.honest.requests_per_s for p in flooded),
        "flood_requests_per_s": statistics.mean(p.flood_requests_per_s or 0 for p in flooded),
        "ratio": flooded_events / alone_events,
        "worker_cpu_us_per_honest_event": cpu_per_event * 1e6,
        "worker_cpu_us_per_bad_request": flood_cpu / bad * 1e6 if bad else None,
        "flood_not_401": sum(p.flood_other or 0 for p in flooded),
        "honest_errors": sum(p.honest.errors for p in mine),
    }
    print(
        f"{db:8} flood {factor:g}x: honest {summary['alone_events_per_s']:6.0f} ev/s alone, "
        f"{summary['flooded_events_per_s']:6.0f} under {summary['flood_requests_per_s']:6.0f} "
        f"bad req/s: ratio {summary['ratio']:.2f} (goal >= 0.8); worker CPU "
        f"{summary['worker_cpu_us_per_honest_event']:.0f} µs per honest event, "
        f"{summary['worker_cpu_us_per_bad_request'] or 0:.0f} µs per bad request; "
        f"not 401: {summary['flood_not_401']}, honest errors: {summary['honest_errors']}"
    )
    return summary


def _print_phase(db: str, phase: Phase) -> None:
    flood = (
        f"flood {phase.flood_requests_per_s:6.0f} req/s ({phase.flood_refused} refused, "
        f"{phase.flood_other} other)"
        if phase.flood_factor is not None
        else "no flood"
    )
    print(
        f"  {db:8} {phase.honest.target:10} honest {phase.honest.requests_per_s:6.0f} ev/s "
        f"p50 {phase.honest.p50_ms:6.1f} ms p99 {phase.honest.p99_ms:6.1f} ms, "
        f"errors {phase.honest.errors}; worker CPU {phase.worker_cpu_s:5.1f} s; {flood}; "
        f"load {phase.load_average:.1f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per phase")
    parser.add_argument("--connections", type=int, default=32, help="honest wrk's")
    parser.add_argument("--flood-connections", type=int, default=16)
    parser.add_argument(
        "--flood",
        type=float,
        nargs="+",
        default=[1.0],
        help="bad requests/s as a multiple of the honest events/s alone; 0: unthrottled",
    )
    parser.add_argument("--shipments", type=int, default=ingest.SHIPMENTS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": ingest.machine(), "load_before": os.getloadavg()}
    print(json.dumps(results["machine"]), f"load average {results['load_before']}", flush=True)
    for db in args.db:
        results[db] = bench_db(
            db,
            args.duration,
            args.connections,
            args.shipments,
            args.flood,
            args.flood_connections,
        )
        print(
            f"  {db}: stored {results[db]['stored']} events for "
            f"{results[db]['honest_requests']} honest responses"
        )
    results["load_after"] = os.getloadavg()
    print(f"load average after: {results['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
