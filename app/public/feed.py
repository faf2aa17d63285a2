"""The public feed: per active checkpoint, its last completed clock hour and its last six,
the trucks there now, and a forecast by hour of the week, for anyone, without credentials.

Every window figure is a sum of protected cells: checkpoint × UTC clock hour, holding the
stops that ended in that hour (their waits, their GPS evidence, their exporters) and those
that arrived in it. A cell counts only if it passes privacy.public_thresholds_of, and the
windows are fixed clock hours that never slide: two answers differ by whole cells that
passed, never by one truck, and "last 6 hours" minus the hours published one by one is the
sum of other published hours, never a withheld one. The forecast reads the same cells over
the eight whole weeks before this one (Monday to Monday, Baghdad time), by hour of the week.

The answer changes at most once a minute for everyone (`Cache-Control: max-age=60`), so each
worker computes it at most once a minute (FeedCache), and the forecast once an hour.
"""

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, select
from sqlalchemy.orm import Session

from app import privacy
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.public.schemas import (
    ForecastHour,
    InsufficientForecastHour,
    InsufficientWindow,
    PublicCheckpoint,
    PublicFeed,
    Window,
)
from app.reports.live import trucks_present
from app.reports.percentiles import positions
from app.tracking.models import Stop

# Iraq has kept UTC+3 all year since 2008: "Tuesday 8 o'clock" is a driver's own clock.
ZONE = "Asia/Baghdad"
BAGHDAD = timezone(timedelta(hours=3), ZONE)
HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
LAST_HOURS = 6
FORECAST_WEEKS = 8
HOURS_A_WEEK = 168
DEFAULT_FORECAST_HOURS = 12
FEED_SECONDS = 60  # as Cache-Control's max-age: no client may see older figures
FORECAST_SECONDS = 3600  # late events from offline phones reach the forecast within an hour

logger = logging.getLogger(__name__)

CellKey = tuple[uuid.UUID, datetime]  # (checkpoint, UTC clock hour)


@dataclass
class HourCell:
    """One checkpoint's clock hour: what ended in it, and how many trucks arrived in it."""

    arrived: int = 0
    completed: int = 0
    confirmed: int = 0
    waits: list[float] = field(default_factory=list)
    exporters: set[uuid.UUID] = field(default_factory=set)

    def tally(self) -> privacy.Tally:
        return privacy.Tally(self.completed, self.completed, self.exporters)


def floor_hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def hour_of_week(hour: datetime) -> int:
    local = hour.astimezone(BAGHDAD)
    return local.weekday() * 24 + local.hour


def week_start(now: datetime) -> datetime:
    """This week's Monday 00:00 in Baghdad, as a UTC instant."""
    local = now.astimezone(BAGHDAD)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday.astimezone(now.tzinfo)


def quantile(values: list[float], q: float) -> float | None:
    """The reports' continuous percentile (percentiles.py) of sorted values."""
    if not values:
        return None
    low, high, weight = positions(len(values), q)
    return values[low] + weight * (values[high] - values[low])


# --- the cells ------------------------------------------------------------------------------


def ended_cells(session: Session, start: datetime, end: datetime) -> dict[CellKey, HourCell]:
    """The hour cells of the stops that ended in [start, end) (the closed_at index)."""
    cells: dict[CellKey, HourCell] = defaultdict(HourCell)
    rows = session.execute(
        select(
            Stop.checkpoint_id,
            Stop.organization_id,
            Stop.dwell_minutes,
            Stop.closed_at,
            Stop.position_evidence,
        ).where(Stop.closed_at >= start, Stop.closed_at < end)
    )
    for checkpoint_id, organization_id, dwell, closed_at, evidence in rows:
        assert closed_at is not None  # bounded by the WHERE
        cell = cells[(checkpoint_id, floor_hour(closed_at))]
        cell.completed += 1
        cell.exporters.add(organization_id)
        cell.confirmed += evidence == "confirmed"
        if dwell is not None:  # None: the stop's times contradict each other
            cell.waits.append(dwell)
    return cells


def count_arrivals(
    session: Session,
    cells: dict[CellKey, HourCell],
    checkpoints: Iterable[uuid.UUID],
    start: datetime,
    end: datetime,
) -> None:
    """Add the trucks that arrived in [start, end) to their hour cells (by the index on
    checkpoint and arrival: one range per checkpoint)."""
    rows = session.execute(
        select(Stop.checkpoint_id, Stop.arrived_at).where(
            Stop.checkpoint_id.in_(list(checkpoints)),
            Stop.arrived_at >= start,
            Stop.arrived_at < end,
        )
    )
    for checkpoint_id, arrived_at in rows:
        assert arrived_at is not None  # bounded by the WHERE
        cells[(checkpoint_id, floor_hour(arrived_at))].arrived += 1


