"""The benchmark scripts at a tiny size, so they cannot rot between benchmark runs."""

import os
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select

from app.cli import alembic_config
from app.tracking.models import Stop
from bench import cpu_budget, databases, flood, ingest, reports, seed
from bench.synthetic_stops import load


@pytest.fixture(autouse=True)
def _own_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files and PostgreSQL databases apart from a real benchmark's, which may be running."""
    monkeypatch.setattr(databases, "OUT", tmp_path)
    monkeypatch.setattr(databases, "PG_PREFIX", "bench_smoke_")
    monkeypatch.setattr(reports, "OUT", tmp_path)


def test_report_bench_loads_stops_and_times_every_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    load(engine, 500, checkpoints=8, organizations=5)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Stop)) == 500
    engine.dispose()

    timings = reports.time_reports(url, repeat=1)

    assert set(timings) >= {"checkpoints", "corridors", "trends (week)", "checkpoints over HTTP"}
    assert all(seconds > 0 for seconds in timings.values())
    assert reports.time_duckdb(url, repeat=1) > 0


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
