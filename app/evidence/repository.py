"""What a principal may see of the evidence: the attachments of the shipments it may see
(shipments.repository.visible_shipments, the one visibility rule), and nothing else."""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.errors import NotFound
from app.evidence.models import Attachment
from app.shipments.models import Shipment
from app.shipments.repository import visible_shipments
from app.tracking.models import TrackingEvent


def _visible_shipment_ids(principal: Principal) -> Select[uuid.UUID]:
    return visible_shipments(principal).with_only_columns(Shipment.id)


def visible_attachments(principal: Principal) -> Select[Attachment]:
    return select(Attachment).where(Attachment.shipment_id.in_(_visible_shipment_ids(principal)))


def visible_event(
    session: Session, principal: Principal, shipment_id: uuid.UUID, event_id: uuid.UUID
) -> TrackingEvent:
    """The event `event_id` of the shipment, if the principal may see the shipment; else a
    404 that does not say which of the two is missing (or someone else's)."""
    event = session.scalar(
        select(TrackingEvent).where(
            TrackingEvent.shipment_id == shipment_id,
            TrackingEvent.event_id == event_id,
            TrackingEvent.shipment_id.in_(_visible_shipment_ids(principal)),
        )
    )
    if event is None:
        raise NotFound("No such event on a shipment you can see.")
    return event


def attachment_by_digest(
    session: Session, shipment_id: uuid.UUID, event_id: uuid.UUID, sha256: str
) -> Attachment | None:
    return session.scalar(
        select(Attachment).where(
            Attachment.shipment_id == shipment_id,
            Attachment.event_id == event_id,
            Attachment.sha256 == sha256,
        )
    )
