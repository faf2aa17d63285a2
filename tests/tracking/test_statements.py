"""The event writer's statements through the DB-API (app/tracking/statements.py) store
exactly what SQLAlchemy's own statements store for the same values, on both databases."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import has_pending_changes
from app.shipments.models import Shipment
from app.tracking import statements
from app.tracking.models import Stop, StopFee, StopHold, StopProcedure, TrackingEvent
from app.tracking.vocabulary import EventType
from tests.tracking.helpers import FEE, driver_day, event, make_trip, post_event

TABLES: list[Table] = [
    model.metadata.tables[model.__tablename__]
    for model in (StopHold, StopProcedure, StopFee, Stop, TrackingEvent)
]


def _raw(session: Session, table: Table, *leaving_out: str) -> list[tuple[Any, ...]]:
    """The table's rows as the driver returns them (no SQLAlchemy type processing), in a
    fixed order, without autoincremented ids (nor the columns `leaving_out`)."""
    columns = [
        c.name
        for c in table.columns
        if not (c.primary_key and c.autoincrement is True) and c.name not in leaving_out
    ]
    names = ", ".join(f'"{name}"' for name in columns)
    rows = session.connection().exec_driver_sql(f'SELECT {names} FROM "{table.name}"').all()
    return sorted((tuple(row) for row in rows), key=repr)


def _typed(session: Session, table: Table) -> list[dict[str, Any]]:
    """The table's rows as SQLAlchemy reads them, without autoincremented ids."""
    autoincrement = {c.key for c in table.columns if c.primary_key and c.autoincrement is True}
    return [
        {k: v for k, v in row.items() if k not in autoincrement}
        for row in session.execute(select(table)).mappings()
    ]


def _a_trip_with_everything(client: TestClient) -> uuid.UUID:
    """Holds, procedures, fees, anomalies, offsets other than UTC, a note and a position."""
    trip = make_trip(client)
    for body in driver_day(trip.a, trip.b):
        assert post_event(client, trip.id, body, trip.driver).status_code == 201
    extra = [
        event("fee_paid", 500, fee={**FEE, "amount": "12.5"}, checkpoint_id=trip.b),
        event("note", 510, note="café ☕ — ملاحظة", location={"lat": 36.19, "lon": 44.01}),
        event("released", 520),  # nothing open: an anomaly
    ]
    for body in extra:
        assert post_event(client, trip.id, body, trip.exporter.headers).status_code == 201
    return uuid.UUID(trip.id)


def test_rows_are_stored_as_sqlalchemy_stores_them(client: TestClient, engine: Engine) -> None:
    shipment_id = _a_trip_with_everything(client)
    with Session(engine) as session:
        written = {table.name: _raw(session, table) for table in TABLES}
        assert all(written.values())
        shipments: Table = Shipment.__table__  # type: ignore[assignment]
        # SQLAlchemy's UPDATE below sets updated_at to its own now (onupdate), as ours did.
        shipment_row = _raw(session, shipments, "updated_at")
        created_at, updated_at = session.execute(
            select(shipments.c.created_at, shipments.c.updated_at)
        ).one()
        assert updated_at > created_at  # each event's write moved it on
        # Every row read as SQLAlchemy gives it, deleted (children first), and inserted
        # again by SQLAlchemy Core (parents first): the same stored values.
        typed = {table.name: _typed(session, table) for table in TABLES}
        for table in TABLES:
            session.execute(delete(table))
        for table in reversed(TABLES):
            session.execute(insert(table), typed[table.name])
        derived = [
            "status",
            "departed_at",
            "delivered_at",
            "last_event_at",
            "transit_minutes",
            "current_checkpoint_id",
            "anomalies",
            "events_version",
        ]
        values = session.execute(
            select(*(shipments.c[k] for k in derived)).where(shipments.c.id == shipment_id)
        ).one()
        session.execute(
            update(shipments)
            .where(shipments.c.id == shipment_id)
            .values(dict(zip(derived, values, strict=True)))
        )
        assert {table.name: _raw(session, table) for table in TABLES} == written
        assert _raw(session, shipments, "updated_at") == shipment_row
        session.rollback()


def test_conversions_match_sqlalchemys_for_awkward_values(
    client: TestClient, engine: Engine
) -> None:
    """Offsets other than UTC, microseconds, None, enum members and their text, Decimals,
    booleans: one row through each path, stored alike."""
    trip = make_trip(client)
    events = TrackingEvent.metadata.tables[TrackingEvent.__tablename__]
    base = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=3)))
    row: dict[str, Any] = {
        "shipment_id": uuid.UUID(trip.id),
        "type": "fee_paid",
        "occurred_at": base,
        "received_at": base.astimezone(UTC),
        "checkpoint_id": uuid.UUID(trip.a),
        "procedure": None,
        "hold_reason": None,
        "fee_amount": Decimal("1234.50"),
        "fee_currency": "USD",
        "fee_receipt": False,
        "note": None,
        "latitude": 36.5,
        "longitude": None,
        "source": "driver",
        "content_hash": "x" * 64,
    }
    with Session(engine) as session:
        ours = {**row, "id": uuid.uuid4(), "event_id": uuid.uuid4()}
        theirs = {**row, "id": uuid.uuid4(), "event_id": uuid.uuid4()}
        statements.insert(session, events, [ours])
        assert has_pending_changes(session)  # the write guard sees it, as an ORM statement
        session.execute(insert(events), [theirs])
        columns = [c.name for c in events.columns if c.name not in ("id", "event_id")]
        names = ", ".join(f'"{name}"' for name in columns)
        mine, sqlalchemys = session.connection().exec_driver_sql(
            f"SELECT {names} FROM events WHERE content_hash = '{'x' * 64}'"
        )
        assert tuple(mine) == tuple(sqlalchemys)
        session.rollback()


def test_a_value_the_column_refuses_fails_as_a_sqlalchemy_error(
    client: TestClient, engine: Engine
) -> None:
    """An event type the column's CHECK refuses reaches the database as SQLAlchemy would
    pass it, and the database's refusal arrives as SQLAlchemy's IntegrityError."""
    trip = make_trip(client)
    events = TrackingEvent.metadata.tables[TrackingEvent.__tablename__]
    convert = statements.converter(events.c.type, engine.dialect)
    assert convert is not None
    assert convert(EventType.arrived) == convert("arrived") == "arrived"
    now = datetime.now(UTC)
    row = {
        **{c.key: None for c in events.columns},
        "id": uuid.uuid4(),
        "shipment_id": uuid.UUID(trip.id),
        "event_id": uuid.uuid4(),
        "type": "teleported",
        "occurred_at": now,
        "received_at": now,
        "source": "driver",
        "content_hash": "y" * 64,
    }
    with Session(engine) as session:
        with pytest.raises(IntegrityError):
            statements.insert(session, events, [row])
        session.rollback()
