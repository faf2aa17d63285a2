"""Fresh benchmark databases: SQLite files in bench/out/ (BENCH_OUT), PostgreSQL databases on
BENCH_POSTGRES_URL (default: the local server)."""

import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

OUT = Path(os.environ.get("BENCH_OUT") or Path(__file__).resolve().parent / "out")
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# The test suite's smoke runs use their own (tests/test_bench_smoke.py), so that a suite run
# never drops the database of a benchmark running beside it.
PG_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench_")


def url_for(db: str, name: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{OUT / f'{name}.db'}"
    return make_url(PG_ADMIN).set(database=f"{PG_PREFIX}{name}").render_as_string(False)


def exists(db: str, url: str) -> bool:
    if db == "sqlite":
        return Path(make_url(url).database or "").exists()
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": make_url(url).database}
        )
    admin.dispose()
    return bool(found)


def recreate(db: str, url: str) -> None:
    """An empty database at `url` (schema-less: run the migrations next)."""
    if db == "sqlite":
        OUT.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
