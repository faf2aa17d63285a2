"""The benchmark scripts at a tiny size, so they cannot rot between benchmark runs."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.cli import alembic_config
from app.privacy import Thresholds
from app.tracking.models import Stop
from bench import (
    cpu_budget,
    dashboard,
    databases,
    eta_backtest,
    flood,
    forecast_backtest,
    ingest,
    public_feed,
    report_memory,
    reports,
    seed,
    synthetic_stops,
    webhooks,
)


@pytest.fixture(autouse=True)
def own_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Files and PostgreSQL databases apart from a real benchmark's, which may be running, and
    from the other smoke tests' (each test may run on its own xdist worker, see
    tests/conftest.py, and another suite may be running on the same server): the databases'
    names start with a prefix of the test's own, and are dropped when the test ends."""
    prefix = f"bench_smoke_{uuid.uuid4().hex[:8]}_"
    monkeypatch.setattr(databases, "OUT", tmp_path)
    monkeypatch.setattr(databases, "PG_PREFIX", prefix)
    monkeypatch.setattr(reports, "OUT", tmp_path)
    yield prefix
    if os.environ.get("TEST_POSTGRES_URL"):
        admin = create_engine(os.environ["TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            names = connection.scalars(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)"),
                {"prefix": prefix},
            ).all()
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_report_bench_times_every_report_beside_duckdb_with_the_same_figures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench/reports.py at 500 stops: every report timed (with and without rollups), each
    beside DuckDB's computation of the same figures, which must agree field by field."""
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    results = reports.main(["--stops", "500", "--db", *dbs, "--repeat", "1"])

    for result in results:
        assert set(result["reports"]) >= {"checkpoints", "corridors", "checkpoints over HTTP"}
        assert all(seconds > 0 for seconds in result["reports"].values())
        assert set(result["old_path"]) == set(result["reports"])
        assert set(result["duckdb"]) == set(reports.DUCKDB)
        assert set(result["reports_cpu"]) == set(result["reports"])
        assert all(seconds > 0 for seconds in result["reports_cpu"].values())
        assert set(result["duckdb_cpu"]) == set(reports.DUCKDB)
        assert result["differences"] == {name: [] for name in reports.DUCKDB}
        assert result["load"]["rows"] > 500
        assert 0 < result["peak_rss_mb"] < 1000


def test_report_bench_counts_the_postgres_servers_cpu() -> None:
    """On PostgreSQL a report's work is mostly the server's: the benchmark's CPU clock counts
    it (its backend and the parallel workers the postmaster reaps), not this process's alone."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url or make_url(url).host not in ("127.0.0.1", "localhost"):
        pytest.skip("needs a PostgreSQL server on this machine (TEST_POSTGRES_URL)")
    clock = reports.cpu_clock(url)
    assert reports.cpu_clock("sqlite:///x.db") is time.process_time
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            before, own_before = clock(), time.process_time()
            connection.execute(text("SELECT count(*) FROM generate_series(1, 3000000)"))
            server = (clock() - before) - (time.process_time() - own_before)
    finally:
        engine.dispose()
    assert server > 0.05  # a few hundred ms of the server's CPU, ours a few µs


def test_public_feed_bench_times_the_feed_beside_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/public_feed.py at 500 stops: the feed served, revalidated and computed, DuckDB's
    windows and forecast beside them, the same figures; the feed's clock put back after."""
    clock = public_feed.feed.utcnow
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    results = public_feed.main(["--stops", "500", "--db", *dbs, "--repeat", "2"])
    for result in results:
        for timing in ("served", "revalidated", "health", "windows", "forecast", "duckdb_windows"):
            assert result[timing]["wall_ms"] > 0, timing
        assert result["same_figures"] is True
        assert result["same_forecast"] is True
        assert result["checkpoints"] > 0
    assert public_feed.feed.utcnow is clock


def test_forecast_backtest_counts_the_next_weeks_stops_under_the_forecast(
    tmp_path: Path,
) -> None:
    """bench/forecast_backtest.py on a small demo world, at a threshold low enough for
    forecasts to exist: every stop of the weeks is counted, shares are shares."""
    from app.auth.passwords import Passwords
    from app.db import make_session_factory
    from app.demo import generator
    from tests.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    with make_session_factory(engine)() as session:
        generator.seed(
            session, passwords=Passwords(make_settings(url)), shipments=600, seed=3, days=84
        )
        result = forecast_backtest.backtest(session, 2, Thresholds(1, 1))
        ended = session.scalar(
            select(func.count()).select_from(Stop).where(Stop.closed_at.is_not(None))
        )
    engine.dispose()
    assert len(result["weeks"]) == 2
    assert 0 < result["stops"] <= (ended or 0)
    assert 0 < result["covered"] <= result["stops"]
    assert 0 <= result["share_under_p50"] <= result["share_under_p90"] <= 1


