"""The migrations are the schema: they round-trip and match the models on both databases."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

from app.cli import alembic_config
from app.db import Base
from app.reports import value_index
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


def test_migrations_fill_new_columns_of_existing_rows(empty_db_url: str) -> None:
    """Rows stored before the report migrations get their HS chapter, transit time and stop
    context filled in: upgrading never leaves old data behind."""
    config = alembic_config(empty_db_url)
    command.upgrade(config, TRACKING_REVISION)
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        for statement in OLD_ROWS:
            connection.execute(text(statement))
    engine.dispose()

    command.upgrade(config, "head")

    engine = create_engine(empty_db_url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT hs_chapter FROM cargo_lines")) == "72"
        assert connection.scalar(text("SELECT transit_minutes FROM shipments")) == 150.0
        for table in ("stop_holds", "stop_procedures", "stop_fees"):
            row = connection.execute(
                text(f"SELECT shipment_id, organization_id, checkpoint_id FROM {table}")
            ).one()
            assert [str(v).replace("-", "") for v in row] == [SHIPMENT, ORG, CHECKPOINT]
        for table in ("stops", "stop_fees"):  # the trip's corridor; no distance was given
            origin, destination, has_distance = connection.execute(
                text(
                    f"SELECT origin_province, destination_province, trip_has_distance FROM {table}"
                )
            ).one()
            assert (origin, destination, has_distance is not None, bool(has_distance)) == (
                "erbil",
                "baghdad",
                True,
                False,
            )
    engine.dispose()


def test_the_network_rows_are_filled_from_the_month_rows_there_are(empty_db_url: str) -> None:
    """Month rows stored before the network's rows existed: each month's procedure gets its
    row, every checkpoint's runs added up and their minutes merged in order."""
    config = alembic_config(empty_db_url)
    command.upgrade(config, "e7f9a1b3c5d6")
    month = 20_454  # 2026-01-01, days since 1970
    cells = [  # (checkpoint, month, procedure, runs, minutes)
        (2, month, "document_check", 2, [5.0, 9.5]),
        (3, month, "document_check", 3, [1.25, 7.0, 30.0]),
        (3, month, "inspection", 1, [12.0]),
        (2, month + 31, "document_check", 1, [4.0]),
    ]
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        for checkpoint, day, procedure, runs, minutes in cells:
            connection.execute(
                text(
                    "INSERT INTO month_cell_procedures (checkpoint_id, arrival_day, procedure,"
                    " first_runs, timed_runs, minutes, untimed_minutes, minute_values,"
                    " minute_index, exporters, fee_events) VALUES (:cp, :day, :procedure,"
                    " :runs, :runs, :total, 0.5, :values, :index, :exporters, 1)"
                ),
                {
                    "cp": f"{checkpoint:032x}",
                    "day": day,
                    "procedure": procedure,
                    "runs": runs,
                    "total": sum(minutes),
                    "values": np.array(minutes, "<f8").tobytes(),
                    "index": b"",
                    "exporters": bytes(16),
                },
            )
    engine.dispose()

    command.upgrade(config, "head")

    engine = create_engine(empty_db_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT checkpoint_id, arrival_day, procedure, first_runs, timed_runs, minutes,"
                " untimed_minutes, fee_events, minute_values, minute_index, exporters"
                " FROM month_network_procedures ORDER BY arrival_day, procedure"
            )
        ).all()
    engine.dispose()
    merged = np.array([1.25, 5.0, 7.0, 9.5, 30.0], "<f8").tobytes()
    assert [(str(r[0]).replace("-", ""), *r[1:8]) for r in rows] == [
        ("0" * 32, month, "document_check", 5, 5, 52.75, 1.0, 2),
        ("0" * 32, month, "inspection", 1, 1, 12.0, 0.5, 1),
        ("0" * 32, month + 31, "document_check", 1, 1, 4.0, 0.5, 1),
    ]
    assert bytes(rows[0][8]) == merged
    assert bytes(rows[0][9]) == value_index.index_of(merged)
    assert bytes(rows[0][10]) == b""


