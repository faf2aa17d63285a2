"""Complaint cases from what the reports show, tracked to resolution; exporters' incidents
behind them; the Tripartite figures of our own cases (`case_report`).

A case's snapshot and its current figures are the checkpoint report's rows as an advocate
gets them (protected cells, suppressed rows: app/privacy.py), whoever opens it: a
case is shown to every advocate, and one opened by an admin must not carry exact figures
to them.
"""

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.principal import Principal
from app.cases.models import (
    Case,
    CaseCheckpoint,
    CaseCounter,
    CaseIncident,
    CaseStatus,
    CaseStep,
    FocalPoint,
    Incident,
)
from app.cases.schemas import (
    Agency,
    CaseCreate,
    CaseRead,
    CaseReport,
    CaseReportRow,
    CaseStatusBrief,
    FocalPointCreate,
    FocalPointRead,
    IncidentCreate,
    IncidentForAdvocates,
    IncidentRead,
    Step,
    StepRead,
)
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow, write_transaction
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.evidence.models import Attachment
from app.pagination import paginate
from app.reports import service as reports
from app.reports.filters import ReportFilters
from app.tracking.models import Stop

OPEN = (CaseStatus.submitted, CaseStatus.acknowledged, CaseStatus.in_progress)
# Where a case may go from each status (DESIGN.md): forward one step, or withdrawn while open.
STEPS: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.draft: (CaseStatus.submitted, CaseStatus.withdrawn),
    CaseStatus.submitted: (CaseStatus.acknowledged, CaseStatus.withdrawn),
    CaseStatus.acknowledged: (CaseStatus.in_progress, CaseStatus.withdrawn),
    CaseStatus.in_progress: (CaseStatus.resolved, CaseStatus.rejected, CaseStatus.withdrawn),
    CaseStatus.resolved: (),
    CaseStatus.rejected: (),
    CaseStatus.withdrawn: (),
}
CLOSED = (CaseStatus.resolved, CaseStatus.rejected, CaseStatus.withdrawn)


# --- cases ----------------------------------------------------------------------------------


def create_case(
    session: Session, principal: Principal, settings: Settings, body: CaseCreate
) -> Case:
    filters = _report_filters(body.filters)
    checkpoints = _checkpoints(session, body.checkpoint_ids)
    # Read before the write lock: the figures cost a report's time.
    snapshot = figures(session, settings, filters, checkpoints, body.agency)
    assert principal.user_id is not None  # advocates and admins are users
    with write_transaction(session):
        year = utcnow().year
        number = _next_number(session, year)
        case = Case(
            year=year,
            number=number,
            reference=f"CASE-{year}-{number:04d}",
            title=body.title,
            category=body.category,
            summary=body.summary,
            authority=body.agency.authority if body.agency else None,
            jurisdiction=body.agency.jurisdiction if body.agency else None,
            filters=filters.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            snapshot=snapshot,
            status=CaseStatus.draft,
            created_at=utcnow(),
            created_by=principal.user_id,
        )
        session.add(case)
        session.flush()
        session.add_all(CaseCheckpoint(case_id=case.id, checkpoint_id=c.id) for c in checkpoints)
    return case


