"""What a principal may see, written once; every shipment query starts here."""

import uuid
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.errors import Forbidden, NotFound
from app.shipments.models import Shipment, ShipmentStatus


def visible_shipments(principal: Principal) -> Select[Shipment]:
    stmt = select(Shipment)
    if principal.is_admin:
        return stmt
    if principal.is_exporter:
        return stmt.where(Shipment.organization_id == principal.organization_id)
    if principal.kind == "driver":
        return stmt.where(Shipment.id == principal.shipment_id)
    raise Forbidden("Shipments are visible to their exporter and to admins only.")


class ShipmentKeys(Protocol):
    """What the visibility rule and the event writer need of a shipment: a loaded entity or
    a locked row (`lock_shipments`) both have it."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def organization_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> ShipmentStatus: ...
    @property
    def events_version(self) -> int: ...
    @property
    def tracked(self) -> bool: ...


def may_see(principal: Principal, shipment: ShipmentKeys) -> bool:
    """visible_shipments' rule for one loaded shipment (used where many are locked at once)."""
    if principal.is_admin:
        return True
    if principal.is_exporter:
        return shipment.organization_id == principal.organization_id
    if principal.kind == "driver":
        return shipment.id == principal.shipment_id
    return False


class LockedShipment(NamedTuple):
    """A shipment row as `lock_shipments` reads it."""

    id: uuid.UUID
    organization_id: uuid.UUID
    status: ShipmentStatus
    events_version: int
    tracked: bool


def lock_shipments(session: Session, shipment_ids: set[uuid.UUID]) -> dict[uuid.UUID, ShipmentKeys]:
    """Several shipments locked for writing, in id order so that two writers never wait on
    each other in a cycle; the caller checks who may see each (`may_see`). Plain rows, not
    entities: the event writer updates them with one statement (see tracking.service), and
    tracking dozens of entities per batch cost more than the statement.

    Through the DB-API, as the writer's other statements (app/tracking/statements.py): run
    once per group write, SQLAlchemy's compiling and row processing of this one statement
    cost ~30 µs of CPU per event (bench/RESULTS.md, session 9)."""
    if not shipment_ids:
        return {}
    connection = session.connection()
    columns = "id, organization_id, status, events_version, tracked"
    locked: dict[uuid.UUID, ShipmentKeys] = {}
    if connection.dialect.name == "postgresql":
        # Native UUIDs and booleans; one array parameter for any count.
        rows = connection.exec_driver_sql(
            f"SELECT {columns} FROM shipments WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            (list(shipment_ids),),
        )
        for sid, organization, status, version, tracked in rows:
            locked[sid] = LockedShipment(
                sid, organization, ShipmentStatus(status), version, bool(tracked)
            )
        return locked
    # SQLite: UUIDs as 32 hex digits, booleans as 0/1; the write transaction (BEGIN
    # IMMEDIATE) already holds the database's one write lock, so no FOR UPDATE.
    ordered = sorted(shipment_ids)
    for start in range(0, len(ordered), _SQLITE_CHUNK):
        chunk = [sid.hex for sid in ordered[start : start + _SQLITE_CHUNK]]
        marks = ", ".join("?" * len(chunk))
        rows = connection.exec_driver_sql(
            f"SELECT {columns} FROM shipments WHERE id IN ({marks}) ORDER BY id", tuple(chunk)
        )
        for sid, organization, status, version, tracked in rows:
            key = uuid.UUID(sid)
            locked[key] = LockedShipment(
                key, uuid.UUID(organization), ShipmentStatus(status), version, bool(tracked)
            )
    return locked


_SQLITE_CHUNK = 500  # parameters per statement, well under any SQLite build's limit


def lock_visible_shipment(
    session: Session, principal: Principal, shipment_id: uuid.UUID, *options: Any
) -> Shipment:
    """The shipment, if the principal may see it, locked for writing.

    PostgreSQL: `SELECT … FOR UPDATE` on the shipment row serialises concurrent writers of one
    shipment (a driver and the exporter at the same moment), so its stops are rebuilt from a
    consistent set of events. SQLite: the write transaction (BEGIN IMMEDIATE) already holds
    the database's single write lock; SQLAlchemy leaves FOR UPDATE out there.
    """
    stmt = (
        visible_shipments(principal)
        .where(Shipment.id == shipment_id)
        .options(*options)
        .with_for_update(of=Shipment)
    )
    shipment = session.scalar(stmt)
    if shipment is None:
        # Not "forbidden": whether someone else's shipment exists is not for you to learn.
        raise NotFound("No such shipment.")
    return shipment
