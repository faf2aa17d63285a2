"""Policy changes: record them, list them, mark them on the trends, and measure their effect.

The effect report compares, per checkpoint of the change, the stops of `weeks` weeks before
and `weeks` weeks after it took effect. Who sees what is the reports' rule, from the one
privacy module (app/privacy.py):

- admins: exact figures, the windows split at the very instant `effective_at`;
- an exporter: its own organisation's stops only (privacy.readable), exact, not suppressed;
- advocates: the windows are whole UTC days, split at the UTC day of `effective_at`, and
  every figure (counts, percentiles, the bootstrap and the test) comes only from the stops
  of the cells (checkpoint × UTC day of arrival) that privacy.StopCells allows. Two answers
  (other `weeks`, or two changes days apart) then differ by whole allowed cells, each at
  least REPORT_MIN_STOPS completed stops of REPORT_MIN_EXPORTERS exporters, or by nothing.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import privacy
from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow, write_transaction
from app.errors import InvalidInput, NotFound
from app.pagination import paginate
from app.policies import effects
from app.policies.models import PolicyChange, PolicyChangeCheckpoint
from app.policies.schemas import (
    EffectMethod,
    EffectReport,
    EffectRow,
    FeePerStop,
    PolicyChangeCreate,
    PolicyChangeRead,
    Window,
    WindowFigures,
    Windows,
)
from app.reports.filters import ReportFilters
from app.reports.schemas import PolicyMarker
from app.reports.service import Scope
from app.tracking.models import Stop, StopFee
from app.tracking.vocabulary import StopOutcome
from app.types import CENT

# --- recording and reading ------------------------------------------------------------------


def create_policy_change(
    session: Session, *, principal: Principal, data: PolicyChangeCreate
) -> PolicyChangeRead:
    try:
        with write_transaction(session):
            _require_checkpoints(session, data.checkpoint_ids)
            change = PolicyChange(
                title=data.title,
                effective_at=data.effective_at,
                description=data.description,
                source_url=data.source_url,
                created_by=principal.user_id,
            )
            session.add(change)
            session.flush()
            session.add_all(
                PolicyChangeCheckpoint(policy_change_id=change.id, checkpoint_id=checkpoint_id)
                for checkpoint_id in data.checkpoint_ids
            )
    except IntegrityError as exc:  # a checkpoint deleted meanwhile (they never are today)
        raise InvalidInput("A checkpoint of the change does not exist.") from exc
    return _read(session, [change])[0]


def _require_checkpoints(session: Session, ids: list[uuid.UUID]) -> None:
    known = set(session.scalars(select(Checkpoint.id).where(Checkpoint.id.in_(ids))))
    unknown = [(n, i) for n, i in enumerate(ids) if i not in known]
    if unknown:
        raise InvalidInput(
            "Unknown checkpoint: " + ", ".join(str(i) for _, i in unknown) + ".",
            errors=[
                {
                    "loc": ["body", "checkpoint_ids", n],
                    "msg": "no such checkpoint",
                    "type": "value_error",
                }
                for n, _ in unknown
            ],
        )


def list_policy_changes(
    session: Session, *, checkpoint_id: uuid.UUID | None, limit: int, cursor: str | None
) -> tuple[list[PolicyChangeRead], str | None]:
    stmt = select(PolicyChange)
    if checkpoint_id is not None:
        stmt = stmt.where(PolicyChange.id.in_(_changes_at([checkpoint_id])))
    rows, next_cursor = paginate(
        session,
        stmt,
        created_at=PolicyChange.created_at,
        row_id=PolicyChange.id,
        limit=limit,
        cursor=cursor,
    )
    return _read(session, rows), next_cursor


def get_policy_change(session: Session, *, policy_change_id: uuid.UUID) -> PolicyChangeRead:
    change = session.get(PolicyChange, policy_change_id)
    if change is None:
        raise NotFound("No such policy change.")
    return _read(session, [change])[0]


def _changes_at(checkpoint_ids: Any) -> Any:
    return select(PolicyChangeCheckpoint.policy_change_id).where(
        PolicyChangeCheckpoint.checkpoint_id.in_(checkpoint_ids)
    )


def _checkpoints_of(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each change's checkpoints, in the order of their codes (one query for a page)."""
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if not ids:
        return found
    stmt = (
        select(PolicyChangeCheckpoint.policy_change_id, PolicyChangeCheckpoint.checkpoint_id)
        .join(Checkpoint, Checkpoint.id == PolicyChangeCheckpoint.checkpoint_id)
        .where(PolicyChangeCheckpoint.policy_change_id.in_(ids))
        .order_by(Checkpoint.code)
    )
    for change_id, checkpoint_id in session.execute(stmt):
        found[change_id].append(checkpoint_id)
    return found


