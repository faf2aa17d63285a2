"""The migrations are the schema: they round-trip and match the models on both databases."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.cli import alembic_config
from app.db import Base
from tests.conftest import PG_URL, DatabaseUnderTest, create_pg_database, drop_pg_database


@pytest.fixture
def empty_db_url(database: DatabaseUnderTest, tmp_path: Path) -> Iterator[str]:
    if database.backend == "postgres":
        assert PG_URL
        url = create_pg_database("clearance_migr")
        yield url
        drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _drift(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips(empty_db_url: str) -> None:
    config = alembic_config(empty_db_url)
    expected = set(Base.metadata.tables)

    command.upgrade(config, "head")
    assert _tables(empty_db_url) == expected

    command.downgrade(config, "base")
    assert _tables(empty_db_url) == set()

    command.upgrade(config, "head")
    assert _tables(empty_db_url) == expected


def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    command.upgrade(alembic_config(empty_db_url), "head")
    assert _drift(empty_db_url) == []
