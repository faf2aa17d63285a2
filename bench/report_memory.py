"""How much memory each report takes at scale, and the dashboard's six taking turns.

    MALLOC_ARENA_MAX=1 .venv/bin/python bench/report_memory.py --stops 10000000 --db postgres

Uses the database bench/reports.py loaded (run that first: it is reused here, never
loaded). Two measurements, each in a fresh process so that one's peak is not another's:

- alone: each report (as the dashboard asks for it, an admin's, no filters) three times in a
  process of its own: its peak RSS (VmHWM) over the process's RSS before it, and its least
  CPU and wall time of the three;
- together: the six on a pool of eight threads (as a worker answers the dashboard's
  requests), three rounds, each report in a report slot (reports/slots.py) of
  `--concurrency` (0: no limit): the process's RSS before and its peak after.

Set MALLOC_ARENA_MAX as the service runs (scripts/run, the Dockerfile: 1): a thread's
malloc arena keeps what it freed, and the peaks depend on it.
"""

import argparse
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from app.db import create_db_engine, make_session_factory  # noqa: E402
from app.reports import service  # noqa: E402
from app.reports.filters import ReportFilters  # noqa: E402
from app.reports.slots import report_slot  # noqa: E402
from bench.reports import (  # noqa: E402
    ADMIN,
    REPORTS,
    database_url,
    load_average,
    peak_rss_mb,
    report_builds,
    settings_for,
)


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def _sessions(url: str) -> tuple[Any, Callable[[], Any]]:
    settings = settings_for(url)
    sessions = make_session_factory(create_db_engine(settings))
    with sessions() as session:  # connected, and everything a report imports imported
        session.execute(text("SELECT 1"))
    return settings, sessions


def alone(url: str, name: str) -> dict[str, float]:
    settings, sessions = _sessions(url)
    build = report_builds()[name]
    before = peak_rss_mb()
    cpu, wall = [], []
    for _ in range(3):
        started_cpu, started = time.process_time(), time.perf_counter()
        with sessions() as session:
            build(service.Scope(session, ADMIN, ReportFilters(), settings))
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return {
        "start_mb": before,
        "peak_over_start_mb": peak_rss_mb() - before,
        "cpu_ms": min(cpu) * 1000,
        "wall_ms": min(wall) * 1000,
    }


def together(url: str, concurrency: int) -> dict[str, float]:
    settings, sessions = _sessions(url)
    before = rss_mb()

    def one(name: str) -> None:
        with report_slot(concurrency), sessions() as session:
            report = report_builds()[name](service.Scope(session, ADMIN, ReportFilters(), settings))
            report.model_dump_json()  # the answer, as the route renders it

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            list(pool.map(one, REPORTS))
            gc.collect()
    return {
        "start_mb": before,
        "peak_mb": peak_rss_mb(),
        "after_mb": rss_mb(),
        "round_ms": (time.perf_counter() - started) / 3 * 1000,
    }


def in_a_process(*args: str) -> dict[str, float]:
    """One measurement in a fresh interpreter (this script, `--child`)."""
    found = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stops", type=int, default=10_000_000)
    parser.add_argument("--db", default="postgres", choices=["sqlite", "postgres"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, url, value = args.child
        found = alone(url, value) if kind == "alone" else together(url, int(value))
        print(json.dumps(found))
        return
    url = database_url(args.db, args.stops)
    print(f"{args.db}, {args.stops:,} stops; load average {load_average()}")
    for name in REPORTS:
        found = in_a_process("alone", url, name)
        print(
            f"  {name:<14} alone: +{found['peak_over_start_mb']:.0f} MB over "
            f"{found['start_mb']:.0f}; CPU {found['cpu_ms']:.0f} ms, wall {found['wall_ms']:.0f} ms"
        )
    for concurrency in args.concurrency:
        found = in_a_process("together", url, str(concurrency))
        print(
            f"  all six on 8 threads, {concurrency or 'no limit'} at a time: peak "
            f"{found['peak_mb']:.0f} MB (started {found['start_mb']:.0f}, after "
            f"{found['after_mb']:.0f}); {found['round_ms']:.0f} ms a round"
        )
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
