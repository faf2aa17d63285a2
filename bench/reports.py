"""Report timings at scale, on SQLite and PostgreSQL, beside DuckDB computing the same
figures from the same stops in the same run.

    .venv/bin/python bench/reports.py --stops 1000000 10000000 --db sqlite postgres

Each (database, size) gets a fresh migrated database filled by bench/synthetic_stops.py
(kept in bench/out/ and reused with --reuse; the load's phases are timed). Every report is
timed through the service (the database work and the Python around it) in a process of its
own, whose peak RSS is the report server's, and the checkpoint report also over HTTP
(TestClient: routing, auth, JSON); with day-cell rollups (the default) and, at sizes up to
--old-path (default 1M), with REPORT_ROLLUPS=false as well (every stop read, as before).
Each timing is the median of --repeat runs after one warm-up.

The reference: the same tables exported from that database (not timed) into DuckDB, which
computes each report's figures — counts, sums, exact percentiles, the slowest tenth's mean,
hold reasons, fees — with one SQL statement or a few per report, grouped as the report
groups (agencies through the checkpoints, weeks of arrival, HS chapters, procedures,
corridors), fetched whole. Its figures are compared with ours, field by field.
"""

import argparse
import csv
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
from alembic import command  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.auth.models import Role  # noqa: E402
from app.auth.principal import Principal  # noqa: E402
from app.cli import alembic_config  # noqa: E402
from app.collector import space_out_collections  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import create_db_engine, make_session_factory  # noqa: E402
from app.reports import corridors, live, service  # noqa: E402
from app.reports.filters import ReportFilters  # noqa: E402
from bench import databases  # noqa: E402
from bench.databases import OUT  # noqa: E402
from bench.synthetic_stops import load  # noqa: E402

ADMIN = Principal("user", Role.admin, None, None)
REPORTS = ("checkpoints", "agencies", "commodities", "procedures", "trends (week)", "corridors")


def database_url(db: str, stops: int) -> str:
    """bench/out/reports-<stops>.db, or the PostgreSQL database bench_reports-<stops>."""
    return databases.url_for(db, f"reports-{stops}")


def prepare(db: str, stops: int, reuse: bool) -> tuple[str, dict[str, Any] | None]:
    """The database's URL, and how its load went (None: reused)."""
    url = database_url(db, stops)
    if reuse and databases.exists(db, url):
        return url, None
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    started = time.perf_counter()
    loaded = load(engine, stops)
    wall = time.perf_counter() - started
    engine.dispose()
    return url, {
        "wall_seconds": wall,
        "seconds": loaded.seconds,
        "cpu_seconds": loaded.cpu_seconds,
        "writers": [
            {"tables": w.tables, "seconds": w.seconds, "cpu_seconds": w.cpu_seconds}
            for w in loaded.writers
        ],
        "index_seconds": loaded.index_seconds,
        "rows": loaded.rows,
    }


def timed(
    fn: Callable[[], Any],
    repeat: int,
    cpu: list[float] | None = None,
    clock: Callable[[], float] = time.process_time,
) -> float:
    """The median wall time of `repeat` runs after a warm-up; `cpu` gets the median of their
    CPU times by `clock` (this process's threads, and the database server's: cpu_clock()).
    On this shared machine a report's wall time moves by half between runs where its CPU
    time does not; a run that takes one of Python's full collections does, in both (+70 ms
    at 10M, bench/RESULTS.md session 18): medians, not means."""
    fn()  # warm-up: caches, statistics, page cache
    runs, spent = [], []
    for _ in range(repeat):
        began = clock()
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
        spent.append(clock() - began)
    if cpu is not None:
        cpu.append(statistics.median(spent))
    return statistics.median(runs)


def cpu_clock(url: str) -> Callable[[], float]:
    """CPU seconds used so far by this process and, for a PostgreSQL server on this machine,
    by the server: its report's work (a backend and the parallel workers it starts) is done
    there. SQLite's work is this process's."""
    host = make_url(url).host
    if not url.startswith("postgresql") or host not in ("127.0.0.1", "localhost", None):
        return time.process_time
    scanning = 0.0  # the CPU of reading /proc (~2 ms a time): left out

    def clock() -> float:
        nonlocal scanning
        began = time.process_time()
        server = server_cpu_seconds()
        ended = time.process_time()
        scanning += ended - began
        return ended - scanning + server

    return clock


