from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from app.auth.dependencies import SessionDep, SettingsDep, require_roles
from app.auth.models import Role
from app.auth.principal import Principal
from app.errors import problem_responses
from app.reports import corridors, live, service
from app.reports.dependencies import ReportsSessionDep
from app.reports.export import XLSX_TYPE, render
from app.reports.filters import ReportFilters, report_filters
from app.reports.schemas import (
    AgencyRow,
    CheckpointRow,
    CommodityRow,
    CorridorRow,
    Format,
    LiveStatus,
    ProcedureRow,
    Report,
    TrendReport,
)
from app.reports.slots import report_slot

router = APIRouter(tags=["reports"])

ReaderDep = Annotated[Principal, Depends(require_roles(Role.advocate, Role.admin, Role.exporter))]
FiltersDep = Annotated[ReportFilters, Depends(report_filters)]
FormatQuery = Annotated[Format, Query(alias="format", description="json (default), csv or xlsx.")]
ByQuery = Annotated[
    Literal["overall", "checkpoint"], Query(description="One series overall, or per checkpoint.")
]
DOCS = {
    **problem_responses(401, 403, 422),
    200: {
        "description": "The report: JSON, or a CSV or XLSX file with `?format=`.",
        "content": {"text/csv": {}, XLSX_TYPE: {}},
    },
}


def report_scope(
    principal: ReaderDep,
    primary: SessionDep,
    session: ReportsSessionDep,
    settings: SettingsDep,
    filters: FiltersDep,
) -> service.Scope:
    """Who asks, with which filters: what every report starts from (read from the replica
    when there is one; the principal from the primary). The primary's connection goes back
    to the pool once the principal is known: a report may wait its turn (reports/slots.py),
    and requests waiting with a connection each could leave none for the one computing."""
    primary.close()
    return service.Scope(session, principal, filters, settings)


ScopeDep = Annotated[service.Scope, Depends(report_scope)]


def answered(scope: service.Scope, build: Callable[[], Any], fmt: Format) -> Any:
    """The report `build` computes, in its turn among this worker's (reports/slots.py), then
    rendered as asked (rendering needs no turn: it holds no cell values)."""
    with report_slot(scope.settings.report_concurrency):
        report = build()
    return render(report, fmt)


@router.get("/reports/checkpoints", response_model=Report[CheckpointRow], responses=DOCS)
def checkpoints(
    scope: ScopeDep,
    sort: Annotated[
        str,
        Query(
            pattern="^-?(" + "|".join(service.SORTABLE) + ")$",
            description="A row field; `-` first sorts descending (worst first).",
        ),
    ] = "-total_delay_hours",
    fmt: FormatQuery = "json",
) -> Any:
    """One row per checkpoint with stops: how many, how long (p50, p90, mean, the slowest 10%),
    the share cleared within the service standard, holds and why, turn-backs, fees and the
    share paid without receipt. Worst first (most delay hours) unless `sort` says otherwise."""
    return answered(scope, lambda: service.checkpoint_report(scope, sort=sort), fmt)


@router.get("/reports/corridors", response_model=Report[CorridorRow], responses=DOCS)
def corridor_report(
    scope: ScopeDep,
    fmt: FormatQuery = "json",
) -> Any:
    """Origin province → destination province, per trip and per 100 km. `from`/`to` select
    trips by departure; `province`/`checkpoint_id` select trips that stopped there."""
    return answered(scope, lambda: corridors.corridor_report(scope), fmt)


@router.get("/reports/agencies", response_model=Report[AgencyRow], responses=DOCS)
def agencies(
    scope: ScopeDep,
    fmt: FormatQuery = "json",
) -> Any:
    """The checkpoint figures by the authority that runs the checkpoint and its jurisdiction."""
    return answered(scope, lambda: service.agency_report(scope), fmt)


@router.get("/reports/commodities", response_model=Report[CommodityRow], responses=DOCS)
def commodities(
    scope: ScopeDep,
    fmt: FormatQuery = "json",
) -> Any:
    """The delay figures by HS chapter of the goods carried (a stop counts for each chapter
    its shipment carries)."""
    return answered(scope, lambda: service.commodity_report(scope), fmt)


@router.get("/reports/procedures", response_model=Report[ProcedureRow], responses=DOCS)
def procedures(
    scope: ScopeDep,
    by: ByQuery = "overall",
    fmt: FormatQuery = "json",
) -> Any:
    """The WCO Time Release Study view: per procedure, how many stops needed it, its median
    and p90 duration, and its share of all stop time (per checkpoint with `by=checkpoint`)."""
    return answered(
        scope, lambda: service.procedure_report(scope, by_checkpoint=by == "checkpoint"), fmt
    )


def trend_markers(request: Request) -> service.MarkerSource | None:
    """Where the trends' policy-change markers come from (app/main.py sets it)."""
    source: service.MarkerSource | None = getattr(request.app.state, "trend_markers", None)
    return source


@router.get("/reports/trends", response_model=TrendReport, responses=DOCS)
def trends(
    scope: ScopeDep,
    markers: Annotated[service.MarkerSource | None, Depends(trend_markers)],
    interval: Literal["week", "month"] = "week",
    by: ByQuery = "overall",
    fmt: FormatQuery = "json",
) -> Any:
    """Per week (from Monday, UTC) or month: stops, p50/p90 dwell, hold rate, and the change
    against the previous period. Is it getting better? `policy_changes`: the changes in its
    window, for the chart's markers."""
    return answered(
        scope,
        lambda: service.trend_report(
            scope, interval=interval, by_checkpoint=by == "checkpoint", markers=markers
        ),
        fmt,
    )


@router.get(
    "/checkpoints/status",
    response_model=LiveStatus,
    responses=problem_responses(401, 403),
    tags=["checkpoints"],
)
def checkpoint_status(
    principal: Annotated[
        Principal,
        Depends(require_roles(Role.exporter, Role.admin, Role.advocate, allow_driver=True)),
    ],
    session: ReportsSessionDep,
    settings: SettingsDep,
) -> LiveStatus:
    """Live, for planning a trip: per checkpoint, trucks there now, held now, the median dwell
    of stops closed in the last 6 hours, and when its last event came in."""
    return live.live_status(session, principal=principal, settings=settings)
