"""One bulletins world per test module and database (building it takes a few seconds)."""

from collections.abc import Iterator

import pytest

from tests.bulletins.world import World, build_world
from tests.conftest import DatabaseUnderTest, create_pg_database, drop_pg_database, migrate
from tests.reports.conftest import client_on


@pytest.fixture(scope="module")
def world_url(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if database.backend == "postgres":
        url = create_pg_database("clearance_bulletins")
        migrate(url)
        yield url
        drop_pg_database(url)
    else:
        yield database.url_for_test(tmp_path_factory.mktemp("bulletins"))


@pytest.fixture(scope="module")
def world(world_url: str) -> Iterator[World]:
    with client_on(world_url) as client:
        yield build_world(client)
