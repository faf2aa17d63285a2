"""The figures of a month's bulletin, gathered once for every language and format.

Every figure is the advocates' (app/privacy.py), whoever asks: a bulletin is a
publication, printed and passed on, so an admin's copy must not carry exact figures either.
The ranking is the checkpoint report for the month as an advocate gets it; the changes
compare it with the previous month's, checkpoint by checkpoint, only where both months
published figures (each is a sum of whole passing cells, so their difference is too).

A month is a UTC calendar month, and only a finished one: a bulletin of the current month
would change under its readers.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.principal import Principal
from app.cases.models import Case, CaseCategory, CaseStatus, CaseStep
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.errors import InvalidInput
from app.policies import service as policies
from app.policies.models import PolicyChange
from app.reports import service as reports
from app.reports.filters import ReportFilters
from app.reports.schemas import CheckpointRow, Report

FIRST_YEAR = 2000  # nothing to report before; and the previous month stays a valid date
CHANGES = 5  # the largest few changes against the previous month
OPEN = (CaseStatus.submitted, CaseStatus.acknowledged, CaseStatus.in_progress)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment of the next month."""
        return self.following.start

    @property
    def following(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> "Month":
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def of(cls, moment: datetime) -> "Month":
        moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)


def finished_month(text: str, now: datetime) -> Month:
    """`YYYY-MM`, a month that is over (UTC); anything else is a 422 that says why."""
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found[2]) <= 12:
        raise _bad_month(f"{text!r} is not a month: write YYYY-MM, e.g. 2026-11 (01 to 12).")
    month = Month(int(found[1]), int(found[2]))
    if month.year < FIRST_YEAR:
        raise _bad_month(f"A bulletin month is {FIRST_YEAR}-01 or later.")
    latest = Month.of(now).previous
    if month > latest:
        raise _bad_month(
            f"{month} is not over yet: a bulletin covers a whole UTC calendar month, "
            f"so the latest one is {latest}."
        )
    return month


def _bad_month(detail: str) -> InvalidInput:
    return InvalidInput(
        detail, errors=[{"loc": ["path", "month"], "msg": detail, "type": "value_error"}]
    )


@dataclass
class Ranked:
    row: CheckpointRow
    checkpoint: Checkpoint


@dataclass
class Change:
    checkpoint: Checkpoint
    before: CheckpointRow
    now: CheckpointRow

    @property
    def p50_change(self) -> float:
        assert self.now.p50_dwell_minutes is not None
        assert self.before.p50_dwell_minutes is not None
        return self.now.p50_dwell_minutes - self.before.p50_dwell_minutes

    @property
    def hold_rate_change(self) -> float | None:
        if self.now.hold_rate is None or self.before.hold_rate is None:
            return None
        return self.now.hold_rate - self.before.hold_rate


@dataclass
class CaseLine:
    reference: str
    title: str  # as the advocate typed it: text, escaped where it is shown
    category: CaseCategory
    status: CaseStatus  # at the end of the month


@dataclass
class Cases:
    opened: list[CaseLine] = field(default_factory=list)  # submitted in the month
    resolved: list[CaseLine] = field(default_factory=list)  # resolved in the month
    still_open: list[CaseLine] = field(default_factory=list)  # open at the month's end


@dataclass
class PolicyEffect:
    """A policy change that took effect in the month and its measured effect (GET
    /reports/effects): filled by `policy_effects` once app/policies exists."""

    title: str
    effective_at: datetime
    checkpoints: list[Checkpoint]
    median_change_minutes: float | None
    median_change_ci95: tuple[float, float] | None
    insufficient_data: bool


@dataclass
class Bulletin:
    month: Month
    generated_at: datetime
    as_of: datetime
    min_exporters: int
    min_stops: int
    excluded_stops: int
    ranking: list[Ranked]
    changes: list[Change]
    cases: Cases
    policies: list[PolicyEffect]


def bulletin(session: Session, settings: Settings, month: Month) -> Bulletin:
    now = _month_report(session, settings, month)
    before = _month_report(session, settings, month.previous)
    ids = {row.checkpoint_id for row in now.items} | {row.checkpoint_id for row in before.items}
    checkpoints = {
        c.id: c for c in session.scalars(select(Checkpoint).where(Checkpoint.id.in_(ids)))
    }
    return Bulletin(
        month=month,
        generated_at=utcnow(),
        as_of=now.as_of,
        min_exporters=settings.report_min_exporters,
        min_stops=settings.report_min_stops,
        excluded_stops=now.excluded_stops,
        ranking=[Ranked(row, checkpoints[row.checkpoint_id]) for row in now.items],
        changes=biggest_changes(before.items, now.items, checkpoints),
        cases=month_cases(session, month),
        policies=policy_effects(session, settings, month),
    )