def _read(session: Session, changes: list[PolicyChange]) -> list[PolicyChangeRead]:
    checkpoints = _checkpoints_of(session, [c.id for c in changes])
    return [
        PolicyChangeRead(
            id=c.id,
            title=c.title,
            effective_at=c.effective_at.astimezone(UTC),
            checkpoint_ids=checkpoints[c.id],
            description=c.description,
            source_url=c.source_url,
            created_at=c.created_at,
        )
        for c in changes
    ]


def trend_markers(
    session: Session, filters: ReportFilters, start: datetime | None, end: datetime | None
) -> list[PolicyMarker]:
    """The changes effective in [start, end) (either side open when None) that apply to a
    checkpoint the trend covers (its `checkpoint_id` or `province` filter), oldest first."""
    stmt = select(PolicyChange)
    if start is not None:
        stmt = stmt.where(PolicyChange.effective_at >= start)
    if end is not None:
        stmt = stmt.where(PolicyChange.effective_at < end)
    if filters.checkpoint_id is not None:
        stmt = stmt.where(PolicyChange.id.in_(_changes_at([filters.checkpoint_id])))
    if filters.province is not None:
        in_province = select(Checkpoint.id).where(Checkpoint.province == filters.province)
        stmt = stmt.where(PolicyChange.id.in_(_changes_at(in_province)))
    changes = list(session.scalars(stmt.order_by(PolicyChange.effective_at, PolicyChange.id)))
    checkpoints = _checkpoints_of(session, [c.id for c in changes])
    return [
        PolicyMarker(
            id=c.id, title=c.title, effective_at=c.effective_at, checkpoint_ids=checkpoints[c.id]
        )
        for c in changes
    ]


# --- the effect report ----------------------------------------------------------------------

BEFORE, AFTER = 0, 1


def effect_windows(principal: Principal, effective_at: datetime, weeks: int) -> Windows:
    """[pivot − weeks, pivot) and [pivot, pivot + weeks); the pivot is `effective_at`, or for
    an advocate the start of its UTC day (advocates' answers are sums of whole days)."""
    span = timedelta(days=7 * weeks)
    pivot = effective_at.astimezone(UTC)
    if privacy.is_protected(principal):
        pivot = datetime.combine(pivot.date(), time(0), UTC)
    return Windows(
        before=Window(from_=pivot - span, to=pivot), after=Window(from_=pivot, to=pivot + span)
    )


@dataclass
class _Side:
    """One window of one checkpoint, summed over the days (cells) it may use."""

    stops: int = 0
    completed: int = 0
    held: int = 0
    dwell: list[float] = field(default_factory=list)
    fees: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def figures(self) -> WindowFigures:
        p50 = p90 = None
        if self.dwell:
            p50, p90 = (float(v) for v in np.percentile(np.asarray(self.dwell), [50, 90]))
        return WindowFigures(
            stops=self.stops,
            completed_stops=self.completed,
            p50_dwell_minutes=p50,
            p90_dwell_minutes=p90,
            hold_rate=self.held / self.stops if self.stops else None,
            fees_per_stop=[
                FeePerStop(
                    currency=currency,
                    total=total,
                    per_stop=(total / self.stops).quantize(CENT),
                )
                for currency, total in sorted(self.fees.items())
                if self.stops
            ],
        )