def _report_filters(raw: dict[str, Any]) -> ReportFilters:
    try:
        return ReportFilters.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(
            "`filters` are the reports' filters (from, to, province, checkpoint_id, "
            "hs_chapter, destination_province, evidence).",
            errors=[
                {"loc": ["body", "filters", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from exc


def _checkpoints(session: Session, ids: list[uuid.UUID]) -> list[Checkpoint]:
    wanted = list(dict.fromkeys(ids))
    found = {c.id: c for c in session.scalars(select(Checkpoint).where(Checkpoint.id.in_(wanted)))}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise InvalidInput(
            f"Unknown checkpoint: {', '.join(missing)}.",
            errors=[{"loc": ["body", "checkpoint_ids"], "msg": "unknown", "type": "value_error"}],
        )
    return [found[i] for i in wanted]


def _next_number(session: Session, year: int) -> int:
    """The year's next reference number, in the caller's write transaction: an upsert that
    returns the new value (one statement, so two openings never get the same number; a
    number taken by a transaction that then failed is not reused either way)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(CaseCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": CaseCounter.last + 1})
        .returning(CaseCounter.last)
    )
    return int(session.execute(stmt).scalar_one())


def figures(
    session: Session,
    settings: Settings,
    filters: ReportFilters,
    checkpoints: list[Checkpoint],
    agency: Agency | None,
) -> dict[str, Any]:
    """The checkpoint report's rows for the case's checkpoints (all, if it names none), and
    its agency's row, as an advocate gets them."""
    advocate = Principal(kind="user", role=Role.advocate, user_id=None, organization_id=None)
    scope = reports.Scope(session, advocate, filters, settings)
    report = reports.checkpoint_report(scope, sort="-total_delay_hours")
    wanted = {c.id for c in checkpoints}
    rows = [r for r in report.items if not wanted or r.checkpoint_id in wanted]
    found: dict[str, Any] = {
        "as_of": report.as_of.isoformat(),
        "excluded_stops": report.excluded_stops,
        "items": [r.model_dump(mode="json") for r in rows],
        "agency": None,
    }
    if agency is not None:
        scope = reports.Scope(session, advocate, filters, settings)
        for row in reports.agency_report(scope).items:
            if (row.authority, row.jurisdiction) == (agency.authority, agency.jurisdiction):
                found["agency"] = row.model_dump(mode="json")
    return found


def step(session: Session, principal: Principal, case_id: uuid.UUID, body: Step) -> Case:
    assert principal.user_id is not None
    with write_transaction(session):
        case = session.scalars(
            select(Case).where(Case.id == case_id).with_for_update()
        ).one_or_none()
        if case is None:
            raise NotFound("No such case.")
        allowed = STEPS[case.status]
        if body.to not in allowed:
            raise Conflict(
                f"A {case.status.value} case cannot become {body.to.value}.",
                allowed=[s.value for s in allowed],
            )
        now = utcnow()
        if body.to == CaseStatus.submitted:
            case.submitted_at = now
            case.focal_point_id = _focal_point_for(session, case)
        if body.to in CLOSED:
            case.closed_at = now
        session.add(
            CaseStep(
                case_id=case.id,
                from_status=case.status,
                to_status=body.to,
                at=now,
                by=principal.user_id,
                note=body.note,
            )
        )
        case.status = body.to
    return case


def _focal_point_for(session: Session, case: Case) -> uuid.UUID | None:
    """The focal point of the case's agency: the one it names, else the one agency all its
    checkpoints belong to (none if they belong to several, or it has no focal point)."""
    if case.authority is not None and case.jurisdiction is not None:
        agencies = {(case.authority, case.jurisdiction)}
    else:
        agencies = set(
            session.execute(
                select(Checkpoint.authority, Checkpoint.jurisdiction)
                .join(CaseCheckpoint, CaseCheckpoint.checkpoint_id == Checkpoint.id)
                .where(CaseCheckpoint.case_id == case.id)
            )
        )
    if len(agencies) != 1:
        return None
    ((authority, jurisdiction),) = agencies
    return session.scalars(
        select(FocalPoint.id).where(
            FocalPoint.authority == authority, FocalPoint.jurisdiction == jurisdiction
        )
    ).one_or_none()


def link_incident(
    session: Session, principal: Principal, case_id: uuid.UUID, incident_id: uuid.UUID
) -> bool:
    """Links an incident to a case; False if it already was (nothing changes)."""
    assert principal.user_id is not None
    with write_transaction(session):
        if session.get(Case, case_id) is None:
            raise NotFound("No such case.")
        if session.get(Incident, incident_id) is None:
            raise InvalidInput(
                "No such incident.",
                errors=[{"loc": ["body", "incident_id"], "msg": "unknown", "type": "value_error"}],
            )
        if session.get(CaseIncident, (case_id, incident_id)) is not None:
            return False
        session.add(
            CaseIncident(
                case_id=case_id,
                incident_id=incident_id,
                linked_at=utcnow(),
                linked_by=principal.user_id,
            )
        )
    return True


def get_case(session: Session, case_id: uuid.UUID) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("No such case.")
    return case


def read_cases(
    session: Session,
    cases: list[Case],
    *,
    current: dict[uuid.UUID, dict[str, Any]] | None = None,
) -> list[CaseRead]:
    """Cases as the API shows them, their steps, checkpoints and backing read in bulk."""
    ids = [c.id for c in cases]
    if not ids:
        return []
    checkpoints: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for case_id, checkpoint_id in session.execute(
        select(CaseCheckpoint.case_id, CaseCheckpoint.checkpoint_id).where(
            CaseCheckpoint.case_id.in_(ids)
        )
    ):
        checkpoints[case_id].append(checkpoint_id)
    history: dict[uuid.UUID, list[StepRead]] = defaultdict(list)
    for s in session.scalars(
        select(CaseStep).where(CaseStep.case_id.in_(ids)).order_by(CaseStep.at, CaseStep.id)
    ):
        history[s.case_id].append(
            StepRead(from_=s.from_status, to=s.to_status, at=s.at, by=s.by, note=s.note)
        )
    backing = {
        case_id: (int(incidents), int(exporters))
        for case_id, incidents, exporters in session.execute(
            select(
                CaseIncident.case_id,
                func.count(),
                func.count(func.distinct(Incident.organization_id)),
            )
            .join(Incident, Incident.id == CaseIncident.incident_id)
            .where(CaseIncident.case_id.in_(ids))
            .group_by(CaseIncident.case_id)
        )
    }
    focal_ids = {c.focal_point_id for c in cases if c.focal_point_id}
    focal = {
        f.id: FocalPointRead.model_validate(f)
        for f in session.scalars(select(FocalPoint).where(FocalPoint.id.in_(focal_ids)))
    }
    return [
        CaseRead(
            id=c.id,
            reference=c.reference,
            title=c.title,
            category=c.category,
            status=c.status,
            summary=c.summary,
            checkpoint_ids=sorted(checkpoints[c.id], key=str),
            agency=(
                Agency(authority=c.authority, jurisdiction=c.jurisdiction)
                if c.authority is not None and c.jurisdiction is not None
                else None
            ),
            filters=c.filters,
            focal_point=focal.get(c.focal_point_id) if c.focal_point_id else None,
            created_at=c.created_at,
            submitted_at=c.submitted_at,
            closed_at=c.closed_at,
            allowed_steps=list(STEPS[c.status]),
            history=history[c.id],
            incident_count=backing.get(c.id, (0, 0))[0],
            exporter_count=backing.get(c.id, (0, 0))[1],
            snapshot=c.snapshot,
            current=(current or {}).get(c.id),
        )
        for c in cases
    ]


def current_figures(session: Session, settings: Settings, case: Case) -> dict[str, Any]:
    """The case's rows now, with the filters it was opened with."""
    ids = session.scalars(
        select(CaseCheckpoint.checkpoint_id).where(CaseCheckpoint.case_id == case.id)
    ).all()
    checkpoints = _checkpoints(session, list(ids))
    agency = (
        Agency(authority=case.authority, jurisdiction=case.jurisdiction)
        if case.authority is not None and case.jurisdiction is not None
        else None
    )
    return figures(
        session, settings, ReportFilters.model_validate(case.filters), checkpoints, agency
    )


def list_cases(
    session: Session,
    *,
    status: CaseStatus | None,
    category: str | None,
    checkpoint_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Case], str | None]:
    stmt = select(Case)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if category is not None:
        stmt = stmt.where(Case.category == category)
    if checkpoint_id is not None:
        stmt = stmt.where(
            Case.id.in_(
                select(CaseCheckpoint.case_id).where(CaseCheckpoint.checkpoint_id == checkpoint_id)
            )
        )
    return paginate(
        session, stmt, created_at=Case.created_at, row_id=Case.id, limit=limit, cursor=cursor
    )


# --- focal points ---------------------------------------------------------------------------


def create_focal_point(session: Session, body: FocalPointCreate) -> FocalPoint:
    with write_transaction(session):
        existing = session.scalars(
            select(FocalPoint).where(
                FocalPoint.authority == body.authority,
                FocalPoint.jurisdiction == body.jurisdiction,
            )
        ).one_or_none()
        if existing is not None:
            raise Conflict(
                f"{body.authority.value}/{body.jurisdiction.value} has a focal point already.",
                focal_point_id=str(existing.id),
            )
        point = FocalPoint(**body.model_dump(), created_at=utcnow())
        session.add(point)
    return point


def list_focal_points(session: Session) -> list[FocalPoint]:
    return list(
        session.scalars(select(FocalPoint).order_by(FocalPoint.authority, FocalPoint.jurisdiction))
    )


# --- incidents ------------------------------------------------------------------------------


def file_incident(session: Session, principal: Principal, body: IncidentCreate) -> Incident:
    """An exporter's incident on one of its stops, or a driver link's on its shipment's."""
    with write_transaction(session):
        stop = session.get(Stop, body.stop_id)
        if stop is None or not _may_file(principal, stop):
            raise NotFound("No such stop on a shipment of yours.")
        if body.attachment_id is not None:
            attachment = session.get(Attachment, body.attachment_id)
            if attachment is None or attachment.shipment_id != stop.shipment_id:
                raise InvalidInput(
                    "The attachment must be one of this shipment's.",
                    errors=[
                        {"loc": ["body", "attachment_id"], "msg": "unknown", "type": "value_error"}
                    ],
                )
        when = stop.arrived_at or stop.last_event_at or utcnow()
        incident = Incident(
            stop_id=stop.id,
            shipment_id=stop.shipment_id,
            organization_id=stop.organization_id,
            checkpoint_id=stop.checkpoint_id,
            day=when.astimezone(UTC).date(),
            category=body.category,
            text=body.text,
            attachment_id=body.attachment_id,
            filed_by="driver" if principal.kind == "driver" else "exporter",
            created_at=utcnow(),
        )
        session.add(incident)
    return incident


def _may_file(principal: Principal, stop: Stop) -> bool:
    if principal.kind == "driver":
        return stop.shipment_id == principal.shipment_id
    return principal.is_exporter and stop.organization_id == principal.organization_id


def list_incidents(
    session: Session, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[Incident], str | None]:
    stmt = select(Incident)
    if principal.kind == "driver":
        stmt = stmt.where(Incident.shipment_id == principal.shipment_id)
    elif principal.is_exporter:
        stmt = stmt.where(Incident.organization_id == principal.organization_id)
    elif principal.role not in (Role.advocate, Role.admin):
        raise Forbidden("Incidents are for their exporter, advocates and admins.")
    return paginate(
        session,
        stmt,
        created_at=Incident.created_at,
        row_id=Incident.id,
        limit=limit,
        cursor=cursor,
    )


def _links(session: Session, incidents: Iterable[Incident]) -> dict[uuid.UUID, list[Case]]:
    ids = [i.id for i in incidents]
    found: dict[uuid.UUID, list[Case]] = defaultdict(list)
    if not ids:
        return found
    for incident_id, case in session.execute(
        select(CaseIncident.incident_id, Case)
        .join(Case, Case.id == CaseIncident.case_id)
        .where(CaseIncident.incident_id.in_(ids))
        .order_by(Case.created_at)
    ):
        found[incident_id].append(case)
    return found


def incidents_for_owner(session: Session, incidents: list[Incident]) -> list[IncidentRead]:
    links = _links(session, incidents)
    return [
        IncidentRead(
            id=i.id,
            stop_id=i.stop_id,
            shipment_id=i.shipment_id,
            checkpoint_id=i.checkpoint_id,
            day=i.day,
            category=i.category,
            text=i.text,
            attachment_id=i.attachment_id,
            created_at=i.created_at,
            cases=[CaseStatusBrief(reference=c.reference, status=c.status) for c in links[i.id]],
        )
        for i in incidents
    ]


def incidents_for_advocates(
    session: Session, incidents: list[Incident]
) -> list[IncidentForAdvocates]:
    links = _links(session, incidents)
    codes = reports.checkpoint_codes(session, {i.checkpoint_id for i in incidents})
    return [
        IncidentForAdvocates(
            id=i.id,
            checkpoint_id=i.checkpoint_id,
            checkpoint_code=codes.get(i.checkpoint_id, ""),
            day=i.day,
            category=i.category,
            text=i.text,
            case_ids=[c.id for c in links[i.id]],
        )
        for i in incidents
    ]


# --- the cases' own figures -------------------------------------------------------------------


def case_report(session: Session) -> CaseReport:
    """Per agency and category, the Tripartite mechanism's figures from our cases: opened
    (submitted at some time), resolved, the rate, the median days from submission to
    resolution, and the days the oldest open case has waited. A case counts for the agency
    it names, else for each agency of its checkpoints."""
    now = utcnow()
    agencies: dict[uuid.UUID, set[tuple[Any, Any]]] = defaultdict(set)
    for case_id, authority, jurisdiction in session.execute(
        select(CaseCheckpoint.case_id, Checkpoint.authority, Checkpoint.jurisdiction).join(
            Checkpoint, Checkpoint.id == CaseCheckpoint.checkpoint_id
        )
    ):
        agencies[case_id].add((authority, jurisdiction))
    groups: dict[tuple[Any, Any, Any], list[Case]] = defaultdict(list)
    for case in session.scalars(select(Case).where(Case.submitted_at.is_not(None))):
        named = (
            {(case.authority, case.jurisdiction)}
            if case.authority is not None and case.jurisdiction is not None
            else agencies[case.id]
        )
        for authority, jurisdiction in named:
            groups[(authority, jurisdiction, case.category)].append(case)
    rows = []
    for (authority, jurisdiction, category), cases in sorted(groups.items(), key=str):
        resolved = [c for c in cases if c.status == CaseStatus.resolved]
        waiting = [c for c in cases if c.status in OPEN]
        days = [_days(c.submitted_at, c.closed_at) for c in resolved]
        rows.append(
            CaseReportRow(
                authority=authority,
                jurisdiction=jurisdiction,
                category=category,
                opened=len(cases),
                resolved=len(resolved),
                resolution_rate=len(resolved) / len(cases),
                median_days_to_resolve=statistics.median(days) if days else None,
                oldest_open_days=max((_days(c.submitted_at, now) for c in waiting), default=None),
            )
        )
    return CaseReport(generated_at=now, items=rows)


def _days(start: datetime | None, end: datetime | None) -> float:
    assert start is not None
    assert end is not None
    return (end - start).total_seconds() / 86400
