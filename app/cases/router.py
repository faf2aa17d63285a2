"""Cases, focal points and incidents (DESIGN.md, Contract v1.1 — cases). Advocates and
admins open and move cases; admins keep the focal points; an exporter (or a shipment's
driver link) files incidents on its own stops, and sees only its own."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.auth.dependencies import AdminDep, SessionDep, SettingsDep, require_roles
from app.auth.models import Role
from app.auth.principal import Principal
from app.cases import service
from app.cases.models import CaseCategory, CaseStatus
from app.cases.schemas import (
    CaseCreate,
    CaseLink,
    CaseRead,
    CaseReport,
    FocalPointCreate,
    FocalPointRead,
    IncidentCreate,
    IncidentForAdvocates,
    IncidentRead,
    Step,
)
from app.errors import problem_responses
from app.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(tags=["cases"])

CaseWorkerDep = Annotated[Principal, Depends(require_roles(Role.advocate, Role.admin))]
# An incident is filed by the truck's exporter or its driver link.
FilerDep = Annotated[Principal, Depends(require_roles(Role.exporter, allow_driver=True))]
IncidentReaderDep = Annotated[
    Principal,
    Depends(require_roles(Role.exporter, Role.advocate, Role.admin, allow_driver=True)),
]


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseRead,
    responses=problem_responses(401, 403, 422),
)
def open_case(
    body: CaseCreate, principal: CaseWorkerDep, session: SessionDep, settings: SettingsDep
) -> CaseRead:
    """Opens a case as a draft, with the next reference of the year and a frozen snapshot of
    the checkpoint report's rows for it (as advocates see them)."""
    case = service.create_case(session, principal, settings, body)
    return service.read_cases(session, [case])[0]


@router.get("/cases", response_model=Page[CaseRead], responses=problem_responses(401, 403, 422))
def list_cases(
    principal: CaseWorkerDep,
    session: SessionDep,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    category: CaseCategory | None = None,
    checkpoint_id: uuid.UUID | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CaseRead]:
    """Newest first."""
    cases, next_cursor = service.list_cases(
        session,
        status=status_,
        category=category,
        checkpoint_id=checkpoint_id,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=service.read_cases(session, cases), next_cursor=next_cursor)


@router.get("/cases/{case_id}", response_model=CaseRead, responses=problem_responses(401, 403, 404))
def get_case(
    case_id: uuid.UUID, principal: CaseWorkerDep, session: SessionDep, settings: SettingsDep
) -> CaseRead:
    """The case, its history, its snapshot at opening and the same figures now."""
    case = service.get_case(session, case_id)
    current = {case.id: service.current_figures(session, settings, case)}
    return service.read_cases(session, [case], current=current)[0]


@router.post(
    "/cases/{case_id}/transitions",
    response_model=CaseRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def move_case(
    case_id: uuid.UUID, body: Step, principal: CaseWorkerDep, session: SessionDep
) -> CaseRead:
    """One step (draft → submitted → acknowledged → in_progress → resolved | rejected; any
    open status → withdrawn), dated, with who moved it and a note. A step out of order is a
    409 whose `allowed` lists the steps there are."""
    case = service.step(session, principal, case_id, body)
    return service.read_cases(session, [case])[0]


@router.post(
    "/cases/{case_id}/incidents",
    response_model=CaseRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already linked."}, **problem_responses(401, 403, 404, 422)},
)
def link_incident(
    case_id: uuid.UUID,
    body: CaseLink,
    principal: CaseWorkerDep,
    session: SessionDep,
    response: Response,
) -> CaseRead:
    if not service.link_incident(session, principal, case_id, body.incident_id):
        response.status_code = status.HTTP_200_OK
    return service.read_cases(session, [service.get_case(session, case_id)])[0]


@router.get("/reports/cases", response_model=CaseReport, responses=problem_responses(401, 403))
def case_report(principal: CaseWorkerDep, session: SessionDep) -> CaseReport:
    """Per agency and category: cases opened, resolved, the resolution rate, the median days
    to resolve and the oldest open case's age."""
    return service.case_report(session)


@router.post(
    "/focal-points",
    status_code=status.HTTP_201_CREATED,
    response_model=FocalPointRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_focal_point(
    body: FocalPointCreate, principal: AdminDep, session: SessionDep
) -> FocalPointRead:
    """An agency's contact (one per authority and jurisdiction), attached to its cases when
    they are submitted."""
    return FocalPointRead.model_validate(service.create_focal_point(session, body))


@router.get(
    "/focal-points", response_model=list[FocalPointRead], responses=problem_responses(401, 403)
)
def list_focal_points(principal: CaseWorkerDep, session: SessionDep) -> list[FocalPointRead]:
    return [FocalPointRead.model_validate(f) for f in service.list_focal_points(session)]


@router.post(
    "/incidents",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentRead,
    responses=problem_responses(401, 403, 404, 422),
)
def file_incident(body: IncidentCreate, principal: FilerDep, session: SessionDep) -> IncidentRead:
    """What happened at one of your stops. Advocates will read its checkpoint, day, category
    and text, never who you are: keep names and plates out of the text."""
    incident = service.file_incident(session, principal, body)
    return service.incidents_for_owner(session, [incident])[0]


@router.get(
    "/incidents",
    response_model=Page[IncidentRead] | Page[IncidentForAdvocates],
    responses=problem_responses(401, 403, 422),
)
def list_incidents(
    principal: IncidentReaderDep,
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[IncidentRead] | Page[IncidentForAdvocates]:
    """An exporter's (or a driver link's) own incidents with the status of their cases;
    for advocates and admins every incident without who filed it."""
    incidents, next_cursor = service.list_incidents(session, principal, limit=limit, cursor=cursor)
    if principal.role in (Role.advocate, Role.admin):
        return Page(
            items=service.incidents_for_advocates(session, incidents), next_cursor=next_cursor
        )
    return Page(items=service.incidents_for_owner(session, incidents), next_cursor=next_cursor)
