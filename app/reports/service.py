"""The reports: which checkpoint holds which goods, for how long, why, at what cost."""

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Date, Select, case, cast, func, literal_column, select, true
from sqlalchemy.orm import Session

from app import privacy
from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.reports import figures as fig
from app.reports import order_stats, rollups
from app.reports.filters import ReportFilters, scoped_rows, scoped_stops, whole_days
from app.reports.hs_chapters import chapter_name
from app.reports.schemas import (
    AgencyRow,
    CheckpointRow,
    CommodityRow,
    DelayFigures,
    EvidenceShares,
    PolicyMarker,
    ProcedureRow,
    Report,
    TrendReport,
    TrendRow,
)
from app.reports.targets import Targets
from app.tracking.models import Stop, StopProcedure
from app.tracking.vocabulary import StopOutcome
from app.types import EPOCH

Interval = Literal["week", "month"]
# The policy changes in force in a window [start, end) (either side open when None) at the
# checkpoints the filters cover: given by a feature above this one (app/policies), wired in
# app/main.py, so that the trends can mark them without reports importing it.
MarkerSource = Callable[
    [Session, ReportFilters, datetime | None, datetime | None], list[PolicyMarker]
]


@dataclass
class Scope:
    """Who asks, with which filters, under which settings: what every report needs."""

    session: Session
    principal: Principal
    filters: ReportFilters
    settings: Settings
    as_of: datetime = field(default_factory=utcnow)
    excluded_stops: int = 0
    # The report's rows cut cells by HS chapter (the commodity report): its cells' tallies
    # must hold each stop's chapters.
    by_chapter: bool = False
    _cells: privacy.StopCells | None = None
    _targets: Targets | None = None

    def __post_init__(self) -> None:
        privacy.require_report_reader(self.principal)
        whole_days(self.principal, self.filters)

    @property
    def protected(self) -> bool:
        """An advocate's answer: built from protected cells only (see privacy.py)."""
        return privacy.is_protected(self.principal)

    def stops(self, *columns: Any) -> Select[Any]:
        return scoped_stops(self.principal, self.filters, *columns)

    def rows(self, table: Any) -> fig.Source:
        """SELECT … FROM `table` (stops, or their holds or fees) within this scope."""
        return lambda *columns: scoped_rows(self.principal, self.filters, table, *columns)

    def where(self, table: Any) -> rollups.Where:
        """This scope's rows of `table` as a condition (for queries that join other tables)."""

        def condition(rows: Any) -> Any:
            clause = self.rows(rows)(rows.id).whereclause
            return clause if clause is not None else true()

        return condition

    @property
    def targets(self) -> Targets:
        """The checkpoints' service standards (read once per report)."""
        if self._targets is None:
            self._targets = Targets.load(self.session, self.settings)
        return self._targets

    def suppressed(self, organizations: int) -> bool:
        return privacy.must_suppress(
            self.principal, organizations, self.settings.report_min_exporters
        )

    def cells(self) -> privacy.StopCells:
        """The advocate's cells for this question (read once per report)."""
        if self._cells is None:
            self._cells = stop_cells(self)
        return self._cells

    def figures(
        self,
        keys: Callable[[Any], list[Any]],
        joined: Callable[[Any, Select[Any]], Select[Any]] = lambda table, stmt: stmt,
        normalize: Callable[[fig.Key], fig.Key] = lambda key: key,
        rollup: Callable[[fig.Key], Iterable[fig.Key]] | None = None,
        conditions: Callable[[fig.Key], Iterable[privacy.Condition]] = lambda key: (),
    ) -> dict[fig.Key, fig.Figures]:
        """The delay figures per group; `joined` adds what the keys need to each table's rows;
        `rollup` maps fine keys to the report's groups (see figures.py). For an advocate the
        groups are built from the protected cells they may use; `conditions(group)`: what a
        group cuts its cells by beyond the filters (a commodity row: its chapter)."""

        def source(table: Any) -> fig.Source:
            return lambda *columns: joined(table, self.rows(table)(*columns))

        seen: dict[fig.Key, set[privacy.Cell]] = defaultdict(set)  # group -> cells shown
        if self.protected:
            keys, normalize, rollup = self._by_cell(keys, normalize, rollup, conditions, seen)
        grouping = fig.Grouping(source, keys, normalize, rollup)
        groups = fig.stop_figures(
            self.session,
            grouping,
            standard_minutes=self.settings.service_standard_minutes,
            # An advocate's groups count the exporters of the cells they were built from.
            organizations=False,
            target_minutes=self.targets.sql_minutes(Stop.checkpoint_id),
        )
        for group, cells in seen.items():
            # Every cell left out: no figures, a suppressed row, as before.
            found = groups.setdefault(group, fig.Figures())
            found.organizations = len(self.cells().exporters_of(cells))
        return groups

    @property
    def from_cells(self) -> bool:
        """Whether day cells (rollups.py) answer this question rather than the stops."""
        return self.settings.report_rollups and rollups.answers(self.principal, self.filters)

    def cell_figures(
        self,
        to_groups: Callable[[rollups.Cell], Iterable[fig.Key]],
        conditions: Callable[[fig.Key], Iterable[privacy.Condition]] = lambda key: (),
        *,
        period: rollups.Period = rollups.MONTH,
        network: bool = False,
    ) -> dict[fig.Key, fig.Figures]:
        """The delay figures per group from day cells: `to_groups(cell)` names the groups a
        cell counts in. For an advocate only the cells privacy.py allows are added up; a
        group with none left is an empty (suppressed) one, as in `figures()`;
        `conditions(group)` as in `figures()`. A question cut by chapter reads cargo cells
        (checkpoint, day, chapters). An admin's whole periods (months; weeks for weekly
        groups) are read as their cells (the cell's day: the period's first); `network`:
        the groups are over every checkpoint, so the periods' network rows may answer —
        unless a checkpoint has a target of its own (its stops are counted against it)."""
        chapter = self.filters.hs_chapter
        whole = None if self.protected else period
        cargo = self.by_chapter or chapter is not None
        cells = rollups.cells_in_scope(
            self.session,
            self.filters.model_copy(update={"hs_chapter": None}),
            exporters=self.protected,
            cargo=cargo,
            period=whole,
            # Period cells are large: their percentiles read slices of their dwell times.
            indexed=whole is not None,
            network=network and whole is not None and not self.targets.minutes,
        )
        if self.protected:
            # The atoms of the whole cells: a filtered cell's complement is part of the rule.
            asked = frozenset({("hs", chapter)} if chapter else set())
            self._cells = privacy.StopCells(
                rollups.tallies(cells), privacy.thresholds_of(self.settings), asked
            )
        if chapter is not None:
            cells = {cell: f for cell, f in cells.items() if chapter in cell[2].split(",")}
        members: dict[fig.Key, list[rollups.Cell]] = defaultdict(list)
        allows = self.cells().allows if self.protected else None
        for cell in cells:
            for group in to_groups(cell):
                shown = members[group]  # every group of the question, even with nothing shown
                if allows is None or allows(cell[:2], conditions(group)):
                    shown.append(cell)
        groups = rollups.group_figures(
            self.session,
            {group: [(cell, cells[cell]) for cell in shown] for group, shown in members.items()},
            self.settings.service_standard_minutes,
            self.targets.minutes_of,
        )
        for group, shown in members.items():
            found = groups[group]
            found.fine_groups = len({cell[0] for cell in shown})
            if self.protected:
                found.organizations = len(self.cells().exporters_of({c[:2] for c in shown}))
        return groups

    def _by_cell(
        self,
        keys: Callable[[Any], list[Any]],
        normalize: Callable[[fig.Key], fig.Key],
        rollup: Callable[[fig.Key], Iterable[fig.Key]] | None,
        conditions: Callable[[fig.Key], Iterable[privacy.Condition]],
        seen: dict[fig.Key, set[privacy.Cell]],
    ) -> tuple[
        Callable[[Any], list[Any]],
        Callable[[fig.Key], fig.Key],
        Callable[[fig.Key], Iterable[fig.Key]],
    ]:
        """The report's groups, each cut into cells (checkpoint × UTC day) and rolled back up
        from the cells the advocate may see."""
        cells = self.cells()
        to_groups = rollup or (lambda key: [key])

        def cell_keys(table: Any) -> list[Any]:
            return [*keys(table), table.checkpoint_id, table.arrival_day]

        def cell_normalize(key: fig.Key) -> fig.Key:
            return (*normalize(key[:-2]), *key[-2:])

        def cell_rollup(key: fig.Key) -> list[fig.Key]:
            cell, shown = key[-2:], []
            for group in to_groups(key[:-2]):
                found = seen[group]  # every group of the question, even with nothing shown
                if cells.allows(cell, conditions(group)):
                    found.add(cell)
                    shown.append(group)
            return shown

        return cell_keys, cell_normalize, cell_rollup

    def leave_out(
        self, rows_of: Callable[[privacy.Atom], list[frozenset[privacy.Condition]]]
    ) -> None:
        """Counts, for the answer, the stops its protected cells left out."""
        if self.protected:
            self.excluded_stops = self.cells().excluded_stops(rows_of)

    @property
    def counts_exporters(self) -> bool:
        """Only the k-anonymity rule needs each group's distinct exporters: an advocate's."""
        return self.protected

    def report(self, name: str, row_type: type[Any], items: list[Any]) -> Report[Any]:
        return Report[row_type](  # type: ignore[valid-type]
            report=name,
            generated_at=utcnow(),
            as_of=self.as_of,
            filters=self.filters.described(),
            service_standard_minutes=self.settings.service_standard_minutes,
            min_exporters=self.settings.report_min_exporters if self.protected else None,
            min_stops=self.settings.report_min_stops if self.protected else None,
            excluded_stops=self.excluded_stops,
            items=items,
        )


