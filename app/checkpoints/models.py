import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, Integer, String, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, str_enum, utcnow
from app.geography import Province


class CheckpointKind(StrEnum):
    province_entry = "province_entry"
    internal = "internal"
    customs = "customs"
    border_crossing = "border_crossing"


class Authority(StrEnum):
    customs = "customs"
    police = "police"
    army = "army"
    security = "security"
    joint = "joint"
    other = "other"


class Jurisdiction(StrEnum):
    federal = "federal"
    krg = "krg"
    joint = "joint"


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_ar: Mapped[str | None] = mapped_column(String(200))
    name_ckb: Mapped[str | None] = mapped_column(String(200))
    province: Mapped[Province] = mapped_column(str_enum(Province, "province"), index=True)
    kind: Mapped[CheckpointKind] = mapped_column(str_enum(CheckpointKind, "kind"))
    authority: Mapped[Authority] = mapped_column(str_enum(Authority, "authority"))
    jurisdiction: Mapped[Jurisdiction] = mapped_column(str_enum(Jurisdiction, "jurisdiction"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    # The fence: a fix within this many metres of the point (less its accuracy) is here.
    radius_m: Mapped[float] = mapped_column(Float, server_default="300", default=300.0)
    # Its service standard: this share of trucks cleared within these minutes (None: the
    # defaults, SERVICE_STANDARD_MINUTES and SERVICE_STANDARD_SHARE).
    target_minutes: Mapped[int | None] = mapped_column(Integer)
    target_share: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
