"""Policy changes (issue 16): recorded by admins and advocates, read by every report reader
(they are public facts), and their effect on the stops of their checkpoints."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from app.auth.dependencies import SessionDep, SettingsDep, require_roles
from app.auth.models import Role
from app.auth.principal import Principal
from app.errors import problem_responses
from app.pagination import CursorQuery, LimitQuery, Page
from app.policies import service
from app.policies.schemas import EffectReport, PolicyChangeCreate, PolicyChangeRead
from app.reports.dependencies import ReportsSessionDep
from app.reports.export import XLSX_TYPE, render
from app.reports.schemas import Format

router = APIRouter(tags=["policy changes"])

RecorderDep = Annotated[Principal, Depends(require_roles(Role.admin, Role.advocate))]
ReaderDep = Annotated[Principal, Depends(require_roles(Role.admin, Role.advocate, Role.exporter))]


@router.post(
    "/policy-changes",
    status_code=status.HTTP_201_CREATED,
    response_model=PolicyChangeRead,
    responses=problem_responses(401, 403, 422),
)
def create_policy_change(
    body: PolicyChangeCreate, principal: RecorderDep, session: SessionDep
) -> PolicyChangeRead:
    """Record a dated change at one or more checkpoints, with where it is written down."""
    return service.create_policy_change(session, principal=principal, data=body)


@router.get(
    "/policy-changes",
    response_model=Page[PolicyChangeRead],
    responses=problem_responses(401, 403, 422),
)
def list_policy_changes(
    _: ReaderDep,
    session: SessionDep,
    checkpoint_id: Annotated[
        uuid.UUID | None, Query(description="Only the changes that apply to this checkpoint.")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PolicyChangeRead]:
    """Newest recorded first."""
    items, next_cursor = service.list_policy_changes(
        session, checkpoint_id=checkpoint_id, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/policy-changes/{policy_change_id}",
    response_model=PolicyChangeRead,
    responses=problem_responses(401, 403, 404, 422),
)
def get_policy_change(
    policy_change_id: uuid.UUID, _: ReaderDep, session: SessionDep
) -> PolicyChangeRead:
    return service.get_policy_change(session, policy_change_id=policy_change_id)


@router.get(
    "/reports/effects",
    response_model=EffectReport,
    responses={
        **problem_responses(401, 403, 404, 422),
        200: {
            "description": "The report: JSON, or a CSV or XLSX file with `?format=` (a column "
            "per figure: `before.stops`, `after.p50_dwell_minutes` …).",
            "content": {"text/csv": {}, XLSX_TYPE: {}},
        },
    },
    tags=["reports"],
)
def effects(
    principal: ReaderDep,
    session: ReportsSessionDep,
    settings: SettingsDep,
    policy_change_id: uuid.UUID,
    weeks: Annotated[int, Query(ge=1, le=26, description="Each side of the change.")] = 8,
    fmt: Annotated[
        Format, Query(alias="format", description="json (default), csv or xlsx.")
    ] = "json",
) -> Any:
    """Did it help, and how sure are we? Per checkpoint of the change: the stops of `weeks`
    weeks before and after it, their p50 and p90 dwell, hold rate and fees per stop; the
    change in median dwell with its 95% bootstrap interval (fixed seed: the same answer
    every time) and a Mann–Whitney p-value; `insufficient_data` when a window has fewer than
    20 completed stops."""
    report = service.effect_report(
        session,
        principal=principal,
        settings=settings,
        policy_change_id=policy_change_id,
        weeks=weeks,
    )
    return render(report, fmt)
