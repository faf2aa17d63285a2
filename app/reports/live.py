"""Live checkpoint status for planning a trip: how many trucks are there now, how many are
held, how long stops took in the last six hours, and how fresh each figure is."""

from datetime import timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.reports import order_stats
from app.reports.schemas import LiveCheckpointRow, LiveStatus
from app.shipments.models import Shipment, ShipmentStatus
from app.tracking.models import Stop

WINDOW = timedelta(hours=6)


def live_status(session: Session, *, principal: Principal, settings: Settings) -> LiveStatus:
    now = utcnow()
    since = now - WINDOW
    present: dict[object, tuple[int, int]] = {}
    for checkpoint_id, status, count in session.execute(
        select(Shipment.current_checkpoint_id, Shipment.status, func.count())
        .where(
            Shipment.current_checkpoint_id.is_not(None),
            # A cancelled shipment keeps the checkpoint it was last at; it is no truck there.
            Shipment.status.in_([ShipmentStatus.at_checkpoint, ShipmentStatus.held]),
        )
        .group_by(Shipment.current_checkpoint_id, Shipment.status)
    ):
        trucks, held = present.get(checkpoint_id, (0, 0))
        held_here = count if status == ShipmentStatus.held else 0
        present[checkpoint_id] = (trucks + count, held + held_here)

    recent = Stop.closed_at >= since
    sizes = {
        row[0]: (int(row[1]), int(row[2]))
        for row in session.execute(
            select(Stop.checkpoint_id, func.count(), func.count(distinct(Stop.organization_id)))
            .where(recent, Stop.dwell_minutes.is_not(None))
            .group_by(Stop.checkpoint_id)
            .order_by(Stop.checkpoint_id)  # the key order the sorted pass will follow
        )
    }
    recent_stops = select(Stop.checkpoint_id).where(recent, Stop.dwell_minutes.is_not(None))
    medians = order_stats.exact(
        session,
        lambda *columns: recent_stops.with_only_columns(*columns),
        [Stop.checkpoint_id],
        Stop.dwell_minutes,
        [((checkpoint_id,), size[0]) for checkpoint_id, size in sizes.items()],
        quantiles=(0.5,),
        tail=False,
    )
    freshness = {
        checkpoint_id: last
        for checkpoint_id, last in session.execute(
            select(Stop.checkpoint_id, func.max(Stop.last_event_at)).group_by(Stop.checkpoint_id)
        )
    }
    rows = []
    for checkpoint in session.scalars(select(Checkpoint).order_by(Checkpoint.code)):
        closed, organizations = sizes.get(checkpoint.id, (0, 0))
        # A median over one or two exporters' trucks would tell on them; admins see it anyway.
        hidden = (
            closed > 0
            and not principal.is_admin
            and (organizations < settings.report_min_exporters)
        )
        stats = medians.get((checkpoint.id,))
        trucks, held = present.get(checkpoint.id, (0, 0))
        rows.append(
            LiveCheckpointRow(
                checkpoint_id=checkpoint.id,
                checkpoint_code=checkpoint.code,
                checkpoint_name=checkpoint.name,
                name_ar=checkpoint.name_ar,
                name_ckb=checkpoint.name_ckb,
                province=checkpoint.province,
                latitude=checkpoint.latitude,
                longitude=checkpoint.longitude,
                trucks_now=trucks,
                held_now=held,
                closed_stops_6h=closed,
                median_dwell_minutes_6h=(
                    None if hidden or stats is None else stats.percentiles[0.5]
                ),
                median_suppressed=hidden,
                last_event_at=freshness.get(checkpoint.id),
            )
        )
    return LiveStatus(generated_at=now, items=rows)
