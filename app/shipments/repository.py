"""What a principal may see, written once; every shipment query starts here."""

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.errors import Forbidden, NotFound
from app.shipments.models import Shipment


def visible_shipments(principal: Principal) -> Select[Shipment]:
    stmt = select(Shipment)
    if principal.is_admin:
        return stmt
    if principal.is_exporter:
        return stmt.where(Shipment.organization_id == principal.organization_id)
    if principal.kind == "driver":
        return stmt.where(Shipment.id == principal.shipment_id)
    raise Forbidden("Shipments are visible to their exporter and to admins only.")


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
