"""Cancelling a shipment: its status is the shipments', but the truck it takes off the road
(its current stop) is tracking's, so the use case lives here, above both."""

import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session, selectinload

from app.auth.principal import Principal
from app.db import utcnow, write_transaction
from app.errors import Conflict
from app.shipments.models import Shipment, ShipmentStatus
from app.shipments.repository import lock_visible_shipment
from app.tracking.models import Stop


def cancel_shipment(
    session: Session, *, principal: Principal, shipment_id: uuid.UUID, reason: str | None
) -> Shipment:
    with write_transaction(session):
        shipment = lock_visible_shipment(
            session,
            principal,
            shipment_id,
            selectinload(Shipment.cargo),
            selectinload(Shipment.route),
        )
        if shipment.status == ShipmentStatus.cancelled:
            return shipment  # cancelling twice is harmless
        if shipment.status in (ShipmentStatus.delivered, ShipmentStatus.turned_back):
            raise Conflict(f"A {shipment.status} shipment is finished and cannot be cancelled.")
        # The shipment and any events stay; only its status changes, so history is kept.
        shipment.status = ShipmentStatus.cancelled
        shipment.cancelled_at = utcnow()
        shipment.cancel_reason = reason
        # The stops stay (they happened); the truck is just no longer anywhere "now".
        shipment.current_checkpoint_id = None
        session.execute(
            update(Stop)
            .where(Stop.shipment_id == shipment.id, Stop.is_current)
            .values(is_current=False)
        )
    return shipment
