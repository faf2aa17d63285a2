"""The one way to take a shipment for writing: visible to the principal, and locked.

PostgreSQL: `SELECT … FOR UPDATE` on the shipment row serialises concurrent writers of one
shipment (a driver and the exporter at the same moment), so its stops are rebuilt from a
consistent set of events. SQLite: the write transaction (BEGIN IMMEDIATE) already holds the
database's single write lock; FOR UPDATE is omitted there by SQLAlchemy.
"""

import uuid

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.errors import NotFound
from app.shipments.models import Shipment
from app.shipments.repository import visible_shipments


def lock_shipment(session: Session, principal: Principal, shipment_id: uuid.UUID) -> Shipment:
    stmt = visible_shipments(principal).where(Shipment.id == shipment_id).with_for_update()
    shipment = session.scalar(stmt)
    if shipment is None:
        raise NotFound("No such shipment.")
    return shipment
