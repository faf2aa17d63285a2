"""Evidence routes (DESIGN.md, Contract v1.1 — Evidence). Who: the shipment's exporter,
admins and the shipment's driver link; anyone else 404 (advocates 403: never)."""

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import (
    AdminDep,
    ExporterDep,
    SessionDep,
    SettingsDep,
    ShipmentViewerDep,
    check_roles,
    oauth2_scheme,
    principal_for,
)
from app.auth.models import Role
from app.auth.principal import Principal
from app.config import Settings
from app.db import utcnow
from app.errors import AppError, UnsupportedMediaType, problem_responses
from app.evidence import positions, service
from app.evidence.models import AttachmentKind, MediaType
from app.evidence.schemas import (
    AttachmentRead,
    AttachmentWithdraw,
    DeviceKeyCreate,
    DeviceKeyCreated,
)
from app.evidence.storage import AttachmentStore
from app.pagination import Page

router = APIRouter(tags=["evidence"])
T = TypeVar("T")
EXTENSIONS = {
    MediaType.jpeg: "jpg",
    MediaType.png: "png",
    MediaType.webp: "webp",
    MediaType.pdf: "pdf",
}
# A download is never rendered as a page of this site, whatever its bytes say.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


class ContentTooLarge(AppError):
    status, title, slug = 413, "Content too large", "payload-too-large"


def uploader(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """The caller, checked in a session of its own that is closed before the body is read:
    a slow upload holds no database connection."""
    settings: Settings = request.app.state.settings
    with request.app.state.session_factory() as session:
        principal = principal_for(session, settings, token)
    return check_roles(principal, Role.exporter, Role.admin, allow_driver=True)


UploaderDep = Annotated[Principal, Depends(uploader)]


@router.post(
    "/shipments/{shipment_id}/events/{event_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentRead,
    responses={
        200: {"model": AttachmentRead, "description": "These bytes were already attached."},
        **problem_responses(401, 403, 404, 413, 415, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media.value: {"schema": {"type": "string", "format": "binary"}}
                for media in MediaType
            },
        }
    },
)
async def upload_attachment(
    shipment_id: uuid.UUID,
    event_id: uuid.UUID,
    kind: Annotated[AttachmentKind, Query()],
    principal: UploaderDep,
    request: Request,
    response: Response,
) -> AttachmentRead:
    """Attach a photo (JPEG, PNG, WebP) or a PDF to an event: the file's bytes are the body.
    The same bytes again for the same event answer 200 with the stored attachment. A photo
    is stored without its metadata (its capture time and position are kept as fields)."""
    settings: Settings = request.app.state.settings
    content_type = _media_type(request.headers.get("content-type"))
    limit = settings.max_attachment_bytes
    _refuse_declared_length(request.headers.get("content-length"), limit)
    factory: sessionmaker[Session] = request.app.state.session_factory
    await run_in_threadpool(
        _in_session,
        factory,
        service.check_event,
        principal=principal,
        shipment_id=shipment_id,
        event_id=event_id,
    )
    data = await _read_body(request, limit)
    uploaded = await run_in_threadpool(
        _in_session,
        factory,
        service.upload,
        principal=principal,
        store=AttachmentStore(settings.attachments_dir),
        shipment_id=shipment_id,
        event_id=event_id,
        kind=kind,
        content_type=content_type,
        data=data,
    )
    if not uploaded.created:
        response.status_code = status.HTTP_200_OK
    return AttachmentRead.model_validate(uploaded.attachment)


@router.get(
    "/shipments/{shipment_id}/events/{event_id}/attachments",
    response_model=Page[AttachmentRead],
    responses=problem_responses(401, 403, 404, 422),
)
def list_attachments(
    shipment_id: uuid.UUID, event_id: uuid.UUID, principal: ShipmentViewerDep, session: SessionDep
) -> Page[AttachmentRead]:
    """The event's attachments, oldest first, withdrawn ones included (marked), in one page."""
    rows = service.list_attachments(
        session, principal=principal, shipment_id=shipment_id, event_id=event_id
    )
    return Page(items=[AttachmentRead.model_validate(r) for r in rows], next_cursor=None)


