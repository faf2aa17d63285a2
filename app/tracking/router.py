import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status

from app import privacy
from app.auth.dependencies import (
    ExporterDep,
    SessionDep,
    SettingsDep,
    ShipmentReaderDep,
    ShipmentViewerDep,
    check_tracker,
    oauth2_scheme,
    require_token,
)
from app.auth.principal import Principal
from app.errors import InvalidInput, problem_responses
from app.pagination import CursorQuery, LimitQuery, Page
from app.shipments.schemas import ShipmentCancel, ShipmentFilters, ShipmentRead
from app.tracking import driver_tokens, lifecycle, queries
from app.tracking.schemas import (
    DriverTokenCreate,
    DriverTokenCreated,
    EventIn,
    EventRead,
    ShipmentDetail,
    StopRead,
    SyncRequest,
    SyncResponse,
)
from app.tracking.writer import EventWriter

router = APIRouter(tags=["tracking"])


# --- a shipment as tracking sees it (the shipments' own routes are in shipments/router.py) --


@router.get(
    "/shipments",
    response_model=Page[ShipmentRead],
    responses=problem_responses(401, 403, 422),
    tags=["shipments"],
)
def list_shipments(
    principal: ShipmentReaderDep,
    session: SessionDep,
    filters: Annotated[ShipmentFilters, Depends()],
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ShipmentRead]:
    """Newest first. `checkpoint_id` finds shipments whose route passes that checkpoint, or
    that stopped there."""
    rows, next_cursor = queries.list_shipments(
        session, principal=principal, filters=filters, limit=limit, cursor=cursor
    )
    return Page(items=[ShipmentRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/shipments/{shipment_id}",
    response_model=ShipmentDetail,
    responses=problem_responses(401, 403, 404, 422),
    tags=["shipments"],
)
def get_shipment(
    shipment_id: uuid.UUID,
    principal: ShipmentViewerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> ShipmentDetail:
    """The shipment with its current status, current stop, every stop and the event timeline.
    A driver link reads its own shipment here, without cargo values."""
    return queries.shipment_detail(
        session,
        principal=principal,
        shipment_id=shipment_id,
        thresholds=privacy.thresholds_of(settings),
    )


@router.post(
    "/shipments/{shipment_id}/cancel",
    response_model=ShipmentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["shipments"],
)
def cancel_shipment(
    shipment_id: uuid.UUID,
    principal: ExporterDep,
    session: SessionDep,
    body: Annotated[ShipmentCancel | None, Body()] = None,
) -> ShipmentRead:
    """Cancel a shipment that has not finished. It stays on record, with its history."""
    shipment = lifecycle.cancel_shipment(
        session, principal=principal, shipment_id=shipment_id, reason=body.reason if body else None
    )
    return ShipmentRead.model_validate(shipment)


async def event_reporter(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The shipment's driver or its exporter, checked before anything is queued for the event
    writer (auth/credentials.py): a bad credential is a 401 here and never reaches the writer
    or its write transaction."""
    writer: EventWriter = request.app.state.event_writer
    return check_tracker(await writer.credentials.principal(require_token(token)))


ReporterDep = Annotated[Principal, Depends(event_reporter)]


@router.post(
    "/shipments/{shipment_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    responses={
        200: {"model": EventRead, "description": "Already recorded with the same content."},
        **problem_responses(401, 403, 404, 409, 413, 422),
    },
)
async def post_event(
    shipment_id: uuid.UUID,
    body: EventIn,
    principal: ReporterDep,
    request: Request,
    response: Response,
) -> EventRead:
    """Record one event. Safe to retry: the same `event_id` with the same content answers 200
    with the stored event and stores nothing; with other content it is a 409. The answer
    comes after the event is committed to disk."""
    # Concurrent events commit together (tracking/writer.py).
    writer: EventWriter = request.app.state.event_writer
    written = await writer.submit(principal, shipment_id, body)
    if not written.created:
        response.status_code = status.HTTP_200_OK
    return written.event


@router.post(
    "/sync", response_model=SyncResponse, responses=problem_responses(401, 403, 404, 413, 422)
)
async def sync(body: SyncRequest, principal: ReporterDep, request: Request) -> SyncResponse:
    """A phone's offline queue (up to 1,000 events) in one request: one result per event, in
    the order sent — `created`, `duplicate`, or `rejected` with the reason."""
    shipment_id = principal.shipment_id if principal.kind == "driver" else body.shipment_id
    if shipment_id is None:
        raise InvalidInput(
            "Say which shipment: `shipment_id` is required unless you use a driver link.",
            errors=[{"loc": ["body", "shipment_id"], "msg": "required", "type": "missing"}],
        )
    if body.shipment_id not in (None, shipment_id):
        raise InvalidInput(
            "This driver link belongs to another shipment.",
            errors=[
                {"loc": ["body", "shipment_id"], "msg": "not this link's", "type": "value_error"}
            ],
        )
    writer: EventWriter = request.app.state.event_writer  # the same path as POST …/events
    results = await writer.sync(principal, shipment_id, body.events)
    return SyncResponse(
        created=sum(r.status == "created" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


@router.get(
    "/shipments/{shipment_id}/events",
    response_model=Page[EventRead],
    responses=problem_responses(401, 403, 404, 422),
)
def list_events(
    shipment_id: uuid.UUID, principal: ShipmentViewerDep, session: SessionDep
) -> Page[EventRead]:
    """Every event of the shipment, in timeline order (occurred_at), all in one page."""
    items = queries.events(session, principal=principal, shipment_id=shipment_id)
    return Page(items=items, next_cursor=None)


@router.get(
    "/shipments/{shipment_id}/stops",
    response_model=Page[StopRead],
    responses=problem_responses(401, 403, 404, 422),
)
def list_stops(
    shipment_id: uuid.UUID, principal: ShipmentViewerDep, session: SessionDep
) -> Page[StopRead]:
    """The shipment's stops, derived from its events, in order; all in one page."""
    items = queries.stops(session, principal=principal, shipment_id=shipment_id)
    return Page(items=items, next_cursor=None)


@router.post(
    "/shipments/{shipment_id}/driver-token",
    status_code=status.HTTP_201_CREATED,
    response_model=DriverTokenCreated,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_driver_token(
    shipment_id: uuid.UUID,
    principal: ExporterDep,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[DriverTokenCreate | None, Body()] = None,
) -> DriverTokenCreated:
    """A link for the driver's phone, for this shipment only. Shown once; a new one replaces
    the old (one live link per shipment)."""
    token, expires_at, url = driver_tokens.issue(
        session,
        principal=principal,
        settings=settings,
        shipment_id=shipment_id,
        valid_days=(body or DriverTokenCreate()).valid_days,
    )
    return DriverTokenCreated(token=token, expires_at=expires_at, driver_url=url)


@router.delete(
    "/shipments/{shipment_id}/driver-token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_driver_token(
    shipment_id: uuid.UUID, principal: ExporterDep, session: SessionDep
) -> None:
    """The driver link stops working at once."""
    driver_tokens.revoke(session, principal=principal, shipment_id=shipment_id)