TRACKING_REVISION = "6c09b6e7f173"
ORG, CHECKPOINT, SHIPMENT, STOP = (f"{i:032x}" for i in (1, 2, 3, 4))
OLD_ROWS = [
    f"INSERT INTO organizations (id, name, created_at) "
    f"VALUES ('{ORG}', 'Old Co', '2026-01-01 00:00:00')",
    f"INSERT INTO checkpoints (id, code, name, province, kind, authority, jurisdiction, active, "
    f"created_at, updated_at) VALUES ('{CHECKPOINT}', 'OLD-1', 'Old', 'kirkuk', 'internal', "
    f"'army', 'federal', true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    f"INSERT INTO shipments (id, tracking_code, organization_id, status, origin_province, "
    f"origin_city, destination_province, destination_city, truck_plate, driver_name, "
    f"driver_phone, planned_departure, distance_estimated, departed_at, delivered_at, "
    f"created_at, updated_at) VALUES ('{SHIPMENT}', 'KRD-OLD2-OLD3', '{ORG}', 'delivered', "
    f"'erbil', 'Erbil', 'baghdad', 'Baghdad', 'P', 'D', '+9647000000', "
    f"'2026-01-01 06:00:00', false, '2026-01-01 06:00:00', '2026-01-01 08:30:00', "
    f"'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    f"INSERT INTO cargo_lines (id, shipment_id, line_no, hs_code, description, quantity, unit, "
    f"weight_kg, value_usd) VALUES ('{5:032x}', '{SHIPMENT}', 1, '721420', 'Rebar', 1, 't', "
    f"1000, 700)",
    f"INSERT INTO stops (id, shipment_id, organization_id, checkpoint_id, seq, arrived_at, "
    f"closed_at, outcome, dwell_minutes, hold_count, held_minutes, is_current, last_event_at, "
    f"anomalies) VALUES ('{STOP}', '{SHIPMENT}', '{ORG}', '{CHECKPOINT}', 1, "
    f"'2026-01-01 07:00:00', '2026-01-01 07:30:00', 'released', 30, 1, 10, false, "
    f"'2026-01-01 07:30:00', '[]')",
    f"INSERT INTO stop_holds (stop_id, reason, started_at, ended_at, minutes, event_id) "
    f"VALUES ('{STOP}', 'security', '2026-01-01 07:10:00', '2026-01-01 07:20:00', 10, "
    f"'{6:032x}')",
    f"INSERT INTO stop_procedures (stop_id, procedure, started_at, completed_at, minutes) "
    f"VALUES ('{STOP}', 'document_check', '2026-01-01 07:00:00', '2026-01-01 07:05:00', 5)",
    f"INSERT INTO stop_fees (stop_id, amount, currency, receipt, paid_at, event_id) "
    f"VALUES ('{STOP}', 5000, 'IQD', false, '2026-01-01 07:05:00', '{7:032x}')",
]


def test_sqlite_cell_tables_keep_their_values_last_and_their_rows(empty_db_url: str) -> None:
    """The cell tables are rewritten with their values last (SQLite reaches a column after
    a large value only through that value's overflow pages); every row stays as it was."""
    config = alembic_config(empty_db_url)
    command.upgrade(config, "c5e7a9b1d3f4")
    values = np.arange(5_000, dtype="<f8").tobytes()  # past a page: stored in overflow pages
    month_cell = {
        "checkpoint_id": f"{7:032x}",
        "arrival_day": 20_454,
        # Every column its own value: a column moved into another's place shows.
        "stops": 5_003,
        "completed_stops": 4_990,
        "timed_stops": 5_000,
        "total_dwell_minutes": 12_497_500.0,
        "held_stops": 12,
        "turned_back_stops": 1,
        "dwell_values": values,
        "dwell_index": value_index.index_of(values),
        "holds": b"holds",
        "fees": b"fees",
        "exporters": bytes(range(32)),
        "confirmed_stops": 3,
        "contradicted_stops": 4,
        "anomalous_stops": 5,
        "fee_events": 2,
        "photographed_fees": 6,
    }
    cargo_cell = {**month_cell, "hs_chapters": "07,08"}
    procedure_cell = {
        "checkpoint_id": f"{7:032x}",
        "arrival_day": 20_454,
        "procedure": "inspection",
        "first_runs": 4,
        "timed_runs": 3,
        "minutes": 61.5,
        "untimed_minutes": 2.0,
        "minute_values": values[:24],
        "minute_index": b"",
        "exporters": bytes(range(16)),
        "confirmed_stops": 8,
        "contradicted_stops": 9,
        "anomalous_stops": 1,
        "fee_events": 10,
        "photographed_fees": 11,
    }
    rows = {
        "month_cells": month_cell,
        "day_cells": month_cell,
        "week_cells": month_cell,
        "month_cell_cargo": cargo_cell,
        "day_cell_cargo": cargo_cell,
        "month_cell_procedures": procedure_cell,
        "day_cell_procedures": procedure_cell,
    }
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        for table, row in rows.items():
            names = ", ".join(row)
            connection.execute(
                text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in row)})"),
                row,
            )
    engine.dispose()

    command.upgrade(config, "head")

    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            for table, row in rows.items():
                found = connection.execute(text(f"SELECT {', '.join(row)} FROM {table}")).one()
                stored = [bytes(v) if isinstance(v, memoryview | bytes) else v for v in found]
                if connection.dialect.name == "postgresql":
                    stored[0] = stored[0].hex
                assert stored == list(row.values()), table
                columns = [column["name"] for column in inspect(connection).get_columns(table)]
                if connection.dialect.name == "sqlite":
                    values_column = "minute_values" if "procedure" in row else "dwell_values"
                    assert columns[-1] == values_column, table
    finally:
        engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's TOAST rules (TEST_POSTGRES_URL unset)")