def server_cpu_seconds() -> float:
    """Every postgres process's user and system CPU, with what each has reaped of its exited
    children (the postmaster's: the parallel workers and backends that have ended), from
    /proc. Other databases' work on the same server counts too: measure on a quiet one."""
    ticks = 0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() != "postgres":
                continue
            fields = (comm.parent / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def settings_for(url: str, rollups: bool = True) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        environment="test",
        log_level="WARNING",
        report_rollups=rollups,
        rollup_refresh_seconds=0,  # nothing writes: no refresh thread
    )


def report_builds() -> dict[str, Callable[[service.Scope], Any]]:
    """Each report as the dashboard asks for it (an admin's, no filters)."""
    return {
        "checkpoints": lambda s: service.checkpoint_report(s, sort="-total_delay_hours"),
        "agencies": service.agency_report,
        "commodities": service.commodity_report,
        "procedures": lambda s: service.procedure_report(s, by_checkpoint=False),
        "trends (week)": lambda s: service.trend_report(s, interval="week", by_checkpoint=False),
        "corridors": corridors.corridor_report,
    }


def time_reports(
    url: str,
    repeat: int,
    *,
    rollups: bool = True,
    answers: dict[str, Any] | None = None,
    peaks: dict[str, float] | None = None,
    cpu: dict[str, float] | None = None,
) -> dict[str, float]:
    """Each report's median time through the service (and the checkpoint report's over
    HTTP), in seconds; `answers` gets each report's items (JSON) from its last run, `peaks`
    this process's peak RSS (MB) after each report (in the order they run), `cpu` each
    report's median CPU seconds (timed())."""
    settings = settings_for(url, rollups)
    space_out_collections()  # as a worker (create_app) runs them
    clock = cpu_clock(url)
    spent: dict[str, list[float]] = defaultdict(list)
    engine = create_db_engine(settings)
    sessions = make_session_factory(engine)

    def run(name: str, build: Callable[[service.Scope], Any]) -> Callable[[], Any]:
        def once() -> Any:
            with sessions() as session:
                report = build(service.Scope(session, ADMIN, ReportFilters(), settings))
            if answers is not None:
                answers[name] = [item.model_dump(mode="json") for item in report.items]
            return report

        return once

    def live_status() -> Any:
        with sessions() as session:
            return live.live_status(session, principal=ADMIN, settings=settings)

    results = {}
    for name, build in report_builds().items():
        results[name] = timed(run(name, build), repeat, spent[name], clock)
        if peaks is not None:
            peaks[name] = peak_rss_mb()
    results["checkpoints/status"] = timed(live_status, repeat, spent["checkpoints/status"], clock)
    engine.dispose()
    http = "checkpoints over HTTP"
    results[http] = timed(_http_checkpoint_report(settings), repeat, spent[http], clock)
    if cpu is not None:
        cpu.update({name: seconds for name, [seconds] in spent.items()})
    return results


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, its memory's high-water mark. (getrusage's ru_maxrss
    would do, but Linux carries the parent's peak over into a child it forks and execs: a
    spawned report process would report the loading process's RSS.)"""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def profile_report(url: str, name: str, out: Path) -> None:
    """One report, warm, under cProfile: the functions that took the most time, printed,
    and the whole profile in `out` (for pstats or snakeviz)."""
    import cProfile
    import pstats

    settings = settings_for(url)
    engine = create_db_engine(settings)
    sessions = make_session_factory(engine)
    builds = report_builds()

    def once() -> None:
        with sessions() as session:
            builds[name](service.Scope(session, ADMIN, ReportFilters(), settings))

    once()  # warm-up
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(once)
    print(f"\n{name}: {time.perf_counter() - started:.2f} s under cProfile; {out}")
    profiler.dump_stats(out)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(15)
    engine.dispose()


