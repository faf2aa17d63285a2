"""The reports: which checkpoint holds which goods, for how long, why, at what cost."""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import Date, Select, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.organizations.models import Role
from app.reports import figures as fig
from app.reports import order_stats
from app.reports.filters import ReportFilters, scoped_rows, scoped_stops
from app.reports.hs_chapters import chapter_name
from app.reports.privacy import must_suppress
from app.reports.schemas import (
    AgencyRow,
    CheckpointRow,
    CommodityRow,
    DelayFigures,
    ProcedureRow,
    Report,
    TrendRow,
)
from app.tracking.models import Stop, StopProcedure

Interval = Literal["week", "month"]


@dataclass(frozen=True)
class Scope:
    """Who asks, with which filters, under which settings: what every report needs."""

    session: Session
    principal: Principal
    filters: ReportFilters
    settings: Settings

    def stops(self, *columns: Any) -> Select[Any]:
        return scoped_stops(self.principal, self.filters, *columns)

    def rows(self, table: Any) -> fig.Source:
        """SELECT … FROM `table` (stops, or their holds or fees) within this scope."""
        return lambda *columns: scoped_rows(self.principal, self.filters, table, *columns)

    def suppressed(self, organizations: int) -> bool:
        return must_suppress(self.principal, organizations, self.settings.report_min_exporters)

    def figures(
        self,
        keys: Callable[[Any], list[Any]],
        joined: Callable[[Any, Select[Any]], Select[Any]] = lambda table, stmt: stmt,
        normalize: Callable[[fig.Key], fig.Key] = lambda key: key,
        rollup: Callable[[fig.Key], Iterable[fig.Key]] | None = None,
    ) -> dict[fig.Key, fig.Figures]:
        """The delay figures per group; `joined` adds what the keys need to each table's rows;
        `rollup` maps fine keys to the report's groups (see figures.py)."""

        def source(table: Any) -> fig.Source:
            return lambda *columns: joined(table, self.rows(table)(*columns))

        grouping = fig.Grouping(source, keys, normalize, rollup)
        return fig.stop_figures(
            self.session,
            grouping,
            standard_minutes=self.settings.service_standard_minutes,
            organizations=self.counts_exporters,
        )

    @property
    def counts_exporters(self) -> bool:
        """Only the k-anonymity rule needs each group's distinct exporters: an advocate's."""
        return self.principal.role == Role.advocate

    def report(self, name: str, row_type: type[Any], items: list[Any]) -> Report[Any]:
        advocate = self.principal.role == "advocate"
        return Report[row_type](  # type: ignore[valid-type]
            report=name,
            generated_at=utcnow(),
            filters=self.filters.described(),
            service_standard_minutes=self.settings.service_standard_minutes,
            min_exporters=self.settings.report_min_exporters if advocate else None,
            items=items,
        )


def _checkpoints(session: Session, ids: set[Any]) -> dict[uuid.UUID, Checkpoint]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Checkpoint).where(Checkpoint.id.in_(ids)))}


def checkpoint_codes(session: Session, ids: set[Any]) -> dict[uuid.UUID, str]:
    return {c.id: c.code for c in _checkpoints(session, ids).values()}


# --- checkpoints -------------------------------------------------------------------------

SORTABLE = (
    "stops",
    "completed_stops",
    "p50_dwell_minutes",
    "p90_dwell_minutes",
    "mean_dwell_minutes",
    "tail_mean_dwell_minutes",
    "within_standard_share",
    "hold_rate",
    "turn_back_rate",
    "total_delay_hours",
    "checkpoint_code",
)


def checkpoint_report(scope: Scope, *, sort: str) -> Report[CheckpointRow]:
    groups = scope.figures(lambda table: [table.checkpoint_id])
    checkpoints = _checkpoints(scope.session, {key[0] for key in groups})
    rows = []
    for (checkpoint_id,), figures in groups.items():
        checkpoint = checkpoints[checkpoint_id]
        rows.append(
            CheckpointRow(
                checkpoint_id=checkpoint.id,
                checkpoint_code=checkpoint.code,
                checkpoint_name=checkpoint.name,
                province=checkpoint.province,
                **DelayFigures.of(figures, scope.suppressed(figures.organizations)),
            )
        )
    return scope.report("checkpoints", CheckpointRow, sort_rows(rows, sort))


def sort_rows(rows: list[CheckpointRow], sort: str) -> list[CheckpointRow]:
    """`-field` sorts worst (largest) first. Suppressed rows and missing figures go last."""
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    # A suppressed row keeps its labels (checkpoint_code), but it still goes last.
    present = [r for r in rows if not r.suppressed and getattr(r, field) is not None]
    missing = [r for r in rows if r.suppressed or getattr(r, field) is None]
    present.sort(key=lambda r: (getattr(r, field), r.checkpoint_code), reverse=descending)
    missing.sort(key=lambda r: (r.suppressed, r.checkpoint_code))
    return present + missing


# --- agencies ----------------------------------------------------------------------------


