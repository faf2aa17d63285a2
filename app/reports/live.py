"""Live checkpoint status for planning a trip: how many trucks are there now, how many are
held, how long stops took in the last six hours, and how fresh each figure is."""

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.reports.percentiles import positions
from app.reports.schemas import LiveCheckpointRow, LiveStatus
from app.shipments.models import Shipment, ShipmentStatus
from app.tracking.models import Stop

WINDOW = timedelta(hours=6)


def median(values: list[float]) -> float:
    """The continuous median of sorted values, interpolated as the reports do."""
    low, high, weight = positions(len(values), 0.5)
    return values[low] + weight * (values[high] - values[low])


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

    # Six hours of closed stops are few: read them (no GROUP BY, so SQLite walks the closed_at
    # index rather than the whole table) and take each checkpoint's exact median here.
    recent: dict[object, list[float]] = defaultdict(list)
    exporters: dict[object, set[object]] = defaultdict(set)
    for checkpoint_id, organization_id, dwell in session.execute(
        select(Stop.checkpoint_id, Stop.organization_id, Stop.dwell_minutes).where(
            Stop.closed_at >= since, Stop.dwell_minutes.is_not(None)
        )
    ):
        recent[checkpoint_id].append(float(dwell or 0.0))  # never None: filtered above
        exporters[checkpoint_id].add(organization_id)
    sizes = {c: (len(dwells), len(exporters[c])) for c, dwells in recent.items()}
    medians = {c: median(sorted(dwells)) for c, dwells in recent.items()}
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
        middle = medians.get(checkpoint.id)
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
                median_dwell_minutes_6h=None if hidden else middle,
                median_suppressed=hidden,
                last_event_at=freshness.get(checkpoint.id),
            )
        )
    return LiveStatus(generated_at=now, items=rows)