def window(
    cells: dict[CellKey, HourCell],
    checkpoint_id: uuid.UUID,
    start: datetime,
    hours: int,
    thresholds: privacy.Thresholds,
) -> Window | InsufficientWindow:
    """The figures of the `hours` clock hours from `start`, summed over the cells that pass."""
    end = start + hours * HOUR
    shown = [
        cell
        for cell in (cells.get((checkpoint_id, start + n * HOUR)) for n in range(hours))
        if cell is not None and thresholds.passes(cell.tally())
    ]
    if not shown:
        return InsufficientWindow(window_start=start, window_end=end)
    waits = sorted(wait for cell in shown for wait in cell.waits)
    completed = sum(cell.completed for cell in shown)
    confirmed = sum(cell.confirmed for cell in shown)
    return Window(
        window_start=start,
        window_end=end,
        arrived=sum(cell.arrived for cell in shown),
        completed_stops=completed,
        p50_wait_minutes=quantile(waits, 0.5),
        p90_wait_minutes=quantile(waits, 0.9),
        gps_confirmed_share=round(confirmed / completed, 4),
        method="gps" if confirmed else "reported",
    )


# --- the forecast ---------------------------------------------------------------------------

Forecast = dict[tuple[uuid.UUID, int], tuple[float | None, float | None]]


def forecast(session: Session, this_week: datetime, thresholds: privacy.Thresholds) -> Forecast:
    """(p50, p90) per checkpoint and hour of the week, over the cells that pass in the
    eight whole weeks before `this_week`."""
    waits: dict[tuple[uuid.UUID, int], list[float]] = defaultdict(list)
    start = this_week - FORECAST_WEEKS * WEEK
    for checkpoint_id, hour, wait in passing_cell_waits(session, start, this_week, thresholds):
        waits[(checkpoint_id, hour_of_week(hour))].append(wait)
    result: Forecast = {}
    for key, values in waits.items():
        values.sort()
        result[key] = (quantile(values, 0.5), quantile(values, 0.9))
    return result


def passing_cell_waits(
    session: Session, start: datetime, end: datetime, thresholds: privacy.Thresholds
) -> Iterator[tuple[uuid.UUID, datetime, float]]:
    """(checkpoint, UTC hour, wait) of each timed stop that ended in [start, end) in an hour
    cell that passes. Eight weeks of a national network are millions of stops, most of them
    in cells that pass: the database counts the cells (one pass over the closed_at index) and
    sends only the waits of those that pass, with their hour, not every stop's times."""
    dialect = session.get_bind().dialect.name
    ended = and_(Stop.closed_at >= start, Stop.closed_at < end)
    hour = _clock_hour(dialect).label("hour")
    passing = (
        select(Stop.checkpoint_id, hour)
        .where(ended)
        .group_by(Stop.checkpoint_id, hour)
        .having(thresholds.passes_in_sql(func.count(), func.count(distinct(Stop.organization_id))))
        .subquery()
    )
    rows = session.execute(
        select(Stop.checkpoint_id, passing.c.hour, Stop.dwell_minutes)
        .join(
            passing,
            and_(
                passing.c.checkpoint_id == Stop.checkpoint_id,
                passing.c.hour == _clock_hour(dialect),
            ),
        )
        .where(ended, Stop.dwell_minutes.is_not(None))
    )
    for checkpoint_id, hour_text, wait in rows:
        yield checkpoint_id, _parse_clock_hour(hour_text), wait


def _clock_hour(dialect: str) -> ColumnElement[Any]:
    """A stop's UTC clock hour of ending, as the database can group by it: SQLite keeps UTC
    times as text ('2026-12-06 14:05:07.000000': its first 13 characters); PostgreSQL's
    date_trunc, in UTC whatever the session's zone."""
    if dialect == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", Stop.closed_at))
    return func.substr(Stop.closed_at, 1, 13)


def _parse_clock_hour(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=UTC)


def forecast_hours(
    figures: Forecast, checkpoint_id: uuid.UUID, first: datetime, hours: int
) -> list[ForecastHour | InsufficientForecastHour]:
    entries: list[ForecastHour | InsufficientForecastHour] = []
    for n in range(hours):
        starts_at = first + n * HOUR
        how = hour_of_week(starts_at)
        found = figures.get((checkpoint_id, how))
        if found is None:
            entries.append(InsufficientForecastHour(hour_of_week=how, starts_at=starts_at))
        else:
            p50, p90 = found
            entries.append(
                ForecastHour(
                    hour_of_week=how,
                    starts_at=starts_at,
                    p50_wait_minutes=p50,
                    p90_wait_minutes=p90,
                )
            )
    return entries