def _http_checkpoint_report(settings: Settings) -> Callable[[], Any]:
    from fastapi.testclient import TestClient

    from app.auth.tokens import issue_access_token
    from app.main import create_app

    app = create_app(settings)
    client = TestClient(app)
    with app.state.session_factory() as session:
        admin_id = bench_admin(session)
    token, _ = issue_access_token(settings, admin_id)
    headers = {"Authorization": f"Bearer {token}"}

    def once() -> Any:
        response = client.get("/api/v1/reports/checkpoints", headers=headers)
        assert response.status_code == 200, response.text
        return response

    return once


BENCH_ADMIN = "bench@example.org"


def bench_admin(session: Any, password_hash: str = "x") -> Any:
    """The id of the benchmark's admin (made on first use; `password_hash` for one that
    signs in, see bench/dashboard.py)."""
    from app.auth.models import User
    from app.db import write_transaction

    admin = session.query(User).filter(User.email == BENCH_ADMIN).first()
    if admin is None or admin.password_hash != password_hash:
        with write_transaction(session):
            if admin is None:
                admin = User(email=BENCH_ADMIN, password_hash=password_hash, role=Role.admin)
                session.add(admin)
            else:
                admin.password_hash = password_hash
    return admin.id


def _serve_reports(url: str, repeat: int, rollups: bool) -> dict[str, Any]:
    """In a process of its own: the timings, the answers and this process's peak RSS."""
    answers: dict[str, Any] = {}
    peaks = {"start": peak_rss_mb()}
    cpu: dict[str, float] = {}
    timings = time_reports(url, repeat, rollups=rollups, answers=answers, peaks=peaks, cpu=cpu)
    peaks["checkpoints over HTTP"] = peak_rss_mb()
    return {
        "timings": timings,
        "cpu": cpu,
        "answers": answers,
        "peak_rss_mb": peak_rss_mb(),
        "peaks": peaks,
    }


def serve_reports(url: str, repeat: int, rollups: bool = True) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_serve_reports, url, repeat, rollups).result()


# --- the reference: DuckDB ----------------------------------------------------------------

# The columns each report reads, as the service's tables store them (ids as text).
EXPORT = {
    "checkpoints": "id, code, name, province, authority, jurisdiction",
    "shipments": "id, status, origin_province, destination_province, distance_km, transit_minutes",
    "stops": "id, shipment_id, checkpoint_id, arrived_at, dwell_minutes, outcome, hold_count, "
    "hs_chapters, origin_province, destination_province, trip_has_distance",
    "stop_holds": "checkpoint_id, arrived_at, reason, hs_chapters",
    "stop_procedures": "stop_id, procedure, minutes, run_number",
    "stop_fees": "shipment_id, checkpoint_id, arrived_at, hs_chapters, currency, amount, "
    "receipt, origin_province, destination_province, trip_has_distance",
}
TYPES = {
    "arrived_at": "TIMESTAMP",
    "dwell_minutes": "DOUBLE",
    "hold_count": "INTEGER",
    "trip_has_distance": "BOOLEAN",
    "minutes": "DOUBLE",
    "run_number": "INTEGER",
    "amount": "DECIMAL(16,2)",
    "receipt": "BOOLEAN",
    "distance_km": "DOUBLE",
    "transit_minutes": "DOUBLE",
}


