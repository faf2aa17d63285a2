"""The framework's own ceiling: FastAPI + uvicorn taking the same event body as the real
endpoint (the same Pydantic models, the same path), with no database behind it.

    uvicorn bench.bare_app:async_app   # `async def` endpoint: no thread hand-off
    uvicorn bench.bare_app:sync_app    # `def` endpoint: runs in the threadpool, as DB code does
    uvicorn --factory bench.bare_app:service_path_app   # the service, its writer stubbed out

`async_app` also takes an attachment's raw body at the attachments path and answers with its
length (bench/upload.py): the cost of carrying the bytes over HTTP, before any decoding.

The last is the service's own request path (its middleware, routing, validation, access
log) with an event writer that answers at once: where the service stands before any
database work, in the same terms.
"""

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request, status

from app.auth.models import Role
from app.auth.principal import Principal
from app.tracking.schemas import EventIn, EventRead, SyncRequest
from app.tracking.writer import Written


def _echo(body: EventIn) -> EventRead:
    return EventRead(
        event_id=body.event_id,
        type=body.type,
        occurred_at=body.occurred_at,
        received_at=datetime.now(UTC),
        checkpoint_id=body.checkpoint_id,
        procedure=body.procedure,
        hold_reason=body.hold_reason,
        fee=None,
        note=body.note,
        location=body.location,
        source="exporter",
    )


def answer_at_once(app: FastAPI) -> FastAPI:
    """The service's event writer replaced by one that stores nothing and answers at once,
    and its credential check by one that accepts any token as an exporter's: the request
    path before any database work."""

    async def submit(principal: Principal, shipment_id: uuid.UUID, data: EventIn) -> Written:
        return Written(_echo(data), True)

    exporter = Principal("user", Role.exporter, uuid.uuid4(), uuid.uuid4())

    async def principal(token: str) -> Principal:
        return exporter

    app.state.event_writer.submit = submit
    app.state.event_writer.credentials.principal = principal
    return app


def service_path_app() -> FastAPI:
    """A uvicorn factory: the service as configured by the environment (DATABASE_URL…),
    writer stubbed out."""
    from app.main import create_app

    return answer_at_once(create_app())


async_app = FastAPI()
sync_app = FastAPI()


@async_app.post(
    "/api/v1/shipments/{shipment_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
)
async def post_event_async(shipment_id: uuid.UUID, body: EventIn) -> EventRead:
    return _echo(body)


@sync_app.post(
    "/api/v1/shipments/{shipment_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
)
def post_event_sync(shipment_id: uuid.UUID, body: EventIn) -> EventRead:
    return _echo(body)


@async_app.post("/api/v1/sync")
async def sync_async(body: SyncRequest) -> dict[str, int]:
    accepted = [EventIn.model_validate(raw) for raw in body.events]
    return {"created": len(accepted)}


@async_app.post(
    "/api/v1/shipments/{shipment_id}/events/{event_id}/attachments",
    status_code=status.HTTP_201_CREATED,
)
async def upload_async(
    shipment_id: uuid.UUID, event_id: uuid.UUID, kind: str, request: Request
) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@async_app.get("/healthz")
@sync_app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
