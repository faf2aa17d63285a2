"""Live checkpoint status for planning a trip: how many trucks are there now, how many are
held, how long stops took in the last six hours, and how fresh each figure is.

The medians are a sliding window for admins only. Everyone else gets the last six completed
clock hours, built from protected cells (checkpoint × clock hour of closing, see privacy.py):
a window that slides would let two answers a minute apart tell one truck's dwell."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import privacy
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
    present = trucks_present(session)

    window = _window(now, exact=privacy.live_is_exact(principal))
    medians, sizes, excluded = _medians(session, window, principal, settings)
    # Each checkpoint's latest event, one index probe each (a correlated max): a GROUP BY
    # over the stops would read every stop ever made.
    latest = (
        select(func.max(Stop.last_event_at))
        .where(Stop.checkpoint_id == Checkpoint.id)
        .scalar_subquery()
    )
    rows = []
    for checkpoint, last_event_at in session.execute(
        select(Checkpoint, latest).order_by(Checkpoint.code)
    ):
        closed, shown = sizes.get(checkpoint.id, (0, 0))
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
                closed_stops_6h=shown,
                median_dwell_minutes_6h=middle,
                # Stops closed in the window, none of them in a cell that may be shown.
                median_suppressed=closed > 0 and shown == 0,
                last_event_at=last_event_at,
            )
        )
    return LiveStatus(
        generated_at=now,
        as_of=now,
        window_start=window[0],
        window_end=window[1],
        excluded_stops=excluded,
        items=rows,
    )


def trucks_present(session: Session) -> dict[object, tuple[int, int]]:
    """(trucks there now, of which held) per checkpoint, from each shipment's own state."""
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
    return present


def _window(now: datetime, *, exact: bool) -> tuple[datetime, datetime]:
    """The last six hours for admins; else the last six completed clock hours, fixed, so
    two answers an hour apart differ by whole protected cells, never by one truck."""
    if exact:
        return now - WINDOW, now
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - WINDOW, end


def _medians(
    session: Session, window: tuple[datetime, datetime], principal: Principal, settings: Settings
) -> tuple[dict[object, float], dict[object, tuple[int, int]], int]:
    """Each checkpoint's exact median dwell over the window, and (closed stops, stops in the
    median) per checkpoint, and the stops left out. Six hours of closed stops are few: read
    them (no GROUP BY, so SQLite walks the closed_at index rather than the whole table)."""
    cells: dict[tuple[object, datetime], list[tuple[object, float | None]]] = defaultdict(list)
    for checkpoint_id, organization_id, dwell, closed_at in session.execute(
        select(Stop.checkpoint_id, Stop.organization_id, Stop.dwell_minutes, Stop.closed_at).where(
            Stop.closed_at >= window[0],
            Stop.closed_at < window[1],
            Stop.dwell_minutes.is_not(None),
        )
    ):
        assert closed_at is not None  # bounded by the WHERE
        hour = closed_at.replace(minute=0, second=0, microsecond=0)
        cells[(checkpoint_id, hour)].append((organization_id, dwell))
    thresholds = privacy.thresholds_of(settings)
    exact = privacy.live_is_exact(principal)
    dwells: dict[object, list[float]] = defaultdict(list)
    closed: dict[object, int] = defaultdict(int)
    shown: dict[object, int] = defaultdict(int)
    excluded = 0
    for (place, _hour), stops in cells.items():
        closed[place] += len(stops)
        tally = privacy.Tally(len(stops), len(stops), {org for org, _ in stops})
        if not exact and not thresholds.passes(tally):
            excluded += len(stops)
            continue
        shown[place] += len(stops)
        dwells[place] += [d for _, d in stops if d is not None]
    medians = {c: median(sorted(values)) for c, values in dwells.items() if values}
    sizes = {c: (closed[c], shown[c]) for c in closed}
    return medians, sizes, excluded
