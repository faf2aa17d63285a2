import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Enum, Float, String, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow
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


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(cls, native_enum=False, create_constraint=True, length=32, name=name)


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_ar: Mapped[str | None] = mapped_column(String(200))
    name_ckb: Mapped[str | None] = mapped_column(String(200))
    province: Mapped[Province] = mapped_column(_enum(Province, "province"), index=True)
    kind: Mapped[CheckpointKind] = mapped_column(_enum(CheckpointKind, "kind"))
    authority: Mapped[Authority] = mapped_column(_enum(Authority, "authority"))
    jurisdiction: Mapped[Jurisdiction] = mapped_column(_enum(Jurisdiction, "jurisdiction"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