def agency_report(scope: Scope) -> Report[AgencyRow]:
    # Per checkpoint (an index order, no join), rolled up to its authority and jurisdiction
    # as they are now: a checkpoint handed to another agency counts for the new one.
    agency = {
        id_: (str(authority), str(jurisdiction))
        for id_, authority, jurisdiction in scope.session.execute(
            select(Checkpoint.id, Checkpoint.authority, Checkpoint.jurisdiction)
        )
    }
    groups = scope.figures(lambda table: [table.checkpoint_id], rollup=lambda key: [agency[key[0]]])
    rows = []
    for (authority, jurisdiction), figures in groups.items():
        suppressed = scope.suppressed(figures.organizations)
        rows.append(
            AgencyRow(
                authority=authority,
                jurisdiction=jurisdiction,
                # A count like any other: an advocate sees none for a suppressed group.
                checkpoints=None if suppressed else figures.fine_groups,
                **DelayFigures.of(figures, suppressed),
            )
        )
    rows.sort(key=lambda r: (r.suppressed, -(r.total_delay_hours or 0), r.authority))
    return scope.report("agencies", AgencyRow, rows)


# --- commodities -------------------------------------------------------------------------


def commodity_report(scope: Scope) -> Report[CommodityRow]:
    # Per set of chapters a shipment carries (stops.hs_chapters, an index order), rolled up
    # to each chapter: a stop counts once for every chapter its shipment carries.
    def with_cargo(table: Any, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(table.hs_chapters.is_not(None))

    groups = scope.figures(
        lambda table: [table.hs_chapters],
        with_cargo,
        rollup=lambda key: [(chapter,) for chapter in key[0].split(",")],
    )
    rows = [
        CommodityRow(
            hs_chapter=chapter,
            chapter_name=chapter_name(chapter),
            **DelayFigures.of(figures, scope.suppressed(figures.organizations)),
        )
        for (chapter,), figures in groups.items()
    ]
    rows.sort(key=lambda r: (r.suppressed, -(r.p50_dwell_minutes or 0), r.hs_chapter))
    return scope.report("commodities", CommodityRow, rows)


# --- trends ------------------------------------------------------------------------------

EPOCH = date(1970, 1, 1).toordinal()


def period_start(interval: Interval, arrival_day: int) -> date:
    """The UTC Monday (week) or first day (month) of a stops.arrival_day."""
    day = date.fromordinal(EPOCH + arrival_day)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def sql_period_start(scope: Scope, interval: Interval, arrived_at: Any) -> Any:
    """period_start() in SQL, from arrived_at: the UTC Monday or first of the month."""
    if scope.session.get_bind().dialect.name == "sqlite":
        if interval == "week":
            return func.date(arrived_at, "weekday 0", "-6 days")
        return func.strftime("%Y-%m-01", arrived_at)
    utc = func.timezone(literal_column("'UTC'"), arrived_at)
    return cast(func.date_trunc(interval, utc), Date)


def _trend_figures(
    scope: Scope, interval: Interval, by_checkpoint: bool
) -> dict[fig.Key, fig.Figures]:
    def arrived(table: Any, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(table.arrival_day.is_not(None))

    if not by_checkpoint:
        # Per arrival day (stops.arrival_day, an index order), rolled up to weeks or months.
        return scope.figures(
            lambda table: [table.arrival_day],
            arrived,
            rollup=lambda key: [(period_start(interval, key[0]),)],
        )

    # Per period and checkpoint, grouped in SQL as before: rolling 24,000 (day, checkpoint)
    # groups up took longer (ix_stops_by_day does not hold the checkpoint).
    def keys(table: Any) -> list[Any]:
        return [sql_period_start(scope, interval, table.arrived_at), table.checkpoint_id]

    def arrived_at(table: Any, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(table.arrived_at.is_not(None))

    def normalize(key: fig.Key) -> fig.Key:
        when = key[0] if isinstance(key[0], date) else date.fromisoformat(str(key[0])[:10])
        return (when, key[1])

    return scope.figures(keys, arrived_at, normalize)


def trend_report(scope: Scope, *, interval: Interval, by_checkpoint: bool) -> Report[TrendRow]:
    groups = _trend_figures(scope, interval, by_checkpoint)
    codes = checkpoint_codes(scope.session, {k[1] for k in groups if len(k) > 1})
    rows = []
    for key, figures in sorted(groups.items(), key=lambda item: (item[0][1:], item[0][0])):
        suppressed = scope.suppressed(figures.organizations)
        row = TrendRow(
            period_start=key[0],
            checkpoint_id=key[1] if by_checkpoint else None,
            checkpoint_code=codes.get(key[1]) if by_checkpoint else None,
            **DelayFigures.of(figures, suppressed),
        )
        previous = groups.get((_previous(key[0], interval), *key[1:]))
        if previous is not None and not suppressed and not scope.suppressed(previous.organizations):
            row.change_stops = figures.stops - previous.stops
            row.change_hold_rate = _difference(figures.hold_rate, previous.hold_rate)
            row.change_p50_dwell_minutes = _difference(
                figures.p50_dwell_minutes, previous.p50_dwell_minutes
            )
            row.change_p90_dwell_minutes = _difference(
                figures.p90_dwell_minutes, previous.p90_dwell_minutes
            )
        rows.append(row)
    rows.sort(key=lambda r: (r.checkpoint_code or "", r.period_start))
    return scope.report(f"trends-{interval}", TrendRow, rows)


def _previous(start: date, interval: Interval) -> date:
    if interval == "week":
        return start - timedelta(days=7)
    return (start.replace(day=1) - timedelta(days=1)).replace(day=1)


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


# --- procedures --------------------------------------------------------------------------


def procedure_report(scope: Scope, *, by_checkpoint: bool) -> Report[ProcedureRow]:
    """The WCO Time Release Study view: which procedure takes how much of the stop time."""
    scope_keys: list[Any] = [Stop.checkpoint_id] if by_checkpoint else []
    # Procedure rows carry their stop's context: counted from their own table, no join.
    procedures = scope.rows(StopProcedure)
    keys = [StopProcedure.procedure, *([StopProcedure.checkpoint_id] if by_checkpoint else [])]
    width = len(keys)
    # A stop that ran a procedure twice requires it once: its first runs count the stops.
    first_runs = func.coalesce(func.sum(case((StopProcedure.run_number == 1, 1), else_=0)), 0)
    stmt = (
        procedures(
            *keys,
            first_runs,
            func.count(StopProcedure.minutes),
            func.coalesce(func.sum(StopProcedure.minutes), 0.0),
        )
        .group_by(*keys)
        .order_by(*keys)
    )  # the key order the sorted pass will follow
    exporters = _procedure_exporters(scope, keys) if scope.counts_exporters else {}
    totals = {
        tuple(r[:width]): (
            int(r[width]),
            int(r[width + 1]),
            float(r[width + 2]),
            exporters.get(tuple(r[:width]), 0),
        )
        for r in scope.session.execute(stmt)
    }
    untimed = _minutes_on_untimed_stops(scope, by_checkpoint)
    sizes = [(key, timed) for key, (_, timed, *_) in totals.items()]
    stats = order_stats.exact(
        scope.session, procedures, keys, StopProcedure.minutes, sizes, tail=False
    )
    context = _stop_totals(scope, scope_keys)
    codes = checkpoint_codes(scope.session, {k[1] for k in totals if len(k) > 1})
    rows = []
    for key, (stops, _timed, minutes, organizations) in totals.items():
        # The share of stop time compares like with like: the procedure minutes of the stops
        # whose time is known (a stop never released has none) against those stops' time.
        timed_minutes = minutes - untimed.get(key, 0.0)
        all_stops, all_minutes = context.get(tuple(key[1:]), (0, 0.0))
        row = ProcedureRow(
            procedure=str(key[0]),
            checkpoint_id=key[1] if by_checkpoint else None,
            checkpoint_code=codes.get(key[1]) if by_checkpoint else None,
        )
        if scope.suppressed(organizations):
            row.suppressed = True
        else:
            found = stats.get(key)
            row.stops_requiring = stops
            row.share_of_stops = stops / all_stops if all_stops else None
            row.p50_minutes = found.percentiles[0.5] if found else None
            row.p90_minutes = found.percentiles[0.9] if found else None
            row.total_hours = minutes / 60
            row.share_of_stop_time = timed_minutes / all_minutes if all_minutes else None
        rows.append(row)
    rows.sort(key=lambda r: (r.checkpoint_code or "", r.suppressed, -(r.total_hours or 0)))
    return scope.report("procedures", ProcedureRow, rows)


def _procedure_exporters(scope: Scope, keys: list[Any]) -> dict[fig.Key, int]:
    """Distinct exporters per procedure (and checkpoint): a grouped DISTINCT."""
    pairs = scope.rows(StopProcedure)(*keys, StopProcedure.organization_id).distinct().subquery()
    columns = list(pairs.c)[:-1]
    stmt = select(*columns, func.count()).group_by(*columns)
    return {tuple(r[:-1]): int(r[-1]) for r in scope.session.execute(stmt)}


def _minutes_on_untimed_stops(scope: Scope, by_checkpoint: bool) -> dict[fig.Key, float]:
    """Procedure minutes spent at stops whose own time is unknown (few: open or contradictory
    stops), per procedure (and checkpoint)."""
    keys = [StopProcedure.procedure, *([Stop.checkpoint_id] if by_checkpoint else [])]
    stmt = (
        scope.stops(*keys, func.coalesce(func.sum(StopProcedure.minutes), 0.0))
        .join(StopProcedure, StopProcedure.stop_id == Stop.id)
        .where(Stop.dwell_minutes.is_(None))
        .group_by(*keys)
    )
    return {tuple(r[:-1]): float(r[-1]) for r in scope.session.execute(stmt)}


def _stop_totals(scope: Scope, keys: list[Any]) -> dict[fig.Key, tuple[int, float]]:
    """Stops and their total dwell minutes in the report's scope (per checkpoint if asked)."""
    stmt = scope.stops(*keys, func.count(), func.coalesce(func.sum(Stop.dwell_minutes), 0.0))
    if keys:
        stmt = stmt.group_by(*keys)
    return {tuple(r[:-2]): (int(r[-2]), float(r[-1])) for r in scope.session.execute(stmt)}