def export_to_duckdb(url: str) -> duckdb.DuckDBPyConnection:
    """The tables the reports read, copied from the database into DuckDB (via CSV)."""
    OUT.mkdir(exist_ok=True)
    con = duckdb.connect()
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    for table, columns in EXPORT.items():
        path = OUT / f"export-{table}.csv"
        names = [c.strip() for c in columns.split(",")]
        if postgres:
            # times as UTC without an offset, as SQLite keeps them
            selected = ", ".join(
                f"{c} AT TIME ZONE 'UTC' AS {c}" if TYPES.get(c) == "TIMESTAMP" else c
                for c in names
            )
            raw = engine.raw_connection()
            try:
                cursor: Any = raw.driver_connection.cursor()  # type: ignore[union-attr]
                with (
                    path.open("wb") as out,
                    cursor.copy(
                        f"COPY (SELECT {selected} FROM {table}) TO STDOUT (FORMAT csv, HEADER)"
                    ) as copy,
                ):
                    for data in copy:
                        out.write(data)
            finally:
                raw.close()
        else:
            with engine.connect() as connection, path.open("w", newline="") as out:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                cursor.execute(f"SELECT {columns} FROM {table}")
                writer = csv.writer(out)
                writer.writerow(names)
                while rows := cursor.fetchmany(100_000):
                    writer.writerows(rows)
        types = ", ".join(f"'{c}': '{TYPES.get(c, 'VARCHAR')}'" for c in names)
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = true, "
            f"columns = {{{types}}})"
        )
        path.unlink()
    engine.dispose()
    return con


# One report's groups as (FROM-clause producing `g` and the columns, for stops, holds, fees).
Grouping = tuple[str, str, str]

GROUPINGS: dict[str, Grouping] = {
    "checkpoints": (
        "(SELECT checkpoint_id AS g, * FROM stops)",
        "(SELECT checkpoint_id AS g, * FROM stop_holds)",
        "(SELECT checkpoint_id AS g, * FROM stop_fees)",
    ),
    "agencies": tuple(  # type: ignore[assignment]
        f"(SELECT c.authority || '/' || c.jurisdiction AS g, t.* FROM {t} t "
        "JOIN checkpoints c ON c.id = t.checkpoint_id)"
        for t in ("stops", "stop_holds", "stop_fees")
    ),
    "commodities": tuple(  # type: ignore[assignment]
        f"(SELECT unnest(string_split(hs_chapters, ',')) AS g, * FROM {t} "
        "WHERE hs_chapters IS NOT NULL)"
        for t in ("stops", "stop_holds", "stop_fees")
    ),
    "trends (week)": tuple(  # type: ignore[assignment]
        f"(SELECT CAST(date_trunc('week', arrived_at) AS DATE) AS g, * FROM {t} "
        "WHERE arrived_at IS NOT NULL)"
        for t in ("stops", "stop_holds", "stop_fees")
    ),
}


def _figures(
    con: duckdb.DuckDBPyConnection, grouping: Grouping, standard: int, extra: str = ""
) -> dict[Any, dict[str, Any]]:
    """The delay figures per group (app/reports/figures.py's definitions)."""
    stops, holds, fees = grouping
    rows = con.execute(
        f"""
        SELECT g, count(*), count(*) FILTER (outcome <> 'open'), count(dwell_minutes),
               coalesce(sum(dwell_minutes), 0),
               count(*) FILTER (hold_count > 0), count(*) FILTER (outcome = 'turned_back'),
               count(*) FILTER (dwell_minutes <= {standard}),
               quantile_cont(dwell_minutes, 0.5), quantile_cont(dwell_minutes, 0.9) {extra}
        FROM {stops} GROUP BY g
        """
    ).fetchall()
    # The slowest tenth's mean from each group's sorted values (an ordered aggregate: 4×
    # faster here than a window's row_number() over the groups).
    tails = dict(
        con.execute(
            f"""
            SELECT g, list_avg(list_slice(v, len(v) - greatest(1, ceil(len(v) * 0.1))::BIGINT
                                             + 1, len(v)))
            FROM (SELECT g, list(dwell_minutes ORDER BY dwell_minutes) AS v
                  FROM {stops} WHERE dwell_minutes IS NOT NULL GROUP BY g)
            """
        ).fetchall()
    )
    found: dict[Any, dict[str, Any]] = {}
    for g, n, done, timed_, total, held, turned, within, p50, p90, *more in rows:
        found[g] = {
            "stops": n,
            "completed_stops": done,
            "p50_dwell_minutes": p50,
            "p90_dwell_minutes": p90,
            "mean_dwell_minutes": total / timed_ if timed_ else None,
            "tail_mean_dwell_minutes": tails.get(g),
            "within_standard_share": within / timed_ if timed_ else None,
            "hold_rate": held / n,
            "turn_back_rate": turned / n,
            "total_delay_hours": total / 60,
            "top_hold_reasons": {},
            "fees": {},
            "_more": more,
        }
    for g, reason, count in con.execute(
        f"SELECT g, reason, count(*) FROM {holds} GROUP BY g, reason"
    ).fetchall():
        found[g]["top_hold_reasons"][reason] = count
    for g, currency, total, unreceipted in con.execute(
        f"SELECT g, currency, sum(amount), coalesce(sum(amount) FILTER (NOT receipt), 0) "
        f"FROM {fees} GROUP BY g, currency"
    ).fetchall():
        found[g]["fees"][currency] = {
            "total": float(total),
            "unreceipted_share": float(unreceipted / total) if total else None,
        }
    return found