def effect_report(
    session: Session,
    *,
    principal: Principal,
    settings: Settings,
    policy_change_id: uuid.UUID,
    weeks: int,
) -> EffectReport:
    privacy.require_report_reader(principal)
    as_of = utcnow()
    change = get_policy_change(session, policy_change_id=policy_change_id)
    windows = effect_windows(principal, change.effective_at, weeks)
    checkpoints = {
        c.id: c
        for c in session.scalars(select(Checkpoint).where(Checkpoint.id.in_(change.checkpoint_ids)))
    }
    excluded = 0
    rows = []
    for checkpoint_id in change.checkpoint_ids:
        row, left_out = _effect_row(
            session, principal, settings, windows, checkpoints[checkpoint_id]
        )
        rows.append(row)
        excluded += left_out
    protected = privacy.is_protected(principal)
    return EffectReport(
        generated_at=utcnow(),
        as_of=as_of,
        filters={"policy_change_id": str(change.id), "weeks": str(weeks)},
        policy_change=change,
        weeks=weeks,
        windows=windows,
        method=EffectMethod(
            min_completed_stops=effects.MIN_COMPLETED_STOPS,
            bootstrap_resamples=effects.RESAMPLES,
            bootstrap_seed=effects.SEED,
            interval="percentile bootstrap of median(after) − median(before), 95%",
            test="Mann–Whitney U, two-sided (scipy.stats.mannwhitneyu)",
        ),
        min_exporters=settings.report_min_exporters if protected else None,
        min_stops=settings.report_min_stops if protected else None,
        excluded_stops=excluded,
        items=rows,
    )


def _effect_row(
    session: Session,
    principal: Principal,
    settings: Settings,
    windows: Windows,
    checkpoint: Checkpoint,
) -> tuple[EffectRow, int]:
    """One checkpoint's row, and how many of its stops were left out (advocates)."""
    scope = Scope(
        session,
        principal,
        ReportFilters(from_=windows.before.from_, to=windows.after.to, checkpoint_id=checkpoint.id),
        settings,
        as_of=utcnow(),
    )
    (before, after), excluded = _sides(scope, checkpoint.id, windows.after.from_)
    row = EffectRow(
        checkpoint_id=checkpoint.id,
        checkpoint_code=checkpoint.code,
        checkpoint_name=checkpoint.name,
    )
    if scope.protected and excluded and not (before.stops or after.stops):
        row.suppressed = True  # stops there, none in a cell an advocate may see
        return row, excluded
    row.before, row.after = before.figures(), after.figures()
    if not (effects.enough(len(before.dwell)) and effects.enough(len(after.dwell))):
        row.insufficient_data = True
        return row, excluded
    found = effects.compare(before.dwell, after.dwell)
    row.median_change_minutes = found.median_change
    row.median_change_ci95 = list(found.ci95)
    row.mann_whitney_p = found.mann_whitney_p
    return row, excluded


def _sides(
    scope: Scope, checkpoint_id: uuid.UUID, pivot: datetime
) -> tuple[tuple[_Side, _Side], int]:
    """The stops of the two windows (arrived before `pivot`, or from it on), their dwell times
    and fees, summed over the days this caller may use: every day for an admin or an
    exporter (whose scope is its own stops), the allowed cells for an advocate. Also the
    stops left out."""
    cells = scope.cells() if scope.protected else None

    def allowed(day: int | None) -> bool:
        return cells is None or cells.allows((checkpoint_id, day))

    sides = (_Side(), _Side())
    excluded = 0
    side_of_stop = case((Stop.arrived_at < pivot, BEFORE), else_=AFTER)
    completed = case((Stop.outcome != StopOutcome.open, 1), else_=0)
    held = case((Stop.hold_count > 0, 1), else_=0)
    counts = scope.stops(
        Stop.arrival_day, side_of_stop, func.count(), func.sum(completed), func.sum(held)
    ).group_by(Stop.arrival_day, side_of_stop)
    for day, side, stops, done, with_hold in scope.session.execute(counts):
        if not allowed(day):
            excluded += stops
            continue
        sides[side].stops += stops
        sides[side].completed += int(done or 0)
        sides[side].held += int(with_hold or 0)
    dwell = (
        scope.stops(Stop.arrival_day, side_of_stop, Stop.dwell_minutes)
        .where(Stop.outcome != StopOutcome.open)
        .where(Stop.dwell_minutes.is_not(None))
    )
    for day, side, minutes in scope.session.execute(dwell):
        if allowed(day):
            sides[side].dwell.append(float(minutes))
    side_of_fee = case((StopFee.arrived_at < pivot, BEFORE), else_=AFTER)
    fees = scope.rows(StopFee)(
        StopFee.arrival_day, side_of_fee, StopFee.currency, func.sum(StopFee.amount)
    ).group_by(StopFee.arrival_day, side_of_fee, StopFee.currency)
    for day, side, currency, amount in map(tuple, scope.session.execute(fees)):
        if allowed(day):
            # SQLite sums NUMERIC as floating point; amounts have cents, so rounding restores them.
            sides[side].fees[currency] += Decimal(str(amount or 0)).quantize(CENT)
    return sides, excluded