def stop_cells(scope: Scope) -> privacy.StopCells:
    """Tallies of the advocate's cells: the stops in scope by checkpoint and UTC day, cut by
    chapters and destination where the question does, before the chapter and destination
    filters (a filtered cell's complement is part of the decision)."""
    filters = scope.filters
    whole = filters.model_copy(
        update={"hs_chapter": None, "destination_province": None, "evidence": "all"}
    )
    asked: set[privacy.Condition] = set()
    if filters.hs_chapter is not None:
        asked.add(("hs", filters.hs_chapter))
    if filters.destination_province is not None:
        asked.add(("to", str(filters.destination_province)))
    if filters.confirmed_only:
        # The confirmed stops are a part of their cell, as a chapter's are: the rest of the
        # cell must pass or be empty, or the two answers' difference would show it.
        asked.add(("gps", "confirmed"))
    atoms = privacy.stop_atoms(
        scope.session,
        lambda *columns: scoped_stops(scope.principal, whole, *columns),
        [Stop.checkpoint_id, Stop.arrival_day],
        Stop.hs_chapters if (scope.by_chapter or filters.hs_chapter) else None,
        Stop.destination_province if filters.destination_province else None,
        Stop.organization_id,
        func.coalesce(func.sum(case((Stop.outcome != StopOutcome.open, 1), else_=0)), 0),
        Stop.position_evidence if filters.confirmed_only else None,
    )
    return privacy.StopCells(atoms, privacy.thresholds_of(scope.settings), frozenset(asked))