def _checkpoints_figures(con: duckdb.DuckDBPyConnection, standard: int) -> dict[Any, Any]:
    found = _figures(con, GROUPINGS["checkpoints"], standard)
    names = dict(con.execute("SELECT id, code FROM checkpoints").fetchall())
    return {_uuid(g): f | {"checkpoint_code": names[g]} for g, f in found.items()}


def _agencies_figures(con: duckdb.DuckDBPyConnection, standard: int) -> dict[Any, Any]:
    found = _figures(con, GROUPINGS["agencies"], standard, ", count(DISTINCT checkpoint_id)")
    return {tuple(g.split("/")): f | {"checkpoints": f["_more"][0]} for g, f in found.items()}


def _commodities_figures(con: duckdb.DuckDBPyConnection, standard: int) -> dict[Any, Any]:
    return _figures(con, GROUPINGS["commodities"], standard)


def _trends_figures(con: duckdb.DuckDBPyConnection, standard: int) -> dict[Any, Any]:
    found = _figures(con, GROUPINGS["trends (week)"], standard)
    for week, f in found.items():
        before = found.get(date.fromordinal(week.toordinal() - 7))
        if before is not None:
            f["change_stops"] = f["stops"] - before["stops"]
            f["change_hold_rate"] = f["hold_rate"] - before["hold_rate"]
            for q in ("p50", "p90"):
                f[f"change_{q}_dwell_minutes"] = (
                    f[f"{q}_dwell_minutes"] - before[f"{q}_dwell_minutes"]
                )
    return {week.isoformat(): f for week, f in found.items()}


def _procedures_figures(con: duckdb.DuckDBPyConnection, standard: int) -> dict[Any, Any]:
    stops, minutes = con.execute(
        "SELECT count(*), coalesce(sum(dwell_minutes), 0) FROM stops"
    ).fetchone() or (0, 0.0)
    rows = con.execute(
        """
        SELECT procedure, count(*) FILTER (run_number = 1),
               quantile_cont(minutes, 0.5), quantile_cont(minutes, 0.9),
               coalesce(sum(minutes), 0),
               coalesce(sum(minutes) FILTER (stop_id IN (
                   SELECT id FROM stops WHERE dwell_minutes IS NULL)), 0)
        FROM stop_procedures GROUP BY procedure
        """
    ).fetchall()
    return {
        procedure: {
            "stops_requiring": n,
            "share_of_stops": n / stops if stops else None,
            "p50_minutes": p50,
            "p90_minutes": p90,
            "total_hours": total / 60,
            "share_of_stop_time": (total - untimed) / minutes if minutes else None,
        }
        for procedure, n, p50, p90, total, untimed in rows
    }


