"""Identities and their credentials: users (with their role), API keys and driver links; and
the login throttle's windows, when the database keeps them.

A user belongs to an organisation (app.organizations) by its id alone, so this module, at the
bottom of the features, imports none of them.
"""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Double, ForeignKey, Integer, String, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, str_enum, utcnow


class Role(StrEnum):
    admin = "admin"
    exporter = "exporter"
    advocate = "advocate"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role", length=16))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """A long-lived credential for an exporter's own systems. Only its SHA-256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DriverToken(Base):
    """A link for one shipment's driver. Only its SHA-256 is kept; it expires and can be revoked."""

    __tablename__ = "driver_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateLimitWindow(Base):
    """One key of the login throttle's windows when they are kept in the database (no Redis):
    what the `limits` library's Redis storage keeps under that key (auth/throttle_storage.py).
    A row whose `expires_at` has passed holds nothing that still counts, and is deleted."""

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    # Moving window: the newest hits first, at most the limit's amount (older ones never
    # decide anything), as Unix times.
    hits: Mapped[list[float]] = mapped_column(JSON)
    # Fixed window: hits since the window opened.
    counter: Mapped[int] = mapped_column(Integer, server_default="0")
    expires_at: Mapped[float] = mapped_column(Double, index=True)  # a Unix time