def _month_report(session: Session, settings: Settings, month: Month) -> Report[CheckpointRow]:
    """The checkpoint report for the month, worst first, as an advocate gets it."""
    advocate = Principal(kind="user", role=Role.advocate, user_id=None, organization_id=None)
    filters = ReportFilters(from_=month.start, to=month.end)
    scope = reports.Scope(session, advocate, filters, settings)
    return reports.checkpoint_report(scope, sort="-total_delay_hours")


def biggest_changes(
    before: Iterable[CheckpointRow],
    now: Iterable[CheckpointRow],
    checkpoints: dict[uuid.UUID, Checkpoint],
) -> list[Change]:
    """Per checkpoint published in both months, the change of its median wait (and hold
    rate); the largest few, by the size of the median's change."""
    earlier = {r.checkpoint_id: r for r in before if _published(r)}
    changes = [
        Change(checkpoints[r.checkpoint_id], earlier[r.checkpoint_id], r)
        for r in now
        if _published(r) and r.checkpoint_id in earlier
    ]
    changes.sort(key=lambda c: (-abs(c.p50_change), c.checkpoint.code))
    return changes[:CHANGES]


def _published(row: CheckpointRow) -> bool:
    return not row.suppressed and row.p50_dwell_minutes is not None


def month_cases(session: Session, month: Month) -> Cases:
    """Cases submitted in the month, resolved in it, and open at its end, each with its
    status at the end of the month (from its dated steps), so that a bulletin made again
    later tells the same story."""
    start, end = month.start, month.end
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.submitted_at < end)
            .where(or_(Case.closed_at.is_(None), Case.closed_at >= start))
            .order_by(Case.reference)
        )
    )
    status: dict[uuid.UUID, CaseStatus] = {}
    if cases:
        for case_id, to in session.execute(
            select(CaseStep.case_id, CaseStep.to_status)
            .where(CaseStep.case_id.in_([c.id for c in cases]), CaseStep.at < end)
            .order_by(CaseStep.at, CaseStep.id)
        ):
            status[case_id] = to  # the last step before the month's end wins
    found = Cases()
    for case in cases:
        line = CaseLine(case.reference, case.title, case.category, status.get(case.id, case.status))
        assert case.submitted_at is not None
        if case.submitted_at >= start:
            found.opened.append(line)
        if case.closed_at is not None and case.closed_at < end:
            if case.status == CaseStatus.resolved:
                found.resolved.append(line)
        elif line.status in OPEN:
            found.still_open.append(line)
    return found


EFFECT_WEEKS = 4  # the windows either side of a change, as GET /reports/effects takes them


def policy_effects(session: Session, settings: Settings, month: Month) -> list[PolicyEffect]:
    """The policy changes that took effect in the month, each checkpoint's measured effect
    as an advocate gets it (GET /reports/effects, EFFECT_WEEKS either side): a change late
    in the month is measured over what has happened since, so its row says so by its
    interval and may read `insufficient_data` until enough trucks have passed."""
    advocate = Principal(kind="user", role=Role.advocate, user_id=None, organization_id=None)
    changes = session.scalars(
        select(PolicyChange.id)
        .where(PolicyChange.effective_at >= month.start, PolicyChange.effective_at < month.end)
        .order_by(PolicyChange.effective_at, PolicyChange.id)
    ).all()
    found = []
    for change_id in changes:
        report = policies.effect_report(
            session,
            principal=advocate,
            settings=settings,
            policy_change_id=change_id,
            weeks=EFFECT_WEEKS,
        )
        places = {
            c.id: c
            for c in session.scalars(
                select(Checkpoint).where(Checkpoint.id.in_(report.policy_change.checkpoint_ids))
            )
        }
        for row in report.items:
            interval = row.median_change_ci95
            found.append(
                PolicyEffect(
                    title=report.policy_change.title,
                    effective_at=report.policy_change.effective_at,
                    checkpoints=[places[row.checkpoint_id]],
                    median_change_minutes=None if row.suppressed else row.median_change_minutes,
                    median_change_ci95=(interval[0], interval[1]) if interval else None,
                    insufficient_data=row.suppressed or row.insufficient_data,
                )
            )
    return found