def _corridors_figures(con: duckdb.DuckDBPyConnection, standard: int) -> dict[Any, Any]:
    left_out = "SELECT id FROM shipments WHERE status IN ('planned', 'cancelled')"
    trips = con.execute(
        """
        SELECT origin_province, destination_province, count(*), count(transit_minutes),
               count(distance_km), coalesce(sum(distance_km), 0),
               quantile_cont(transit_minutes, 0.5)
        FROM shipments WHERE status NOT IN ('planned', 'cancelled') GROUP BY ALL
        """
    ).fetchall()
    stops = con.execute(
        f"""
        SELECT origin_province, destination_province, checkpoint_id, trip_has_distance,
               count(*), coalesce(sum(dwell_minutes), 0)
        FROM stops WHERE shipment_id NOT IN ({left_out}) GROUP BY ALL
        """
    ).fetchall()
    fees = con.execute(
        f"""
        SELECT origin_province, destination_province, currency, trip_has_distance,
               sum(amount), coalesce(sum(amount) FILTER (NOT receipt), 0)
        FROM stop_fees WHERE shipment_id NOT IN ({left_out}) GROUP BY ALL
        """
    ).fetchall()
    carec = _corridors_carec(con)
    found: dict[Any, dict[str, Any]] = {}
    per: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"stops": 0, "delay": 0.0, "known_stops": 0, "known_delay": 0.0, "by": {}}
    )
    for o, d, cp, known, n, delay in stops:
        part = per[(o, d)]
        part["stops"] += n
        part["delay"] += delay
        if known:
            part["known_stops"] += n
            part["known_delay"] += delay
        part["by"][cp] = part["by"].get(cp, 0.0) + delay
    money: dict[Any, dict[str, list[float]]] = defaultdict(dict)
    for o, d, currency, known, total, unreceipted in fees:
        sums = money[(o, d)].setdefault(currency, [0.0, 0.0, 0.0, 0.0])
        sums[0] += float(total)
        sums[1] += float(unreceipted)
        if known:
            sums[2] += float(total)
            sums[3] += float(unreceipted)
    for o, d, n, delivered, with_distance, km, median in trips:
        part = per[(o, d)]
        per_100km = 100 / km if km else None
        worst = max(part["by"].items(), key=lambda item: item[1]) if part["by"] else None
        found[(o, d)] = {
            "trips": n,
            "delivered_trips": delivered,
            "median_transit_hours": median / 60 if median is not None else None,
            "stops_per_trip": part["stops"] / n,
            "delay_hours_per_trip": part["delay"] / 60 / n,
            "trips_with_distance": with_distance,
            "stops_per_100km": part["known_stops"] * per_100km if per_100km else None,
            "delay_minutes_per_100km": part["known_delay"] * per_100km if per_100km else None,
            "worst_checkpoint_id": _uuid(worst[0]) if worst else None,
            "worst_checkpoint_delay_share": worst[1] / part["delay"] if worst else None,
            "fees": {
                currency: {"per_trip": sums[0] / n, "unreceipted_per_trip": sums[1] / n}
                for currency, sums in money[(o, d)].items()
            },
            **carec.get((o, d), {"delivered_trips_with_distance": 0}),
        }
    return found


def _corridors_carec(con: duckdb.DuckDBPyConnection) -> dict[Any, dict[str, Any]]:
    """CAREC CPMM's figures over the trips delivered with a known distance: total km over
    total hours, with and without their stops' dwell; their fees per trip."""
    timed = (
        "status NOT IN ('planned', 'cancelled') "
        "AND transit_minutes IS NOT NULL AND distance_km IS NOT NULL"
    )
    trips = con.execute(
        f"""
        SELECT origin_province, destination_province, count(*), sum(distance_km),
               sum(transit_minutes), coalesce(sum(at_checkpoints), 0)
        FROM shipments LEFT JOIN (
            SELECT shipment_id, sum(dwell_minutes) AS at_checkpoints FROM stops GROUP BY ALL
        ) ON shipment_id = id
        WHERE {timed} GROUP BY ALL
        """
    ).fetchall()
    fees = con.execute(
        f"""
        SELECT origin_province, destination_province, currency, sum(amount)
        FROM stop_fees WHERE shipment_id IN (SELECT id FROM shipments WHERE {timed})
        GROUP BY ALL
        """
    ).fetchall()
    paid: dict[Any, dict[str, float]] = defaultdict(dict)
    for o, d, currency, total in fees:
        paid[(o, d)][currency] = float(total)
    found = {}
    for o, d, n, km, transit, at_checkpoints in trips:
        moving = transit - at_checkpoints
        found[(o, d)] = {
            "delivered_trips_with_distance": n,
            "speed_with_delay_kmh": km / (transit / 60) if transit > 0 else None,
            "speed_without_delay_kmh": km / (moving / 60) if moving > 0 else None,
            "time_at_checkpoints_share": at_checkpoints / transit if transit > 0 else None,
            "cost_per_trip": {c: total / n for c, total in paid[(o, d)].items()},
        }
    return found


