"""The benchmark scripts at a tiny size, so they cannot rot between benchmark runs."""

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, func, select

from app.cli import alembic_config
from app.tracking.models import Stop
from bench import reports
from bench.synthetic_stops import load


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
    reports.OUT = tmp_path
    assert reports.time_duckdb(url, repeat=1) > 0