def test_postgres_keeps_a_wide_corridor_cell_in_its_row_uncompressed() -> None:
    """A corridor cell of 10M stops (~3 KB) stays in its row, uncompressed, so that the
    admin's report does not read it back through pglz and the TOAST index; one stored before
    the migration is rewritten by it."""
    url = create_pg_database("clearance_corridor_toast")
    engine = create_engine(url)
    try:
        config = alembic_config(url)
        command.upgrade(config, "d7f9b1c3e5a6")
        transit = np.sort(np.random.default_rng(1).lognormal(7, 0.5, 140)).astype("<f8")
        cell = {
            "origin_province": "erbil",
            "destination_province": "baghdad",
            "departure_day": 20_454,
            "trips": 150,
            "delivered": 140,
            "with_distance": 140,
            "km": 52_000.0,
            "transit": transit.tobytes(),
            "stops": bytes(range(256)) * 5,
            "fees": b"IQD" * 40,
            "exporters": bytes(range(240)) * 2,
            "timed_fees": b"IQD" * 8,
        }
        names = ", ".join(cell)
        insert = text(
            f"INSERT INTO corridor_cells ({names}) VALUES ({', '.join(':' + n for n in cell)})"
        )
        with engine.begin() as connection:
            connection.execute(insert, cell)
            assert _corridor_toast(connection)["compressed"] > 0  # as stored before

        command.upgrade(config, "head")

        with engine.begin() as connection:
            assert _corridor_toast(connection) == {"compressed": 0, "toasted": 0}
            connection.execute(text("DELETE FROM corridor_cells"))
            connection.execute(insert, cell)
            assert _corridor_toast(connection) == {"compressed": 0, "toasted": 0}
            stored = connection.execute(text(f"SELECT {names} FROM corridor_cells")).one()
            assert [bytes(v) if isinstance(v, memoryview) else v for v in stored] == list(
                cell.values()
            )
    finally:
        engine.dispose()
        drop_pg_database(url)


def _corridor_toast(connection: Connection) -> dict[str, int]:
    """How many of the corridor cells' values are compressed, and rows in their TOAST
    table."""
    run = connection.execute
    compressed = run(
        text(
            "SELECT count(pg_column_compression(transit)) + count(pg_column_compression(stops))"
            " + count(pg_column_compression(exporters)) FROM corridor_cells"
        )
    ).scalar_one()
    toast = run(
        text("SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'corridor_cells'")
    ).scalar_one()
    toasted = run(text(f"SELECT count(*) FROM {toast}")).scalar_one()
    return {"compressed": int(compressed), "toasted": int(toasted)}
