"""Report timings at scale, on SQLite and PostgreSQL, beside DuckDB on the same rows.

    .venv/bin/python bench/reports.py --stops 100000 1000000 --db sqlite postgres

Each (database, size) gets a fresh migrated database filled by bench/synthetic_stops.py
(kept in bench/out/ and reused with --reuse). Every report is timed through the service
(the database work and the Python around it) and the checkpoint report also over HTTP
(TestClient: routing, auth, JSON). Each timing is the median of --repeat runs after one
warm-up. DuckDB computes the checkpoint report's core figures from the same stops as the
analytics reference; the ratio says how far from a columnar engine we are.
"""

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
from alembic import command  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.auth.models import Role  # noqa: E402
from app.auth.principal import Principal  # noqa: E402
from app.cli import alembic_config  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import create_db_engine, make_session_factory  # noqa: E402
from app.reports import corridors, live, service  # noqa: E402
from app.reports.filters import ReportFilters  # noqa: E402
from bench import databases  # noqa: E402
from bench.databases import OUT, PG_ADMIN  # noqa: E402
from bench.synthetic_stops import load  # noqa: E402

ADMIN = Principal("user", Role.admin, None, None)


def database_url(db: str, stops: int) -> str:
    if db == "sqlite":
        return f"sqlite:///{OUT / f'reports-{stops}.db'}"
    return make_url(PG_ADMIN).set(database=f"bench_reports_{stops}").render_as_string(False)


def prepare(db: str, stops: int, reuse: bool) -> tuple[str, float | None]:
    url = database_url(db, stops)
    if reuse and databases.exists(db, url):
        return url, None
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    started = time.perf_counter()
    load(engine, stops)
    elapsed = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if db == "postgres" else "ANALYZE"))
    engine.dispose()
    return url, elapsed


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: caches, statistics, page cache
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def time_reports(url: str, repeat: int) -> dict[str, float]:
    settings = Settings(_env_file=None, database_url=url, environment="test")  # type: ignore[call-arg]
    engine = create_db_engine(settings)
    sessions = make_session_factory(engine)

    def run(build: Callable[[service.Scope], Any]) -> Callable[[], Any]:
        def once() -> Any:
            with sessions() as session:
                return build(service.Scope(session, ADMIN, ReportFilters(), settings))

        return once

    def live_status() -> Any:
        with sessions() as session:
            return live.live_status(session, principal=ADMIN, settings=settings)

    results = {
        "checkpoints": timed(
            run(lambda s: service.checkpoint_report(s, sort="-total_delay_hours")), repeat
        ),
        "agencies": timed(run(service.agency_report), repeat),
        "commodities": timed(run(service.commodity_report), repeat),
        "procedures": timed(
            run(lambda s: service.procedure_report(s, by_checkpoint=False)), repeat
        ),
        "trends (week)": timed(
            run(lambda s: service.trend_report(s, interval="week", by_checkpoint=False)), repeat
        ),
        "corridors": timed(run(corridors.corridor_report), repeat),
        "checkpoints/status": timed(live_status, repeat),
    }
    engine.dispose()
    results["checkpoints over HTTP"] = timed(_http_checkpoint_report(url), repeat)
    return results


def _http_checkpoint_report(url: str) -> Callable[[], Any]:
    from fastapi.testclient import TestClient

    from app.auth.models import User
    from app.auth.tokens import issue_access_token
    from app.main import create_app

    settings = Settings(_env_file=None, database_url=url, environment="test", log_level="WARNING")  # type: ignore[call-arg]
    app = create_app(settings)
    client = TestClient(app)
    with app.state.session_factory() as session:
        admin = session.query(User).filter(User.role == Role.admin).first()
        if admin is None:
            admin = User(email="bench@example.org", password_hash="x", role=Role.admin)
            session.add(admin)
            session.commit()
        token, _ = issue_access_token(settings, admin.id)
    headers = {"Authorization": f"Bearer {token}"}

    def once() -> Any:
        response = client.get("/api/v1/reports/checkpoints", headers=headers)
        assert response.status_code == 200, response.text
        return response

    return once


DUCKDB_QUERY = """
SELECT checkpoint_id, count(*) AS stops,
       count(*) FILTER (WHERE outcome <> 'open') AS completed,
       quantile_cont(dwell_minutes, 0.5) AS p50, quantile_cont(dwell_minutes, 0.9) AS p90,
       avg(dwell_minutes) AS mean, sum(dwell_minutes) / 60 AS delay_hours,
       avg(CASE WHEN hold_count > 0 THEN 1 ELSE 0 END) AS hold_rate,
       avg(CASE WHEN outcome = 'turned_back' THEN 1 ELSE 0 END) AS turn_back_rate,
       count(DISTINCT organization_id) AS organizations
FROM stops GROUP BY checkpoint_id
"""


def time_duckdb(url: str, repeat: int) -> float:
    """The same stops in DuckDB (loaded from a CSV export, not timed), its report timed."""
    export = OUT / "stops-export.csv"
    engine = create_engine(url)
    with engine.connect() as connection, export.open("w", newline="") as out:
        writer = csv.writer(out)
        columns = ["checkpoint_id", "dwell_minutes", "outcome", "hold_count", "organization_id"]
        writer.writerow(columns)
        result = connection.execute(text(f"SELECT {', '.join(columns)} FROM stops"))
        for row in result:
            writer.writerow(row)
    engine.dispose()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE stops AS SELECT * FROM read_csv_auto('{export}')")
    seconds = timed(lambda: con.execute(DUCKDB_QUERY).fetchall(), repeat)
    con.close()
    export.unlink()
    return seconds


def machine() -> dict[str, str]:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    import sqlite3

    return {
        "cpu_count": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stops", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="keep databases loaded by an earlier run"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for stops in args.stops:
        duck = None
        for db in args.db:
            url, load_seconds = prepare(db, stops, args.reuse)
            timings = time_reports(url, args.repeat)
            if duck is None:
                duck = time_duckdb(url, args.repeat)
            results.append(
                {
                    "db": db,
                    "stops": stops,
                    "load_seconds": load_seconds,
                    "duckdb_checkpoints": duck,
                    "reports": timings,
                }
            )
            print(
                f"\n{db}, {stops:,} stops"
                + (f" (loaded in {load_seconds:.1f} s)" if load_seconds else "")
            )
            for name, seconds in timings.items():
                print(f"  {name:<24} {seconds * 1000:9.1f} ms")
            print(
                f"  {'DuckDB checkpoints':<24} {duck * 1000:9.1f} ms  "
                f"(ours / DuckDB = {timings['checkpoints'] / duck:.1f})"
            )
    print("\nmachine:", json.dumps(machine()))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
