"""The reports' test world: built through the API once per test module and database.

Building it takes a few seconds (55 shipments, each with its events in one POST /sync), and
reports only read, so each module's tests share one world in a database of its own: a copy
of the migrated SQLite template, or a freshly migrated PostgreSQL database. Tests that need
an empty database use the usual `client` fixture instead.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import (
    DatabaseUnderTest,
    create_pg_database,
    drop_pg_database,
    make_settings,
    migrate,
)
from tests.reports.builders import World, build_world


@pytest.fixture(scope="module")
def world_url(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if database.backend == "postgres":
        url = create_pg_database("clearance_reports")
        migrate(url)
        yield url
        drop_pg_database(url)
    else:
        yield database.url_for_test(tmp_path_factory.mktemp("reports"))


@contextmanager
def client_on(url: str, **settings: object) -> Iterator[TestClient]:
    """A client of an app over `url`, with settings other than the defaults if asked."""
    with TestClient(create_app(make_settings(url, **settings))) as client:
        yield client


@pytest.fixture(scope="module")
def world(world_url: str) -> Iterator[World]:
    with client_on(world_url) as client:
        yield build_world(client)
