"""Test databases: every test that uses `client` runs once on SQLite and once on PostgreSQL
(when TEST_POSTGRES_URL is set). Schemas are built by the Alembic migrations, never create_all.

SQLite: one migrated template file per run, copied for each test (a fresh file per test).
PostgreSQL: one migrated database per run, its tables truncated after each test.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

    def url_for_test(self, tmp_path: Path) -> str:
        if self.backend == "postgres":
            return self.template_url
        template = make_url(self.template_url).database
        assert template is not None
        target = tmp_path / "test.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"

    def reset(self) -> None:
        if self.backend != "postgres":
            return  # the per-test file is simply left behind in tmp_path
        engine = create_engine(self.template_url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()


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


@pytest.fixture(scope="session", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseUnderTest]:
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "postgres":
        url = create_pg_database("clearance_test")
        migrate(url)
        yield DatabaseUnderTest("postgres", url, root)
        drop_pg_database(url)
    else:
        url = f"sqlite:///{root / 'template.db'}"
        migrate(url)
        yield DatabaseUnderTest("sqlite", url, root)


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