def whole_cells(atom: privacy.Atom) -> list[frozenset[privacy.Condition]]:
    """A report whose rows take whole (filtered) cells: one row per stop."""
    return [frozenset()]


def each_chapter(atom: privacy.Atom) -> list[frozenset[privacy.Condition]]:
    """The commodity report: a stop counts in the row of each chapter it carries."""
    return [frozenset({("hs", chapter)}) for chapter in (atom[0] or "").split(",") if chapter]


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
    if scope.from_cells:
        groups = scope.cell_figures(lambda cell: [(cell[0],)])
    else:
        groups = scope.figures(lambda table: [table.checkpoint_id])
    scope.leave_out(whole_cells)
    checkpoints = _checkpoints(scope.session, {key[0] for key in groups})
    rows = []
    for (checkpoint_id,), figures in groups.items():
        checkpoint = checkpoints[checkpoint_id]
        suppressed = scope.suppressed(figures.organizations)
        rows.append(
            CheckpointRow(
                checkpoint_id=checkpoint.id,
                checkpoint_code=checkpoint.code,
                checkpoint_name=checkpoint.name,
                province=checkpoint.province,
                **DelayFigures.of(figures, suppressed),
                **_target_fields(scope, figures, {checkpoint_id}, suppressed),
            )
        )
    return scope.report("checkpoints", CheckpointRow, sort_rows(rows, sort))


