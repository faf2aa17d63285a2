"""One bulletins world per test module and database (building it takes a few seconds)."""

from collections.abc import Iterator

import pytest

from tests.bulletins.world import World, build_world
from tests.conftest import DatabaseUnderTest, module_database
from tests.reports.conftest import client_on


@pytest.fixture(scope="module")
def world_url(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with module_database(database, tmp_path_factory, "bulletins") as url:
        yield url


@pytest.fixture(scope="module")
def world(world_url: str) -> Iterator[World]:
    with client_on(world_url) as client:
        yield build_world(client)
