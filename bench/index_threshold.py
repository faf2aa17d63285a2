"""Each report's CPU time with the dwell index read from several cell sizes up, alternating
in one process (app/reports/value_index.py, INDEXED_FROM), over bench/reports.py's databases.

    BENCH_OUT=… .venv/bin/python bench/index_threshold.py --stops 10000000 --db sqlite

Process CPU time (the database's own work too on SQLite, not PostgreSQL's server), median
of 3 after a warm-up, an admin's reports with no filters, as bench/reports.py builds them.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.db import create_db_engine, make_session_factory  # noqa: E402
from app.reports import service, value_index  # noqa: E402
from app.reports.filters import ReportFilters  # noqa: E402
from bench.reports import ADMIN, load_average, prepare, report_builds, settings_for  # noqa: E402

NEVER = 2**31 - 1  # more values than a cell holds (an SQL integer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--thresholds", type=int, nargs="+", default=[1024, 4096, NEVER])
    args = parser.parse_args()
    url, _ = prepare(args.db, args.stops, reuse=True)
    settings = settings_for(url)
    sessions = make_session_factory(create_db_engine(settings))
    print(f"{args.db}, {args.stops:,} stops, load average {load_average()}")
    for name, build in report_builds().items():
        cells = []
        for threshold in args.thresholds:
            value_index.INDEXED_FROM = threshold
            times = []
            for _ in range(4):
                started, wall = time.process_time(), time.perf_counter()
                with sessions() as session:
                    build(service.Scope(session, ADMIN, ReportFilters(), settings))
                times.append((time.process_time() - started, time.perf_counter() - wall))
            cpu = statistics.median(t[0] for t in times[1:]) * 1000
            wall_ms = statistics.median(t[1] for t in times[1:]) * 1000
            label = "never" if threshold == NEVER else f"{threshold:,}"
            cells.append(f"from {label}: CPU {cpu:5.0f} ms, wall {wall_ms:5.0f}")
        print(f"  {name:<15} " + " | ".join(cells), flush=True)
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
