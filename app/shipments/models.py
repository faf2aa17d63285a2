import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, str_enum, utcnow
from app.geography import Province


class ShipmentStatus(StrEnum):
    planned = "planned"
    in_transit = "in_transit"
    at_checkpoint = "at_checkpoint"
    held = "held"
    delivered = "delivered"
    turned_back = "turned_back"
    cancelled = "cancelled"


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("organization_id", "reference", name="uq_shipments_org_reference"),
        # The list endpoint's default order, scoped to an organisation.
        Index("ix_shipments_org_created", "organization_id", "created_at", "id"),
        # Covers the corridor report's trip counts and its sorted pass over transit times
        # (the departure window and an exporter's own trips too).
        Index(
            "ix_shipments_corridor",
            "origin_province",
            "destination_province",
            "transit_minutes",
            "status",
            "distance_km",
            "departed_at",
            "organization_id",
        ),
        # The live status's trucks at each checkpoint now: the few shipments at one, found
        # without reading every trip ever made.
        Index("ix_shipments_status_checkpoint", "status", "current_checkpoint_id"),
        # The corridor cells: the trips that left on given days (corridor_cells.py).
        Index("ix_shipments_departed", "departed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reference: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[ShipmentStatus] = mapped_column(
        str_enum(ShipmentStatus, "status"), default=ShipmentStatus.planned, index=True
    )
    origin_province: Mapped[Province] = mapped_column(str_enum(Province, "origin_province"))
    origin_city: Mapped[str] = mapped_column(String(100))
    destination_province: Mapped[Province] = mapped_column(
        str_enum(Province, "destination_province")
    )
    destination_city: Mapped[str] = mapped_column(String(100))
    truck_plate: Mapped[str] = mapped_column(String(32))
    driver_name: Mapped[str] = mapped_column(String(200))
    driver_phone: Mapped[str] = mapped_column(String(32))
    planned_departure: Mapped[datetime] = mapped_column(UTCDateTime)
    distance_km: Mapped[float | None] = mapped_column(Float)
    distance_estimated: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    # Derived from the events by tracking/timeline.py, stored with each event's transaction.
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_checkpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT"), index=True
    )
    transit_minutes: Mapped[float | None] = mapped_column(Float)  # delivered − departed
    anomalies: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Goes up with every transaction that adds events: a cached projection of the events
    # (tracking/writer.py) is used only while this is still its version.
    events_version: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # A tracker has sent positions for it: its stops are corroborated by them as well
    # (the event writer reads positions only for such shipments).
    tracked: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    cargo: Mapped[list["CargoLine"]] = relationship(
        lazy="raise",
        order_by="CargoLine.line_no",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    route: Mapped[list["RoutePoint"]] = relationship(
        lazy="raise",
        order_by="RoutePoint.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class CargoLine(Base):
    __tablename__ = "cargo_lines"
    __table_args__ = (
        UniqueConstraint("shipment_id", "line_no", name="uq_cargo_lines_line"),
        Index("ix_cargo_lines_chapter_shipment", "hs_chapter", "shipment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    hs_code: Mapped[str] = mapped_column(String(10))
    # The HS chapter (first two digits), kept as a column so reports can group by it.
    hs_chapter: Mapped[str] = mapped_column(String(2))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3))
    unit: Mapped[str] = mapped_column(String(16))
    weight_kg: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    value_usd: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class RoutePoint(Base):
    """One checkpoint on a shipment's planned route, in order."""

    __tablename__ = "route_points"
    __table_args__ = (UniqueConstraint("shipment_id", "position", name="uq_route_points_pos"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT"), index=True
    )
