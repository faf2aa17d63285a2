"""The read side of tracking: a shipment's events, its stored stops, its whole story."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from app import privacy
from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.db import utcnow
from app.shipments import service as shipments
from app.shipments.models import Shipment
from app.shipments.schemas import ShipmentFilters, ShipmentRead
from app.tracking import timeline
from app.tracking.eta_inputs import shipment_eta
from app.tracking.models import (
    Stop,
    StopFee,
    StopHold,
    StopProcedure,
    StoredEvent,
    TrackingEvent,
)
from app.tracking.schemas import (
    AnomalyRead,
    CheckpointBrief,
    EtaRead,
    EventRead,
    FeeRead,
    HoldRead,
    Location,
    ProcedureRead,
    ShipmentDetail,
    StopFeeRead,
    StopRead,
)


def list_shipments(
    session: Session,
    *,
    principal: Principal,
    filters: ShipmentFilters,
    limit: int,
    cursor: str | None,
) -> tuple[list[Shipment], str | None]:
    """The shipments' list, where `checkpoint_id` also finds the trucks that stopped there
    (they leave their planned routes)."""
    return shipments.list_shipments(
        session,
        principal=principal,
        filters=filters,
        limit=limit,
        cursor=cursor,
        stopped_at=_stopped_at,
    )


def _stopped_at(checkpoint_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(Stop.shipment_id == Shipment.id, Stop.checkpoint_id == checkpoint_id)


def shipment_detail(
    session: Session,
    *,
    principal: Principal,
    shipment_id: uuid.UUID,
    thresholds: privacy.Thresholds,
) -> ShipmentDetail:
    """The shipment as its reader may see it; its ETA by `thresholds` (eta_inputs.Audience)."""
    shipment = shipments.get_shipment(session, principal=principal, shipment_id=shipment_id)
    base = ShipmentRead.model_validate(shipment)
    if principal.kind == "driver":
        # A driver carries the goods but is not told what they are worth.
        base.cargo = [line.model_copy(update={"value_usd": None}) for line in base.cargo]
    stops = _stops(session, shipment.id)
    return ShipmentDetail(
        **base.model_dump(),
        current_stop=next((s for s in stops if s.current), None),
        stops=stops,
        timeline=_events(session, shipment.id),
        timeline_anomalies=[AnomalyRead.model_validate(a) for a in shipment.anomalies or []],
        eta=shipment_eta(session, shipment, utcnow(), thresholds),
    )


@dataclass(frozen=True)
class ShipmentState:
    """What a webhook message carries of a shipment (see shipment_state)."""

    shipment: ShipmentRead
    current_stop: StopRead | None
    eta: EtaRead | None


def shipment_state(
    session: Session,
    *,
    principal: Principal,
    shipment_id: uuid.UUID,
    thresholds: privacy.Thresholds,
) -> ShipmentState:
    """The shipment as shipment_detail shows it, its current stop and its ETA, without the
    history (every stop, every event): what a webhook message carries, read for each one."""
    shipment = shipments.get_shipment(session, principal=principal, shipment_id=shipment_id)
    current = _stops(session, shipment.id, current_only=True)
    return ShipmentState(
        ShipmentRead.model_validate(shipment),
        current[0] if current else None,
        shipment_eta(session, shipment, utcnow(), thresholds),
    )


def events(session: Session, *, principal: Principal, shipment_id: uuid.UUID) -> list[EventRead]:
    shipment = shipments.get_shipment(session, principal=principal, shipment_id=shipment_id)
    return _events(session, shipment.id)


def stops(session: Session, *, principal: Principal, shipment_id: uuid.UUID) -> list[StopRead]:
    shipment = shipments.get_shipment(session, principal=principal, shipment_id=shipment_id)
    return _stops(session, shipment.id)


def _events(session: Session, shipment_id: uuid.UUID) -> list[EventRead]:
    rows = session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment_id))
    # The timeline's own order, so that what the client reads is what the stops were built from.
    ordered = sorted(
        rows, key=lambda r: (r.occurred_at, timeline.TYPE_RANK[r.type], str(r.event_id))
    )
    return [event_read(row) for row in ordered]


def event_read(row: StoredEvent) -> EventRead:
    fee = None
    if row.fee_amount is not None and row.fee_currency is not None:
        fee = FeeRead(
            amount=row.fee_amount, currency=row.fee_currency, receipt=bool(row.fee_receipt)
        )
    location = None
    if row.latitude is not None and row.longitude is not None:
        location = Location(lat=row.latitude, lon=row.longitude, accuracy_m=row.accuracy_m)
    return EventRead(
        event_id=row.event_id,
        type=row.type,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        checkpoint_id=row.checkpoint_id,
        procedure=row.procedure,
        hold_reason=row.hold_reason,
        fee=fee,
        note=row.note,
        location=location,
        source="driver" if row.source == "driver" else "exporter",
    )


def _stops(
    session: Session, shipment_id: uuid.UUID, *, current_only: bool = False
) -> list[StopRead]:
    query = (
        select(Stop, Checkpoint)
        .join(Checkpoint, Checkpoint.id == Stop.checkpoint_id)
        .where(Stop.shipment_id == shipment_id)
        .order_by(Stop.seq)
    )
    if current_only:
        query = query.where(Stop.is_current)
    rows = session.execute(query).all()
    if not rows:
        return []
    ids = [row.Stop.id for row in rows]
    holds = _by_stop(session, StopHold, ids, StopHold.started_at)
    procedures = _by_stop(session, StopProcedure, ids, StopProcedure.id)
    fees = _by_stop(session, StopFee, ids, StopFee.paid_at)
    return [
        StopRead(
            id=stop.id,
            seq=stop.seq,
            checkpoint=CheckpointBrief.model_validate(checkpoint),
            arrived_at=stop.arrived_at,
            closed_at=stop.closed_at,
            outcome=stop.outcome,
            dwell_minutes=stop.dwell_minutes,
            hold_count=stop.hold_count,
            held_minutes=stop.held_minutes,
            current=stop.is_current,
            holds=[HoldRead.model_validate(h, from_attributes=True) for h in holds[stop.id]],
            procedures=[
                ProcedureRead.model_validate(p, from_attributes=True) for p in procedures[stop.id]
            ],
            fees=[StopFeeRead.model_validate(f, from_attributes=True) for f in fees[stop.id]],
            anomalies=[AnomalyRead.model_validate(a) for a in stop.anomalies],
            position_evidence=stop.position_evidence,
        )
        for stop, checkpoint in rows
    ]


def _by_stop(
    session: Session, model: Any, stop_ids: list[uuid.UUID], order: Any
) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in session.scalars(select(model).where(model.stop_id.in_(stop_ids)).order_by(order)):
        grouped[row.stop_id].append(row)
    return grouped