def _target_fields(
    scope: Scope, figures: fig.Figures, checkpoints: set[Any], suppressed: bool
) -> dict[str, Any]:
    """A row's target fields (targets.py); none on a suppressed row. A row over several
    checkpoints (`checkpoints` empty) gives only the share within their own targets, and a
    target and a verdict if every checkpoint has the default one."""
    if suppressed:
        return {}
    if not checkpoints and not (scope.targets.minutes or scope.targets.shares):
        checkpoints = {None}  # every checkpoint has the defaults
    return scope.targets.of_row(checkpoints, figures.within_target, figures.timed_stops)


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
    if scope.from_cells:
        groups = scope.cell_figures(lambda cell: [agency[cell[0]]])
    else:
        groups = scope.figures(
            lambda table: [table.checkpoint_id], rollup=lambda key: [agency[key[0]]]
        )
    scope.leave_out(whole_cells)
    shown = _checkpoints_shown(scope, agency) if scope.protected else {}
    rows = []
    for (authority, jurisdiction), figures in groups.items():
        suppressed = scope.suppressed(figures.organizations)
        rows.append(
            AgencyRow(
                authority=authority,
                jurisdiction=jurisdiction,
                # A count like any other: an advocate sees none for a suppressed group.
                checkpoints=None
                if suppressed
                else shown.get((authority, jurisdiction), figures.fine_groups),
                **DelayFigures.of(figures, suppressed),
            )
        )
    rows.sort(key=lambda r: (r.suppressed, -(r.total_delay_hours or 0), r.authority))
    return scope.report("agencies", AgencyRow, rows)


