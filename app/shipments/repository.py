"""What a principal may see, written once; every shipment query starts here."""

import uuid
from typing import Any, Protocol

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


def lock_shipments(session: Session, shipment_ids: set[uuid.UUID]) -> dict[uuid.UUID, ShipmentKeys]:
    """Several shipments locked for writing, in id order so that two writers never wait on
    each other in a cycle; the caller checks who may see each (`may_see`). Plain rows, not
    entities: the event writer updates them with one statement (see tracking.service), and
    tracking dozens of entities per batch cost more than the statement."""
    if not shipment_ids:
        return {}
    stmt = (
        select(
            Shipment.id,
            Shipment.organization_id,
            Shipment.status,
            Shipment.events_version,
            Shipment.tracked,
        )
        .where(Shipment.id.in_(shipment_ids))
        .order_by(Shipment.id)
        .with_for_update(of=Shipment)
    )
    return {row.id: row for row in session.execute(stmt)}


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