DUCKDB: dict[str, Callable[[duckdb.DuckDBPyConnection, int], dict[Any, Any]]] = {
    "checkpoints": _checkpoints_figures,
    "agencies": _agencies_figures,
    "commodities": _commodities_figures,
    "procedures": _procedures_figures,
    "trends (week)": _trends_figures,
    "corridors": _corridors_figures,
}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def time_duckdb(
    con: duckdb.DuckDBPyConnection,
    repeat: int,
    standard: int = 60,
    cpu: dict[str, float] | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Each report's figures in DuckDB: the median time, and the figures; `cpu` gets each
    one's median CPU seconds (all of DuckDB's threads: they are this process's)."""
    timings, figures = {}, {}
    for name, compute in DUCKDB.items():
        spent: list[float] = []
        timings[name] = timed(lambda compute=compute: compute(con, standard), repeat, spent)
        figures[name] = compute(con, standard)
        if cpu is not None:
            cpu[name] = spent[0]
    return timings, figures


# --- the same figures? --------------------------------------------------------------------

KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "checkpoints": lambda row: _uuid(row["checkpoint_id"]),
    "agencies": lambda row: (row["authority"], row["jurisdiction"]),
    "commodities": lambda row: row["hs_chapter"],
    "procedures": lambda row: row["procedure"],
    "trends (week)": lambda row: row["period_start"],
    "corridors": lambda row: (row["origin_province"], row["destination_province"]),
}


def compare(name: str, ours: list[dict[str, Any]], theirs: dict[Any, Any]) -> list[str]:
    """What differs between our report's items and DuckDB's figures (empty: the same).
    Floats agree to 1e-9 relative (sums are added in another order)."""
    problems = []
    mine = {KEYS[name](row): row for row in ours}
    if set(mine) != set(theirs):
        problems.append(f"groups differ: {sorted(map(str, set(mine) ^ set(theirs)))[:5]}")
    for key in set(mine) & set(theirs):
        row, other = mine[key], theirs[key]
        for field, want in other.items():
            if field.startswith("_"):
                continue
            have = row.get(field)
            if field == "top_hold_reasons":
                have = {r["reason"]: r["count"] for r in have or []}
            elif field == "cost_per_trip":
                have = {c["currency"]: _number(c["amount"]) for c in have or []}
            elif field == "fees":
                have = {
                    f["currency"]: {k: _number(v) for k, v in f.items() if k in want[f["currency"]]}
                    for f in have or []
                    if f["currency"] in want
                }
            # corridor fees and costs: ours are rounded to the cent
            money = ("fees", "cost_per_trip")
            tolerance = 0.0051 if name == "corridors" and field in money else 1e-9
            if not _same(have, want, tolerance):
                problems.append(f"{key} {field}: ours {have!r}, DuckDB {want!r}")
    return problems


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, str) else value


def _same(a: Any, b: Any, tolerance: float = 1e-9) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tolerance) for k in a)
    if isinstance(b, uuid.UUID):
        return a is not None and _uuid(a) == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=tolerance)
    return bool(a == b)