def _checkpoints_shown(
    scope: Scope, agency: dict[Any, tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Per agency, for an advocate, its checkpoints with any cell shown (cells, not
    checkpoints, are the fine groups then)."""
    cells = scope.cells()
    ids = {cell[0] for cell in cells.atoms if cells.allows(cell)}
    counts: dict[tuple[str, str], int] = {}
    for checkpoint_id in ids:
        counts[agency[checkpoint_id]] = counts.get(agency[checkpoint_id], 0) + 1
    return counts


# --- commodities -------------------------------------------------------------------------


def commodity_report(scope: Scope) -> Report[CommodityRow]:
    # Per set of chapters a shipment carries (stops.hs_chapters, an index order), rolled up
    # to each chapter: a stop counts once for every chapter its shipment carries.
    def with_cargo(table: Any, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(table.hs_chapters.is_not(None))

    scope = dataclasses.replace(scope, by_chapter=True)
    if scope.from_cells:
        groups = scope.cell_figures(
            lambda cell: [(chapter,) for chapter in cell[2].split(",") if chapter],
            conditions=lambda group: [("hs", group[0])],
            network=True,  # its groups are chapters, over every checkpoint
        )
    else:
        groups = scope.figures(
            lambda table: [table.hs_chapters],
            with_cargo,
            rollup=lambda key: [(chapter,) for chapter in key[0].split(",")],
            conditions=lambda group: [("hs", group[0])],
        )
    scope.leave_out(each_chapter)
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

    if scope.from_cells:
        starts: dict[int, date] = {}  # a few hundred days, for tens of thousands of cells

        def periods(cell: rollups.Cell) -> list[fig.Key]:
            checkpoint_id, day = cell[:2]
            if day is None:
                return []  # no arrival logged: in no period
            start = starts.get(day) or starts.setdefault(day, period_start(interval, day))
            return [(start, checkpoint_id) if by_checkpoint else (start,)]

        # Month periods take month cells whole, week periods week cells.
        return scope.cell_figures(
            periods,
            period=rollups.WEEK if interval == "week" else rollups.MONTH,
            network=not by_checkpoint,
        )
    if by_checkpoint and scope.protected:
        # An advocate's cells are already per checkpoint and day: rolled up to periods.
        return scope.figures(
            lambda table: [table.checkpoint_id, table.arrival_day],
            arrived,
            rollup=lambda key: [(period_start(interval, key[1]), key[0])],
        )
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


def trend_report(
    scope: Scope,
    *,
    interval: Interval,
    by_checkpoint: bool,
    markers: MarkerSource | None = None,
) -> TrendReport:
    groups = _trend_figures(scope, interval, by_checkpoint)
    scope.leave_out(whole_cells)
    codes = checkpoint_codes(scope.session, {k[1] for k in groups if len(k) > 1})
    rows = []
    for key, figures in sorted(groups.items(), key=lambda item: (item[0][1:], item[0][0])):
        suppressed = scope.suppressed(figures.organizations)
        row = TrendRow(
            period_start=key[0],
            checkpoint_id=key[1] if by_checkpoint else None,
            checkpoint_code=codes.get(key[1]) if by_checkpoint else None,
            **DelayFigures.of(figures, suppressed),
            **_target_fields(scope, figures, {key[1]} if by_checkpoint else set(), suppressed),
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
    report = scope.report(f"trends-{interval}", TrendRow, rows)
    return TrendReport(**dict(report), policy_changes=_markers(scope, interval, rows, markers))


def _markers(
    scope: Scope, interval: Interval, rows: list[TrendRow], markers: MarkerSource | None
) -> list[PolicyMarker]:
    """The policy changes within the trend's window: `from`/`to` where given, else from the
    start of its first period to the end of its last."""
    if markers is None:
        return []
    starts = [row.period_start for row in rows]
    start, end = scope.filters.from_, scope.filters.to
    if not starts and (start is None or end is None):
        return []  # no periods and an open side: no window to mark
    if start is None:
        start = _midnight(min(starts))
    if end is None:
        last = max(starts)
        end = _midnight(last + timedelta(days=7) if interval == "week" else _next_month(last))
    return markers(scope.session, scope.filters, start, end)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_month(start: date) -> date:
    return (start.replace(day=1) + timedelta(days=32)).replace(day=1)


def _previous(start: date, interval: Interval) -> date:
    if interval == "week":
        return start - timedelta(days=7)
    return (start.replace(day=1) - timedelta(days=1)).replace(day=1)


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


# --- procedures --------------------------------------------------------------------------


@dataclass
class _ProcedureTotals:
    stops: int = 0  # stops that required it (their first runs)
    timed: int = 0  # runs with a duration
    minutes: float = 0.0
    untimed_minutes: float = 0.0  # its minutes at stops whose own time is unknown
    organizations: set[Any] = field(default_factory=set)
    fine: list[fig.Key] = field(default_factory=list)  # the fine groups it sums (advocates)
    evidence: rollups.EvidenceCounts = field(default_factory=rollups.EvidenceCounts)

    def add_runs(self, runs: rollups.ProcedureGroup) -> None:
        """Runs added up from cells (the rollups' path)."""
        self.stops += runs.first_runs
        self.timed += runs.timed_runs
        self.minutes += runs.minutes
        self.untimed_minutes += runs.untimed_minutes
        self.evidence = self.evidence.plus(runs.evidence)


def procedure_report(scope: Scope, *, by_checkpoint: bool) -> Report[ProcedureRow]:
    """The WCO Time Release Study view: which procedure takes how much of the stop time.

    For an advocate, each row sums the cells (checkpoint × day) where its procedure was done
    at enough stops by enough exporters (a procedure's runs in a cell are a part of the cell
    as a chapter is; no figure describes the stops without it, so no complement is needed),
    and its shares compare it with the stops of those same cells."""
    if scope.from_cells and scope.filters.hs_chapter is None:
        return _procedures_from_cells(scope, by_checkpoint)
    keys = [StopProcedure.procedure, *([StopProcedure.checkpoint_id] if by_checkpoint else [])]
    width = len(keys)
    cell_keys = [StopProcedure.checkpoint_id, StopProcedure.arrival_day] if scope.protected else []
    fine_keys = [*keys, *cell_keys]
    fine = _procedure_fine_totals(scope, fine_keys, by_checkpoint)
    allowed = _procedure_cells_allowed(scope, fine, width) if scope.protected else set(fine)
    totals: dict[fig.Key, _ProcedureTotals] = {}
    for key, part in fine.items():
        total = totals.setdefault(key[:width], _ProcedureTotals())
        if key not in allowed:
            scope.excluded_stops += part.stops
            continue
        total.stops += part.stops
        total.timed += part.timed
        total.minutes += part.minutes
        total.untimed_minutes += part.untimed_minutes
        total.organizations |= part.organizations
        total.evidence = total.evidence.plus(part.evidence)
        total.fine.append(key)
    if scope.protected:
        scope.excluded_stops += scope.cells().excluded_stops(whole_cells)
    stats = _procedure_stats(scope, fine_keys, fine, totals, width)
    context = _stop_totals(scope, by_checkpoint)
    return _procedure_rows(scope, totals, stats, context, by_checkpoint)


def _procedure_rows(
    scope: Scope,
    totals: dict[fig.Key, _ProcedureTotals],
    stats: dict[fig.Key, order_stats.Stats],
    context: dict[fig.Key, tuple[int, float]],
    by_checkpoint: bool,
) -> Report[ProcedureRow]:
    """The procedure report's rows, in `totals`' order until the final sort (its ties)."""
    codes = checkpoint_codes(scope.session, {k[1] for k in totals if len(k) > 1})
    rows = []
    for key, total in totals.items():
        row = ProcedureRow(
            procedure=str(key[0]),
            checkpoint_id=key[1] if by_checkpoint else None,
            checkpoint_code=codes.get(key[1]) if by_checkpoint else None,
        )
        if scope.suppressed(len(total.organizations)) or (scope.protected and not total.fine):
            row.suppressed = True
        else:
            _procedure_figures(row, total, stats.get(key), _context_of(scope, context, key, total))
        rows.append(row)
    rows.sort(key=lambda r: (r.checkpoint_code or "", r.suppressed, -(r.total_hours or 0)))
    return scope.report("procedures", ProcedureRow, rows)


def _procedures_from_cells(scope: Scope, by_checkpoint: bool) -> Report[ProcedureRow]:
    """procedure_report() from the rollups: the runs per (checkpoint, day, procedure), added
    up per row by the database for an admin and cell by cell for an advocate (whose cells'
    rule decides cell by cell), and the day cells for the stops they are compared with."""
    # The stops they are compared with: counts and sums only, not their dwell values.
    cells = rollups.cells_in_scope(
        scope.session,
        scope.filters,
        exporters=scope.protected,
        values=False,
        period=None if scope.protected else rollups.MONTH,
    )
    if scope.protected:
        scope._cells = privacy.StopCells(
            rollups.tallies(cells), privacy.thresholds_of(scope.settings), frozenset()
        )
        totals, runs = _procedure_cells_shown(scope, by_checkpoint)
        stats = _procedure_percentiles(scope, runs)
    else:
        totals, stats = _procedures_summed(scope, by_checkpoint)
    context: dict[fig.Key, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for cell, figures in cells.items():
        where: fig.Key = cell[:2] if scope.protected else ((cell[0],) if by_checkpoint else ())
        stops, dwell = context[where]
        context[where] = (stops + figures.stops, dwell + figures.total_dwell_minutes)
    # In key order, as the stops' path meets them: rows the final sort ties keep that order.
    ordered = dict(sorted(totals.items(), key=lambda item: item[0]))
    return _procedure_rows(scope, ordered, stats, context, by_checkpoint)


def _procedures_summed(
    scope: Scope, by_checkpoint: bool
) -> tuple[dict[fig.Key, _ProcedureTotals], dict[fig.Key, order_stats.Stats]]:
    """An admin's rows, summed by the database, one procedure at a time (see
    `rollups.procedure_groups_in_scope`)."""
    totals: dict[fig.Key, _ProcedureTotals] = {}
    stats: dict[fig.Key, order_stats.Stats] = {}
    for runs in rollups.procedure_groups_in_scope(
        scope.session, scope.filters, by_checkpoint=by_checkpoint
    ):
        for key, found in runs.items():
            totals.setdefault(key, _ProcedureTotals()).add_runs(found)
        stats |= _procedure_percentiles(scope, runs)
        del runs  # its minutes, before the next procedure's are read
    return totals, stats


def _procedure_percentiles(
    scope: Scope, runs: dict[fig.Key, rollups.ProcedureGroup]
) -> dict[fig.Key, order_stats.Stats]:
    return {
        key: order_stats.Stats({0.5: found.p50, 0.9: found.p90})
        for key, found in rollups.procedure_statistics(scope.session, runs).items()
        if found.p50 is not None and found.p90 is not None
    }


def _procedure_cells_shown(
    scope: Scope, by_checkpoint: bool
) -> tuple[dict[fig.Key, _ProcedureTotals], dict[fig.Key, rollups.ProcedureGroup]]:
    """An advocate's rows, cell by cell: the runs of the cells where the procedure was done
    at enough stops by enough exporters in a cell that may be shown (the others' stops
    counted as left out), with the exporters and cells each row sums; every row asked for
    has totals, even with no cell shown."""
    cells = rollups.procedure_cells_in_scope(scope.session, scope.filters)
    thresholds = privacy.thresholds_of(scope.settings)
    totals: dict[fig.Key, _ProcedureTotals] = {}
    runs: dict[fig.Key, rollups.ProcedureGroup] = defaultdict(rollups.ProcedureGroup)
    for (checkpoint_id, day, procedure), part in cells.items():
        key: fig.Key = (procedure, checkpoint_id) if by_checkpoint else (procedure,)
        total = totals.setdefault(key, _ProcedureTotals())
        exporters = part.exporter_ids()
        if not (
            scope.cells().allows((checkpoint_id, day))
            and thresholds.passes(privacy.Tally(part.first_runs, part.first_runs, exporters))
        ):
            scope.excluded_stops += part.first_runs
            continue
        total.organizations |= exporters
        total.fine.append((checkpoint_id, day))
        runs[key].add(part, (checkpoint_id, day, procedure))
    for key, found in runs.items():
        totals[key].add_runs(found)
    scope.excluded_stops += scope.cells().excluded_stops(whole_cells)
    return totals, runs


def _procedure_figures(
    row: ProcedureRow,
    total: _ProcedureTotals,
    found: order_stats.Stats | None,
    context: tuple[int, float],
) -> None:
    # The share of stop time compares like with like: the procedure minutes of the stops
    # whose time is known (a stop never released has none) against those stops' time.
    all_stops, all_minutes = context
    row.stops_requiring = total.stops
    row.share_of_stops = total.stops / all_stops if all_stops else None
    row.p50_minutes = found.percentiles[0.5] if found else None
    row.p90_minutes = found.percentiles[0.9] if found else None
    row.total_hours = total.minutes / 60
    timed_minutes = total.minutes - total.untimed_minutes
    row.share_of_stop_time = timed_minutes / all_minutes if all_minutes else None
    counted = fig.Figures(stops=total.stops)
    total.evidence.add_to(counted)
    row.evidence = EvidenceShares.of(counted)


def _procedure_fine_totals(
    scope: Scope, keys: list[Any], by_checkpoint: bool
) -> dict[fig.Key, _ProcedureTotals]:
    """Per procedure (and checkpoint, and for an advocate cell), in the database's key order
    (the order the sorted pass over minutes follows)."""
    # A stop that ran a procedure twice requires it once: its first runs count the stops.
    first_runs = func.coalesce(func.sum(case((StopProcedure.run_number == 1, 1), else_=0)), 0)
    # Procedure rows carry their stop's context: counted from their own table, no join.
    stmt = (
        scope.rows(StopProcedure)(
            *keys,
            first_runs,
            func.count(StopProcedure.minutes),
            func.coalesce(func.sum(StopProcedure.minutes), 0.0),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    width = len(keys)
    totals = {
        tuple(r[:width]): _ProcedureTotals(int(r[width]), int(r[width + 1]), float(r[width + 2]))
        for r in scope.session.execute(stmt)
    }
    if scope.counts_exporters:
        for key, organization in _procedure_exporters(scope, keys):
            totals[key].organizations.add(organization)
    for key, minutes in _minutes_on_untimed_stops(scope, by_checkpoint).items():
        if key in totals:
            totals[key].untimed_minutes = minutes
    in_scope = scope.where(StopProcedure)
    for key, evidence in rollups.procedure_evidence(scope.session, in_scope, keys).items():
        if key in totals:
            totals[key].evidence = evidence
    return totals


def _procedure_cells_allowed(
    scope: Scope, fine: dict[fig.Key, _ProcedureTotals], width: int
) -> set[fig.Key]:
    """The fine groups an advocate may see: the cell (with the filters) may be shown, and the
    procedure was done there at enough stops by enough exporters."""
    cells = scope.cells()
    thresholds = privacy.thresholds_of(scope.settings)
    return {
        key
        for key, part in fine.items()
        if cells.allows(key[width:])
        and thresholds.passes(privacy.Tally(part.stops, part.stops, part.organizations))
    }


def _procedure_stats(
    scope: Scope,
    keys: list[Any],
    fine: dict[fig.Key, _ProcedureTotals],
    totals: dict[fig.Key, _ProcedureTotals],
    width: int,
) -> dict[fig.Key, order_stats.Stats]:
    """p50 and p90 of each row's run minutes, exactly: in one sorted pass, merged from the
    cells for an advocate."""
    procedures = scope.rows(StopProcedure)
    sizes = [(key, part.timed) for key, part in fine.items()]
    minutes = StopProcedure.minutes
    if not scope.protected:
        return order_stats.exact(scope.session, procedures, keys, minutes, sizes, tail=False)
    runs = order_stats.sorted_runs(scope.session, procedures, keys, minutes, sizes)
    stats = {}
    for key, total in totals.items():
        found = order_stats.merged(runs, total.fine, tail=False)
        if found is not None:
            stats[key] = found
    return stats


def _procedure_exporters(scope: Scope, keys: list[Any]) -> Iterable[tuple[fig.Key, Any]]:
    """The exporters whose stops required each procedure (per fine group): a grouped DISTINCT
    of the first runs."""
    stmt = (
        scope.rows(StopProcedure)(*keys, StopProcedure.organization_id)
        .where(StopProcedure.run_number == 1)
        .distinct()
    )
    for row in scope.session.execute(stmt):
        yield tuple(row[:-1]), row[-1]


def _minutes_on_untimed_stops(scope: Scope, by_checkpoint: bool) -> dict[fig.Key, float]:
    """Procedure minutes spent at stops whose own time is unknown (few: open or contradictory
    stops), per procedure (and checkpoint, and cell for an advocate)."""
    keys = [
        StopProcedure.procedure,
        *([Stop.checkpoint_id] if by_checkpoint else []),
        *_cell_columns(scope),
    ]
    stmt = (
        scope.stops(*keys, func.coalesce(func.sum(StopProcedure.minutes), 0.0))
        .join(StopProcedure, StopProcedure.stop_id == Stop.id)
        .where(Stop.dwell_minutes.is_(None))
        .group_by(*keys)
    )
    return {tuple(r[:-1]): float(r[-1]) for r in scope.session.execute(stmt)}


def _cell_columns(scope: Scope) -> list[Any]:
    return [Stop.checkpoint_id, Stop.arrival_day] if scope.protected else []


def _stop_totals(scope: Scope, by_checkpoint: bool) -> dict[fig.Key, tuple[int, float]]:
    """Stops and their total dwell minutes in the report's scope: per checkpoint if asked,
    per cell for an advocate."""
    keys = _cell_columns(scope) or ([Stop.checkpoint_id] if by_checkpoint else [])
    stmt = scope.stops(*keys, func.count(), func.coalesce(func.sum(Stop.dwell_minutes), 0.0))
    if keys:
        stmt = stmt.group_by(*keys)
    return {tuple(r[:-2]): (int(r[-2]), float(r[-1])) for r in scope.session.execute(stmt)}


def _context_of(
    scope: Scope,
    totals: dict[fig.Key, tuple[int, float]],
    key: fig.Key,
    row: _ProcedureTotals,
) -> tuple[int, float]:
    """The stops (and their minutes) a procedure row is compared with: those of its scope,
    or for an advocate those of the very cells the row sums."""
    if not scope.protected:
        return totals.get(tuple(key[1:]), (0, 0.0))
    cells = {fine[-2:] for fine in row.fine}
    parts = [totals.get(cell, (0, 0.0)) for cell in cells]
    return sum(p[0] for p in parts), sum(p[1] for p in parts)