@router.get(
    "/attachments/{attachment_id}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file, as a download.",
            "content": {m.value: {} for m in MediaType},
        },
        **problem_responses(401, 403, 404, 410, 422),
    },
)
def download_attachment(
    attachment_id: uuid.UUID,
    principal: ShipmentViewerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> FileResponse:
    """The attachment's bytes (a photo without its metadata; a PDF as received), always as a
    download: `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`."""
    attachment, path = service.attachment_file(
        session,
        principal=principal,
        store=AttachmentStore(settings.attachments_dir),
        attachment_id=attachment_id,
    )
    return FileResponse(
        path,
        media_type=attachment.content_type.value,
        filename=f"attachment-{attachment.id}.{EXTENSIONS[attachment.content_type]}",
        content_disposition_type="attachment",
        headers=DOWNLOAD_HEADERS,
    )


@router.post(
    "/attachments/{attachment_id}/withdraw",
    response_model=AttachmentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def withdraw_attachment(
    attachment_id: uuid.UUID, body: AttachmentWithdraw, principal: AdminDep, session: SessionDep
) -> AttachmentRead:
    """Take an attachment out of every figure, with the reason (admins). It stays on record
    and on disk, and is still served: nothing attached to an event is ever deleted."""
    attachment = service.withdraw(
        session, principal=principal, attachment_id=attachment_id, reason=body.reason
    )
    return AttachmentRead.model_validate(attachment)


@router.post(
    "/shipments/{shipment_id}/device-key",
    status_code=status.HTTP_201_CREATED,
    response_model=DeviceKeyCreated,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_device_key(
    shipment_id: uuid.UUID,
    principal: ExporterDep,
    session: SessionDep,
    body: Annotated[DeviceKeyCreate | None, Body()] = None,
) -> DeviceKeyCreated:
    """A key for a GPS tracker (Traccar Client, or any device that speaks OsmAnd) on this
    shipment's truck: its device identifier. Shown once; a new one replaces the old."""
    key, expires_at = positions.issue_key(
        session,
        principal=principal,
        shipment_id=shipment_id,
        valid_days=(body or DeviceKeyCreate()).valid_days,
    )
    return DeviceKeyCreated(key=key, expires_at=expires_at)


@router.delete(
    "/shipments/{shipment_id}/device-key",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_device_key(shipment_id: uuid.UUID, principal: ExporterDep, session: SessionDep) -> None:
    """The tracker's key stops working at once (its positions stay on record)."""
    positions.revoke_key(session, principal=principal, shipment_id=shipment_id)


_OSMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored (or already stored): an empty body."},
    **problem_responses(401, 409, 413, 422),
}


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


# Read from the query string (or a form body) by hand, as devices send them: declared here so
# that the schema tells the truth.
_OSMAND_PARAMETERS = {
    "parameters": [
        _query("id", {"type": "string"}, "The device key (trk_…).", required=True),
        _query("lat", {"type": "number", "minimum": -90, "maximum": 90}, "Degrees.", True),
        _query("lon", {"type": "number", "minimum": -180, "maximum": 180}, "Degrees.", True),
        _query("timestamp", {"type": "string"}, "Unix seconds (or ms, or RFC 3339)."),
        _query("accuracy", {"type": "number", "minimum": 0}, "Metres."),
        _query("speed", {"type": "number", "minimum": 0}, "As the device sends it (knots)."),
    ]
}


@router.get(
    "/positions/osmand",
    response_class=Response,
    responses=_OSMAND_RESPONSES,
    openapi_extra=_OSMAND_PARAMETERS,
)
async def osmand_position(request: Request) -> Response:
    """One fix from a tracker, in the OsmAnd protocol (Traccar Client and many GPS devices):
    `id` (the device key, `trk_…`), `lat`, `lon`, `timestamp` (Unix seconds), `accuracy`
    (metres), `speed`. Positions corroborate the shipment's stops; they never make events.
    The key is never written to a log."""
    return await _osmand(request, dict(request.query_params))


@router.post(
    "/positions/osmand",
    response_class=Response,
    responses=_OSMAND_RESPONSES,
    openapi_extra=_OSMAND_PARAMETERS,
)
async def osmand_position_posted(request: Request) -> Response:
    """The same as GET, the fields in the query string or a form body."""
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return await _osmand(request, params)


async def _osmand(request: Request, params: dict[str, str]) -> Response:
    fix = positions.parse_fix(params, utcnow())
    factory: sessionmaker[Session] = request.app.state.session_factory
    await run_in_threadpool(
        _in_session, factory, positions.record_position, key=params.get("id"), fix=fix
    )
    return Response(status_code=status.HTTP_200_OK)


def _in_session(factory: sessionmaker[Session], fn: Callable[..., T], **kwargs: Any) -> T:
    with factory() as session:
        return fn(session, **kwargs)


def _media_type(header: str | None) -> MediaType:
    value = (header or "").split(";", 1)[0].strip().lower()
    try:
        return MediaType(value)
    except ValueError:
        accepted = ", ".join(m.value for m in MediaType)
        raise UnsupportedMediaType(
            f"Content-Type {value or '(none)'!r} is not accepted; send one of: {accepted}."
        ) from None


def _refuse_declared_length(header: str | None, limit: int) -> None:
    if header is not None and header.strip().isdigit() and int(header) > limit:
        raise _too_large(limit)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as more than `limit` bytes have arrived."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ContentTooLarge:
    return ContentTooLarge(f"The file is larger than the {limit} bytes accepted.", limit=limit)
