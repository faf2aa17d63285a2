"""Test databases: every test that uses `client` runs once on SQLite and once on PostgreSQL
(when TEST_POSTGRES_URL is set). Schemas are built by the Alembic migrations, never create_all.

SQLite: one migrated template file per run, copied for each test (a fresh file per test).
PostgreSQL: one migrated database per run, its tables truncated after each test.
"One per run" is one per xdist worker, made when the worker first needs it and kept until
the worker ends: migrating takes seconds, and a session fixture parametrized by backend is
torn down each time the backend changes (twice in nearly every test file).
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

import app.models  # noqa: F401  (all tables on the metadata)
from app.cli import alembic_config
from app.config import Settings
from app.db import Base
from app.main import create_app
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD

# The one headless Chromium of the run (tests/e2e, tests/reliability).
pytest_plugins = ["tests.browser"]

PG_URL = os.environ.get("TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"


@dataclass
class DatabaseUnderTest:
    backend: str
    template_url: str
    tmp_root: Path
    _reset: "_PostgresReset | None" = field(default=None, repr=False)

    def url_for_test(self, tmp_path: Path) -> str:
        if self.backend == "postgres":
            return self.template_url
        template = make_url(self.template_url).database
        assert template is not None
        target = tmp_path / "test.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"

    def reset(self) -> None:
        """PostgreSQL: every table emptied and every used sequence restarted, as a TRUNCATE of
        all the tables with RESTART IDENTITY would leave them, in a few milliseconds instead of
        0.3-0.9 s: only the tables holding rows are touched, with DELETE, triggers and foreign
        key checks off for the transaction (session_replication_role, a superuser's setting,
        which .ci/run's postgres is; anyone else gets those tables truncated)."""
        if self.backend != "postgres":
            return  # the per-test file is simply left behind in tmp_path
        if self._reset is None:
            self._reset = _PostgresReset(self.template_url)
        self._reset.run()

    def close(self) -> None:
        if self._reset is not None:
            self._reset.engine.dispose()
        if self.backend == "postgres":
            drop_pg_database(self.template_url)


class _PostgresReset:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        with self.engine.connect() as connection:
            self.superuser = bool(
                connection.scalar(
                    text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                )
            )
            owned = connection.execute(
                text(
                    "SELECT s.relname, t.relname FROM pg_class s "
                    "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
                    "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                    "JOIN pg_class t ON t.oid = d.refobjid "
                    "WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace"
                )
            ).all()
        tables = [table.name for table in Base.metadata.sorted_tables]
        self.owner = {sequence: table for sequence, table in owned if table in tables}
        # One query: the tables that hold a row, and the sequences that have been used.
        self.probe = " UNION ALL ".join(
            [f"SELECT 't', '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables]
            + [
                f"SELECT 's', sequencename::text FROM pg_sequences "
                f"WHERE schemaname = current_schema() AND sequencename = '{sequence}' "
                "AND last_value IS NOT NULL"
                for sequence in self.owner
            ]
        )

    def run(self) -> None:
        with self.engine.begin() as connection:
            found = connection.execute(text(self.probe)).all()
            tables = sorted({name for kind, name in found if kind == "t"})
            sequences = sorted({name for kind, name in found if kind == "s"})
            if not self.superuser:
                tables = sorted({*tables, *(self.owner[s] for s in sequences)})
                if tables:
                    names = ", ".join(f'"{name}"' for name in tables)
                    connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            if tables:
                connection.execute(text("SET LOCAL session_replication_role = replica"))
                for name in tables:
                    connection.execute(text(f'DELETE FROM "{name}"'))
            for name in sequences:
                connection.execute(text(f'ALTER SEQUENCE "{name}" RESTART'))


def create_pg_database(prefix: str) -> str:
    """A new empty PostgreSQL database on the TEST_POSTGRES_URL server; returns its URL."""
    assert PG_URL is not None
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    assert PG_URL is not None
    name = make_url(url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@contextmanager
def module_database(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[str]:
    """A migrated database of a test module's own (a world built once for its tests): a new
    PostgreSQL database, dropped afterwards, or a SQLite file copied from the template."""
    if database.backend == "postgres":
        url = create_pg_database(f"clearance_{name}")
        migrate(url)
        try:
            yield url
        finally:
            drop_pg_database(url)
    else:
        yield database.url_for_test(tmp_path_factory.mktemp(name))


def _migrated_database(backend: str, root: Path) -> DatabaseUnderTest:
    if backend == "postgres":
        url = create_pg_database("clearance_test")
    else:
        url = f"sqlite:///{root / 'template.db'}"
    migrate(url)
    return DatabaseUnderTest(backend, url, root)


@pytest.fixture(scope="session")
def _migrated_databases() -> Iterator[dict[str, DatabaseUnderTest]]:
    """This worker's migrated databases, by backend: made when first asked for, kept (and the
    PostgreSQL one emptied after each test) until the worker ends."""
    made: dict[str, DatabaseUnderTest] = {}
    yield made
    for database in made.values():
        database.close()


@pytest.fixture(scope="session", params=BACKENDS)
def database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _migrated_databases: dict[str, DatabaseUnderTest],
) -> DatabaseUnderTest:
    backend: str = request.param
    if backend not in _migrated_databases:
        root = tmp_path_factory.mktemp(backend)
        _migrated_databases[backend] = _migrated_database(backend, root)
    return _migrated_databases[backend]


@pytest.fixture
def db_url(database: DatabaseUnderTest, tmp_path: Path) -> Iterator[str]:
    yield database.url_for_test(tmp_path)
    database.reset()


def make_settings(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": db_url,
        "secret_key": TEST_SECRET,
        "bootstrap_admin_email": ADMIN_EMAIL,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        # Cheap argon2id parameters: the algorithm is the same, the tests stay fast.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "log_json": False,
        "log_level": "WARNING",
        # No refresh thread: tests that need the rollups refreshed do it by hand (or ask).
        "rollup_refresh_seconds": 0,
        # No dispatcher thread either: the webhook tests drive their own, or ask for the
        # server's. A thread running while pytest collects (schemathesis starts an app at
        # import) met CPython 3.11's race in ast.parse ("AST constructor recursion depth
        # mismatch") in CI.
        "webhook_dispatcher": "external",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Evidence files of the test's own, never in the checkout's ./data.
    return make_settings(db_url, attachments_dir=tmp_path / "attachments")


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    return app.state.engine  # type: ignore[no-any-return]


def pytest_report_header() -> str:
    where = make_url(PG_URL).render_as_string(hide_password=True) if PG_URL else "not set"
    return f"databases under test: {', '.join(BACKENDS)} (TEST_POSTGRES_URL: {where})"


# --- the order of the work under `pytest -n N --dist loadfile` (scripts/test) -----------------
#
# xdist gives each worker one test file at a time, and by default the files with the most
# tests first: the benchmarks' smoke tests (8 tests, 400 s) and the crash test (2 tests, 90 s)
# came last, and a run could end on one worker still busy with them while the other waited.
# This scheduler hands out the longest work first instead. Each file is still one unit, so
# that its tests share its module fixtures (one world per reports file, one demo site per
# browser file) as in one process; and the files in TOGETHER are one unit between them: the
# smoke tests load the machine themselves (servers under wrk, a browser), and the crash test
# needs the server it kills to get through 10 events a round: it failed with 12 in 3 rounds
# beside the ingest benchmark's smoke test (on a machine already at load average 7, where it
# has also failed alone with 1, and passed with 60 to 244).

# Seconds each file took with --durations on a busy 2-CPU machine (2026-12-06), less the
# migrations and PostgreSQL resets this conftest no longer repeats; a file not listed counts
# 0.6 s a test. Only the order of the work depends on these figures, never what runs.
FILE_SECONDS = {
    "tests/test_bench_smoke.py": 400,
    "tests/reliability/test_fuzzing.py": 220,
    "tests/test_workers.py": 120,
    "tests/test_role_matrix.py": 110,
    "tests/reliability/test_crash_durability.py": 90,
    "tests/e2e/test_dashboard.py": 90,
    "tests/reports/test_rollups.py": 90,
    "tests/test_cli.py": 80,
    "tests/demo/test_generator.py": 80,
    "tests/e2e/test_driver_photos.py": 65,
    "tests/e2e/test_driver.py": 50,
    "tests/positions/test_timeline_positions.py": 35,
}
SECONDS_PER_TEST = 0.6
TOGETHER = ("tests/test_bench_smoke.py", "tests/reliability/test_crash_durability.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self.weights: dict[str, float] = {}

        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return " + ".join(TOGETHER) if file in TOGETHER else file

        def _weight(self, scope: str) -> float:
            files = scope.split(" + ")
            tests = len(self.workqueue[scope])
            if all(file in FILE_SECONDS for file in files):
                return sum(FILE_SECONDS[file] for file in files)
            return SECONDS_PER_TEST * tests

        def _assign_work_unit(self, node: Any) -> None:
            if not self.weights:
                self.weights = {scope: self._weight(scope) for scope in self.workqueue}
            longest = max(self.workqueue, key=self.weights.__getitem__)
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)
