import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from app.checkpoints.models import Authority, CheckpointKind, Jurisdiction
from app.geography import Province


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


CheckpointCode = Annotated[
    str,
    BeforeValidator(_upper),
    Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$", examples=["ERB-KRK-01"]),
]
# Strict: a JSON number only (`true` or `"36.1"` is a client's mistake, not a position).
Latitude = Annotated[float, Field(ge=-90, le=90, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True)]


# The fence around the point, in metres: from a yard at a gate to a border crossing's queue.
RadiusM = Annotated[float, Field(gt=0, le=50_000, strict=True, allow_inf_nan=False)]


HALF_A_POSITION = "give latitude and longitude together"


class CheckpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: CheckpointCode
    name: str = Field(min_length=1, max_length=200, examples=["Kirkuk south entrance"])
    name_ar: str | None = Field(default=None, max_length=200)
    name_ckb: str | None = Field(default=None, max_length=200)
    province: Province
    kind: CheckpointKind
    authority: Authority = Authority.other
    jurisdiction: Jurisdiction = Jurisdiction.federal
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: RadiusM = Field(
        default=300, description="The geofence: metres around the point that count as here."
    )
    # Strict: `0` or `"false"` is a client's mistake, not a boolean.
    active: StrictBool = True

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        # Half a position would silently put the checkpoint on the equator or a meridian.
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError(HALF_A_POSITION)
        return self


class CheckpointUpdate(BaseModel):
    """Only the fields sent change. Either coordinate may change alone (the service checks
    that the result is a whole position or none)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_ar: str | None = Field(default=None, max_length=200)
    name_ckb: str | None = Field(default=None, max_length=200)
    province: Province | None = None
    kind: CheckpointKind | None = None
    authority: Authority | None = None
    jurisdiction: Jurisdiction | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: RadiusM | None = None
    active: StrictBool | None = None


class TargetUpdate(BaseModel):
    """A checkpoint's service standard: `target_share` of trucks cleared within
    `target_minutes` (e.g. 60 minutes for 90%). Null restores the default."""

    model_config = ConfigDict(extra="forbid")

    target_minutes: int | None = Field(ge=1, le=7 * 24 * 60)
    target_share: float | None = Field(gt=0, le=1)


class CheckpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    name_ar: str | None
    name_ckb: str | None
    province: Province
    kind: CheckpointKind
    authority: Authority
    jurisdiction: Jurisdiction
    latitude: float | None
    longitude: float | None
    radius_m: float
    active: bool
    target_minutes: int | None = Field(description="Null: SERVICE_STANDARD_MINUTES.")
    target_share: float | None = Field(description="Null: SERVICE_STANDARD_SHARE.")
    created_at: datetime
    updated_at: datetime
