import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status

from app.auth.dependencies import ExporterDep, SessionDep
from app.errors import UnsupportedMediaType, problem_responses
from app.shipments import csv_import, service
from app.shipments.schemas import (
    ImportResult,
    ShipmentBatch,
    ShipmentCreate,
    ShipmentRead,
    ShipmentUpdate,
)

router = APIRouter(tags=["shipments"])
MAX_BATCH = 500


@router.post(
    "/shipments",
    status_code=status.HTTP_201_CREATED,
    response_model=ShipmentRead,
    responses=problem_responses(401, 403, 409, 413, 422),
)
def create_shipment(
    body: ShipmentCreate, principal: ExporterDep, session: SessionDep
) -> ShipmentRead:
    shipment = service.create_shipment(session, principal=principal, data=body)
    return ShipmentRead.model_validate(shipment)


@router.post(
    "/shipments/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=ShipmentBatch,
    responses=problem_responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ShipmentCreate"},
                        "minItems": 1,
                        "maxItems": MAX_BATCH,
                    }
                }
            },
        }
    },
)
def create_batch(
    # Each row is validated by the service, so that a row's schema errors and another row's
    # database errors (unknown checkpoint, reference taken) are reported together.
    body: Annotated[list[Any], Body(min_length=1, max_length=MAX_BATCH)],
    principal: ExporterDep,
    session: SessionDep,
) -> ShipmentBatch:
    """Up to 500 shipments, all or nothing: on any error none is stored and every error is listed
    with its position (`loc: ["body", <index>, <field>, …]`)."""
    shipments = service.create_batch(session, principal=principal, rows=body)
    return ShipmentBatch(items=[ShipmentRead.model_validate(s) for s in shipments])


CSV_TYPES = ("text/csv", "application/csv", "text/plain")


async def csv_body(request: Request) -> bytes:
    """The raw CSV body; read here so that the route itself stays a plain sync function."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise UnsupportedMediaType("Send the file as `Content-Type: text/csv`.")
    return await request.body()


@router.post(
    "/shipments/import",
    response_model=ImportResult,
    responses=problem_responses(401, 403, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def import_shipments(
    principal: ExporterDep,
    session: SessionDep,
    content: Annotated[bytes, Depends(csv_body)],
    atomic: Annotated[bool, Query(description="Store nothing unless every row is valid.")] = False,
) -> ImportResult:
    """A CSV file, one row per cargo line; rows with the same `reference` form one shipment.
    `route` lists checkpoint codes separated by `|`. Each row's result says what happened."""
    return csv_import.import_csv(session, principal=principal, content=content, atomic=atomic)


@router.patch(
    "/shipments/{shipment_id}",
    response_model=ShipmentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_shipment(
    shipment_id: uuid.UUID, body: ShipmentUpdate, principal: ExporterDep, session: SessionDep
) -> ShipmentRead:
    """Change a shipment while it is still planned; afterwards its record is evidence (409)."""
    shipment = service.update_shipment(
        session, principal=principal, shipment_id=shipment_id, data=body
    )
    return ShipmentRead.model_validate(shipment)
