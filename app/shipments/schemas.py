import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from app.geography import Province
from app.rfc3339 import Rfc3339
from app.shipments.models import ShipmentStatus
from app.types import JsonDecimal


def _strip_hs_separators(value: object) -> object:
    # Exporters write HS codes as "7214.20" or "7214 20"; the digits are what count.
    return value.replace(".", "").replace(" ", "") if isinstance(value, str) else value


HsCode = Annotated[
    str,
    BeforeValidator(_strip_hs_separators),
    Field(
        pattern=r"^[0-9]{2,10}$",
        description="Harmonized System code, 2 to 10 digits; the first two are the chapter.",
        examples=["252329"],
    ),
]
Text100 = Annotated[str, Field(min_length=1, max_length=100)]
# Stored in UTC, and returned in UTC straight away (the session does not reload after commit).
UtcDatetime = Annotated[Rfc3339, AfterValidator(lambda value: value.astimezone(UTC))]


class CargoLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hs_code: HsCode
    description: str = Field(min_length=1, max_length=500, examples=["Portland cement, bagged"])
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=3, examples=[600])
    unit: str = Field(min_length=1, max_length=16, examples=["bag"])
    weight_kg: Decimal = Field(gt=0, max_digits=14, decimal_places=3, examples=[30000])
    value_usd: Decimal = Field(ge=0, max_digits=16, decimal_places=2, examples=[2700])


class CargoLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_no: int
    hs_code: str
    description: str
    quantity: JsonDecimal
    unit: str
    weight_kg: JsonDecimal
    value_usd: JsonDecimal | None = Field(
        description="Null for drivers: cargo values are not theirs to see."
    )


class _ShipmentFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    origin_province: Province
    origin_city: Text100
    destination_province: Province
    destination_city: Text100
    truck_plate: str = Field(min_length=1, max_length=32, examples=["22 A 45871 SUL"])
    driver_name: str = Field(min_length=1, max_length=200)
    driver_phone: str = Field(pattern=r"^\+?[0-9][0-9 ()-]{5,30}$", examples=["+9647701234567"])
    planned_departure: UtcDatetime
    route: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="Planned checkpoints, in order."
    )
    distance_km: float | None = Field(
        default=None,
        gt=0,
        le=5000,
        description="Trip length. When absent it is estimated from the route's positions.",
    )
    reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="Your own reference, unique."
    )
    cargo: list[CargoLineIn] = Field(min_length=1, max_length=200)


class ShipmentCreate(_ShipmentFields):
    """A new shipment. `organization_id`, `status` and `tracking_code` are set by the service."""


class ShipmentUpdate(BaseModel):
    """Changes to a planned shipment; absent fields stay. `cargo` and `route` are replaced."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    origin_province: Province | None = None
    origin_city: Text100 | None = None
    destination_province: Province | None = None
    destination_city: Text100 | None = None
    truck_plate: str | None = Field(default=None, min_length=1, max_length=32)
    driver_name: str | None = Field(default=None, min_length=1, max_length=200)
    driver_phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()-]{5,30}$")
    planned_departure: UtcDatetime | None = None
    route: list[uuid.UUID] | None = Field(default=None, max_length=50)
    distance_km: float | None = Field(default=None, gt=0, le=5000)
    reference: str | None = Field(default=None, min_length=1, max_length=100)
    cargo: list[CargoLineIn] | None = Field(default=None, min_length=1, max_length=200)


class ShipmentCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class ShipmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tracking_code: str = Field(examples=["KRD-7Q4M-2XHC"])
    reference: str | None
    status: ShipmentStatus
    organization_id: uuid.UUID
    origin_province: Province
    origin_city: str
    destination_province: Province
    destination_city: str
    truck_plate: str
    driver_name: str
    driver_phone: str
    planned_departure: datetime
    route: list[uuid.UUID]
    distance_km: float | None
    distance_estimated: bool
    cargo: list[CargoLineRead]
    departed_at: datetime | None
    delivered_at: datetime | None
    last_event_at: datetime | None
    current_checkpoint_id: uuid.UUID | None = Field(
        description="Where the truck is now, if at one."
    )
    cancelled_at: datetime | None
    cancel_reason: str | None
    created_at: datetime
    updated_at: datetime

    @field_validator("route", mode="before")
    @classmethod
    def _checkpoint_ids(cls, value: object) -> object:
        # From the ORM the route is a list of RoutePoint rows; clients see checkpoint ids.
        if isinstance(value, list):
            return [getattr(point, "checkpoint_id", point) for point in value]
        return value


class ShipmentBatch(BaseModel):
    items: list[ShipmentRead]


class ImportRowResult(BaseModel):
    row: int = Field(description="Line number in the file; the header is line 1.")
    status: Literal["created", "failed", "skipped"]
    shipment_id: uuid.UUID | None = None
    tracking_code: str | None = None
    errors: list[dict[str, object]] = Field(default_factory=list)


class ImportResult(BaseModel):
    created: int = Field(description="Shipments created.")
    failed_rows: int
    atomic: bool
    rows: list[ImportRowResult]


class ShipmentFilters(BaseModel):
    status: ShipmentStatus | None = None
    checkpoint_id: uuid.UUID | None = Field(
        default=None, description="Planned through this checkpoint, or stopped there."
    )
    current_checkpoint_id: uuid.UUID | None = Field(
        default=None, description="At this checkpoint now."
    )
    origin_province: Province | None = None
    destination_province: Province | None = None
    created_from: Rfc3339 | None = None
    created_to: Rfc3339 | None = None
    # No stored text holds a NUL (PostgreSQL's cannot): asked for, it is a 422 on both
    # databases rather than an empty list on one and a database error on the other.
    reference: str | None = Field(default=None, pattern=r"^[^\x00]*$")
    tracking_code: str | None = Field(default=None, pattern=r"^[^\x00]*$")
