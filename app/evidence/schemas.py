import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.evidence.models import AttachmentKind, MediaType


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    kind: AttachmentKind
    sha256: str = Field(description="SHA-256 of the bytes as received.")
    content_type: MediaType
    bytes: int = Field(description="Size of the bytes as received.")
    width: int | None
    height: int | None
    captured_at: datetime | None = Field(description="The photo's EXIF DateTimeOriginal.")
    captured_lat: float | None = Field(description="The photo's EXIF GPS latitude.")
    captured_lon: float | None = Field(description="The photo's EXIF GPS longitude.")
    stored_sha256: str = Field(
        description="SHA-256 of the bytes served (for a photo: re-encoded without metadata)."
    )
    stored_bytes: int
    created_at: datetime
    withdrawn: bool
    withdrawn_reason: str | None
    withdrawn_at: datetime | None


class AttachmentWithdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class DeviceKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_days: int = Field(default=14, ge=1, le=90)


class DeviceKeyCreated(BaseModel):
    key: str = Field(description="Shown once; only its hash is stored. The tracker's device id.")
    expires_at: datetime