def test_eta_backtest_sets_each_eta_against_the_delivery(tmp_path: Path) -> None:
    """bench/eta_backtest.py on a small demo world: every tested trip gets an ETA at its
    departure and at each arrival, and the shares are shares (p50's no more than p90's)."""
    from app.auth.passwords import Passwords
    from app.db import make_session_factory
    from app.demo import generator
    from tests.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    with make_session_factory(engine)() as session:
        generator.seed(
            session, passwords=Passwords(make_settings(url)), shipments=400, seed=5, days=60
        )
        thresholds = Thresholds(3, 10)  # the defaults, as GET /shipments/{id} makes the ETA
        result = eta_backtest.backtest(
            session, days=20, settle=2, limit=40, arrivals=True, thresholds=thresholds
        )
        cost = eta_backtest.request_cost(session, thresholds, shipments=5)
    engine.dispose()
    assert 0 < result["trips"] <= 40
    assert result["no_eta"] == 0
    assert result["departure"]["etas"] == result["trips"]
    assert result["arrival"]["etas"] >= result["trips"]
    for kind in ("departure", "arrival"):
        found = result[kind]
        assert 0 <= found["share_by_p50"] <= found["share_by_p90"] <= 1
        assert found["median_abs_error_p50_minutes"] >= 0
    # Up to 5 of the trips on the road now: how many are depends on the hour the demo ends.
    assert 0 <= cost["shipments"] <= 5
    if cost["shipments"]:
        assert cost["first_ms"]["p50"] >= 0
        assert cost["warm_ms"]["p50"] > 0