# --- the feed -------------------------------------------------------------------------------


def build_feed(
    session: Session,
    settings: Settings,
    *,
    now: datetime,
    hours_ahead: int,
    forecast_figures: Forecast,
) -> PublicFeed:
    thresholds = privacy.public_thresholds_of(settings)
    checkpoints = list(
        session.scalars(select(Checkpoint).where(Checkpoint.active).order_by(Checkpoint.code))
    )
    end = floor_hour(now)
    start = end - LAST_HOURS * HOUR
    cells = ended_cells(session, start, end)
    count_arrivals(session, cells, (c.id for c in checkpoints), start, end)
    present = trucks_present(session)
    items = []
    for checkpoint in checkpoints:
        last_6 = window(cells, checkpoint.id, start, LAST_HOURS, thresholds)
        items.append(
            PublicCheckpoint(
                code=checkpoint.code,
                name=checkpoint.name,
                name_ar=checkpoint.name_ar,
                name_ckb=checkpoint.name_ckb,
                province=checkpoint.province,
                latitude=checkpoint.latitude,
                longitude=checkpoint.longitude,
                trucks_now=privacy.live_count_for_public(present.get(checkpoint.id, (0, 0))[0]),
                method=last_6.method if isinstance(last_6, Window) else "reported",
                updated_at=now,
                last_hour=window(cells, checkpoint.id, end - HOUR, 1, thresholds),
                last_6_hours=last_6,
                forecast=forecast_hours(forecast_figures, checkpoint.id, end, hours_ahead),
            )
        )
    return PublicFeed(
        generated_at=now,
        timezone=ZONE,
        min_stops=thresholds.min_stops,
        min_exporters=thresholds.min_exporters,
        items=items,
    )


class FeedCache:
    """The feed and the forecast each worker last computed, reused while young enough: the
    feed for FEED_SECONDS within one clock hour, the forecast for FORECAST_SECONDS within one
    week. One computation at a time, so a crowd arriving at once costs one.

    The forecast costs far more than the feed (eight weeks of stops: bench/RESULTS.md), so
    once an hour it is computed again on a thread of its own while the hour-old one is still
    served; only a new week (once a week per worker) or a new worker waits for it."""

    def __init__(
        self, sessions: Callable[[], Session], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._clock = clock
        self._feeds: dict[tuple[datetime, int], tuple[float, PublicFeed]] = {}
        self._forecast: tuple[datetime, float, Forecast] | None = None
        self._refreshing: threading.Thread | None = None

    def feed(self, session: Session, settings: Settings, hours_ahead: int) -> PublicFeed:
        with self._lock:
            now = utcnow()
            key = (floor_hour(now), hours_ahead)
            kept = self._feeds.get(key)
            if kept is not None and self._clock() - kept[0] < FEED_SECONDS:
                return kept[1]
            made = build_feed(
                session,
                settings,
                now=now,
                hours_ahead=hours_ahead,
                forecast_figures=self._forecast_for(session, settings, week_start(now)),
            )
            # Only this hour's answers are kept: one per forecast length asked.
            self._feeds = {k: v for k, v in self._feeds.items() if k[0] == key[0]}
            self._feeds[key] = (self._clock(), made)
            return made

    def _forecast_for(self, session: Session, settings: Settings, this_week: datetime) -> Forecast:
        kept = self._forecast
        if kept is not None and kept[0] == this_week:
            if self._clock() - kept[1] >= FORECAST_SECONDS:
                self._refresh(settings, this_week)
            return kept[2]
        figures = forecast(session, this_week, privacy.public_thresholds_of(settings))
        self._forecast = (this_week, self._clock(), figures)
        return figures

    def _refresh(self, settings: Settings, this_week: datetime) -> None:
        if self._refreshing is not None and self._refreshing.is_alive():
            return

        def run() -> None:
            try:
                with self._sessions() as session:
                    figures = forecast(session, this_week, privacy.public_thresholds_of(settings))
                with self._lock:
                    kept = self._forecast
                    if kept is not None and kept[0] == this_week:  # not overtaken by a new week
                        self._forecast = (this_week, self._clock(), figures)
                        self._feeds = {}  # the next request shows it
            except Exception:  # the hour-old forecast stays; the next request tries again
                logger.exception("the public forecast could not be computed again")

        self._refreshing = threading.Thread(target=run, name="public-forecast", daemon=True)
        self._refreshing.start()

    def wait_for_refresh(self) -> None:
        """For tests and benchmarks: until a forecast being computed again is in."""
        if self._refreshing is not None:
            self._refreshing.join()