# --- the run ------------------------------------------------------------------------------


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


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run_one(db: str, stops: int, args: argparse.Namespace) -> dict[str, Any]:
    started = time.strftime("%H:%M:%S", time.gmtime())
    loads = [load_average()]
    url, loaded = prepare(db, stops, args.reuse)
    if loaded:
        print(f"\n{db}, {stops:,} stops loaded in {loaded['wall_seconds']:.1f} s: ", end="")
        print(", ".join(f"{k} {v:.1f}" for k, v in loaded["seconds"].items()), flush=True)
    served = serve_reports(url, args.repeat)
    loads.append(load_average())
    old = None
    if stops <= args.old_path:
        old = serve_reports(url, args.repeat, rollups=False)["timings"]
    con = export_to_duckdb(url)
    con.execute(f"SET threads = {os.cpu_count()}")
    duck_cpu: dict[str, float] = {}
    duck, figures = time_duckdb(con, args.repeat, cpu=duck_cpu)
    con.close()
    loads.append(load_average())
    differences = {name: compare(name, served["answers"][name], figures[name]) for name in DUCKDB}
    result = {
        "db": db,
        "stops": stops,
        "started_utc": started,
        "load_average": loads,
        "load": loaded,
        "reports": served["timings"],
        "reports_cpu": served["cpu"],
        "old_path": old,
        "duckdb": duck,
        "duckdb_cpu": duck_cpu,
        "peak_rss_mb": served["peak_rss_mb"],
        "peak_rss_mb_after": served["peaks"],
        "differences": differences,
    }
    print_one(result)
    return result


def print_one(result: dict[str, Any]) -> None:
    print(
        f"\n{result['db']}, {result['stops']:,} stops (started {result['started_utc']} UTC, "
        f"load average {' → '.join(result['load_average'])}); "
        f"report process peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    old = result["old_path"]
    print(
        "  peak RSS after each report: "
        + ", ".join(f"{k} {v:.0f}" for k, v in result["peak_rss_mb_after"].items())
    )
    print(
        f"  {'report':<24} {'ours ms':>9} {'DuckDB ms':>10} {'ratio':>6}"
        f" {'ours CPU ms':>12} {'DuckDB CPU ms':>14} {'ratio':>6}"
        + (f" {'no rollups ms':>14}" if old else "")
    )
    for name, seconds in result["reports"].items():
        duck = result["duckdb"].get(name)
        line = f"  {name:<24} {seconds * 1000:9.1f}"
        line += f" {duck * 1000:10.1f} {seconds / duck:6.1f}" if duck else " " * 18
        cpu, duck_cpu = result["reports_cpu"][name], result["duckdb_cpu"].get(name)
        line += f" {cpu * 1000:12.1f}"
        line += f" {duck_cpu * 1000:14.1f} {cpu / duck_cpu:6.1f}" if duck_cpu else " " * 22
        if old:
            line += f" {old[name] * 1000:14.1f}"
        print(line)
    for name, problems in result["differences"].items():
        if problems:
            print(f"  {name}: {len(problems)} figures differ from DuckDB's, e.g. {problems[:3]}")
    if not any(result["differences"].values()):
        print("  every figure the same as DuckDB's")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stops", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--reuse", action="store_true", help="keep databases loaded by an earlier run"
    )
    parser.add_argument(
        "--old-path",
        type=int,
        default=1_000_000,
        help="also time REPORT_ROLLUPS=false at sizes up to this many stops",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--profile",
        choices=REPORTS,
        help="instead: this report under cProfile, on each (database, size) given",
    )
    args = parser.parse_args(argv)
    if args.profile:
        for db in args.db:
            for stops in args.stops:
                url, _ = prepare(db, stops, args.reuse)
                name = args.profile.split()[0]
                profile_report(url, args.profile, OUT / f"profile-{db}-{stops}-{name}.prof")
        return []
    results = []
    for db in args.db:
        for stops in args.stops:
            results.append(run_one(db, stops, args))
            if args.json:
                summary = {"machine": machine(), "args": vars(args), "results": results}
                args.json.write_text(json.dumps(summary, indent=2, default=str))
    for db in args.db:
        for measure, key in (("wall", "reports"), ("CPU", "reports_cpu")):
            mine = {r["stops"]: r[key] for r in results if r["db"] == db}
            if len(mine) > 1:
                small, large = min(mine), max(mine)
                growth = ", ".join(
                    f"{name} ×{mine[large][name] / mine[small][name]:.1f}"
                    for name in mine[small]
                    if mine[small][name] > 0
                )
                print(f"\n{db}, {large:,} against {small:,} stops ({measure}): {growth}")
    print("\nmachine:", json.dumps(machine()))
    return results


if __name__ == "__main__":
    main()