def test_loader_makes_the_same_rows_in_parallel_and_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two writer processes (and SQLite's merge of the second file) store exactly the
    rows one process stores, foreign keys and rollups included."""
    tables = ["stops", "stop_holds", "stop_procedures", "stop_fees", "shipments", "cargo_lines"]
    stored = []
    for parallel_from in (10**9, 0):
        monkeypatch.setattr(synthetic_stops, "PARALLEL_FROM", parallel_from)
        url = f"sqlite:///{tmp_path / f'load-{parallel_from}.db'}"
        command.upgrade(alembic_config(url), "head")
        engine = create_engine(url)
        with engine.connect() as connection:
            migrated_triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY 1")
            ).all()
        assert len(migrated_triggers) > 20
        loaded = synthetic_stops.load(engine, 500, checkpoints=8, organizations=5, check=True)
        assert loaded.stops == 500
        with engine.connect() as connection:
            stored.append(
                {
                    table: connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()
                    for table in [*tables, "day_cells"]
                }
            )
            assert connection.scalar(select(func.count()).select_from(Stop)) == 500
            assert not connection.scalar(text("SELECT count(*) FROM rollup_dirty"))
            # Every trigger of the migrated database is back, as the migrations wrote it.
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY 1")
            ).all()
            assert triggers == migrated_triggers
        engine.dispose()
    assert stored[0] == stored[1]


def test_report_memory_bench_measures_each_report_and_the_six_together(
    tmp_path: Path, own_databases: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/report_memory.py on bench/reports.py's database of 500 stops, in a process of its
    own (its measurements are processes of their own)."""
    env = {**os.environ, "BENCH_OUT": str(tmp_path), "BENCH_PG_PREFIX": own_databases}
    db = "sqlite"
    if os.environ.get("TEST_POSTGRES_URL"):
        db = "postgres"
        env["BENCH_POSTGRES_URL"] = os.environ["TEST_POSTGRES_URL"]
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    reports.prepare(db, 500, reuse=False)
    script = Path(report_memory.__file__)
    argv = ["--stops", "500", "--db", db, "--concurrency", "1", "0"]
    found = subprocess.run(
        [sys.executable, str(script), *argv],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    ).stdout
    for name in reports.REPORTS:
        assert f"  {name:<14} alone: +" in found
    assert "1 at a time: peak" in found
    assert "no limit at a time: peak" in found


def test_dashboard_bench_draws_every_panel_in_chromium(tmp_path: Path, own_databases: str) -> None:
    """bench/dashboard.py at 500 stops, in a process of its own (Playwright's sync API
    allows one instance per thread, and the browser tests may hold this one's)."""
    env = {**os.environ, "BENCH_OUT": str(tmp_path), "BENCH_PG_PREFIX": own_databases}
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        env["BENCH_POSTGRES_URL"] = os.environ["TEST_POSTGRES_URL"]
    out = tmp_path / "dashboard.json"
    script = Path(dashboard.__file__)
    argv = ["--stops", "500", "--db", *dbs, "--runs", "1", "--timeout", "60", "--json", str(out)]
    subprocess.run([sys.executable, str(script), *argv], env=env, check=True, timeout=300)

    for result in json.loads(out.read_text()):
        assert result["median_ms"] > 0
        assert result["ranking_rows"] == 40  # every checkpoint of the synthetic world
        assert "/api/v1/reports/corridors" in result["median_request_ms"]
        assert 0 < result["worker_peak_rss_mb"] < 1000


def test_ingest_bench_loads_the_service_and_its_baselines_over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench/ingest.py at a tiny size: wrk against the bare apps and the service on SQLite
    (and PostgreSQL when the suite runs on it), every acknowledged event stored."""
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    argv = ["--db", *dbs, "--duration", "1", "--connections", "4", "--shipments", "5"]
    results = ingest.main([*argv, "--sync-repeat", "1"])

    for kind in ("async", "sync"):
        assert results["bare"][kind]["requests_per_s"] > 0
        assert results["bare"][kind]["errors"] == 0
    assert results["service_path"]["requests_per_s"] > 0
    assert results["service_path"]["errors"] == 0
    for db in dbs:
        service = results[db]
        assert service["errors"] == 0
        assert service["requests"] > 0
        assert service["stored"] >= service["requests"]  # acknowledged means stored
        assert 0 < service["peak_rss_mb"] < 1000
        assert service["sync"]["median_s"] > 0


def test_ingest_bench_compares_numbers_of_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/ingest.py --workers 1 2 at a tiny size: `clearance serve --workers N` loaded in
    phases 1, 2, 2, 1 on one database, every acknowledged event stored."""
    db = "sqlite"
    if os.environ.get("TEST_POSTGRES_URL"):
        db = "postgres"  # what the measurement is for
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    argv = ["--db", db, "--workers", "1", "2", "--duration", "1", "--connections", "4"]
    results = ingest.main([*argv, "--shipments", "5"])

    phases = results[db]["phases"]
    assert [phase["workers"] for phase in phases] == [1, 2, 2, 1]
    for phase in phases:
        assert phase["errors"] == 0
        assert phase["stored"] >= phase["requests"] > 0
        assert phase["worker_cpu_us_per_event"] > 0
    assert set(results[db]["events_per_s"]) == {1, 2}


def test_flood_bench_runs_ingestion_with_and_without_bad_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench/flood.py at a tiny size: the four phases against one server, every bad request
    answered 401, every honest one stored."""
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    argv = ["--db", *dbs, "--duration", "1", "--connections", "4", "--shipments", "5"]
    results = flood.main([*argv, "--flood-connections", "2", "--flood", "1"])

    for db in dbs:
        [summary] = results[db]["summary"]
        assert summary["ratio"] > 0
        assert summary["flood_requests_per_s"] > 0
        assert summary["flood_not_401"] == 0
        assert summary["honest_errors"] == 0
        assert results[db]["stored"] >= results[db]["honest_requests"] > 0


def test_seed_bench_times_the_demo_load(monkeypatch: pytest.MonkeyPatch) -> None:
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    results = seed.main(["--db", *dbs, "--shipments", "30"])
    for db in dbs:
        assert results[db]["shipments"] == 30
        assert results[db]["stops"] > 30
        assert results[db]["seconds"] > 0


def test_cpu_budget_bench_measures_the_request_path_and_the_writer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    argv = ["--db", *dbs, "--requests", "50", "--events", "64", "--batch", "16"]
    results = cpu_budget.main(argv)

    # The service's path does all the bare endpoint does, and more (middleware, auth).
    assert 0 < results["bare_path_us"] < results["service_path_us"]
    for db in dbs:
        assert results[f"writer_{db}_us"] > 0
        assert results[f"event_path_{db}_us"] > results[f"writer_{db}_us"]


def test_webhooks_bench_measures_the_outbox_and_one_dispatcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dbs = ["sqlite"]
    if os.environ.get("TEST_POSTGRES_URL"):
        dbs.append("postgres")
        monkeypatch.setattr(databases, "PG_ADMIN", os.environ["TEST_POSTGRES_URL"])
    monkeypatch.setattr(cpu_budget, "SHIPMENTS", 20)
    results = webhooks.main(["--db", *dbs, "--events", "64", "--deliveries-from", "96"])
    for db in dbs:
        cost, sent = results[db]["ingestion"], results[db]["delivery"]
        assert set(cost["writer_us"]) == {"none", "idle", "subscribed"}
        assert all(us > 0 for us in cost["writer_us"].values())
        # Every message written was delivered, each signature accepted by the receiver.
        assert sent["messages"] > 0
        assert sent["succeeded"] == sent["messages"]
        assert sent["bad_signatures"] == 0
        assert sent["dispatcher_per_s"] > 0
