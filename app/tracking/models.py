import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, str_enum
from app.tracking.vocabulary import EventType, HoldReason, Procedure, StopOutcome

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class TrackingEvent(Base):
    """What a driver or exporter reported. Append-only: never updated, never deleted."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("shipment_id", "event_id", name="uq_events_shipment_event"),
        Index("ix_events_shipment_occurred", "shipment_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="RESTRICT"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    type: Mapped[EventType] = mapped_column(str_enum(EventType, "type"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checkpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT"), index=True
    )
    procedure: Mapped[Procedure | None] = mapped_column(str_enum(Procedure, "procedure"))
    hold_reason: Mapped[HoldReason | None] = mapped_column(str_enum(HoldReason, "hold_reason"))
    fee_amount: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    fee_currency: Mapped[str | None] = mapped_column(String(3))
    fee_receipt: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(1000))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the event's content: a replay with the same event_id must match it exactly.
    content_hash: Mapped[str] = mapped_column(String(64))
    # The radius (metres) of the position's uncertainty, as the phone reported it.
    accuracy_m: Mapped[float | None] = mapped_column(Float)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A new event's row, as TrackingEvent's columns: the event writer inserts many at once
    (service.insert_events), and building an ORM entity cost more than inserting the row."""

    id: uuid.UUID
    shipment_id: uuid.UUID
    event_id: uuid.UUID
    type: EventType
    occurred_at: datetime
    received_at: datetime
    checkpoint_id: uuid.UUID | None
    procedure: Procedure | None
    hold_reason: HoldReason | None
    fee_amount: Decimal | None
    fee_currency: str | None
    fee_receipt: bool | None
    note: str | None
    latitude: float | None
    longitude: float | None
    source: str
    content_hash: str
    accuracy_m: float | None


# An event as stored: loaded (a replay) or just made.
StoredEvent = TrackingEvent | NewEvent


class _OnATrip:
    """Copied from the shipment when the row is written, so the corridor report groups stops
    and fees without joining them to their trips: origin and destination province, and
    whether the trip's distance is known. Only a planned shipment can change them, and a
    planned shipment has no stops, so they never go stale."""

    origin_province: Mapped[str | None] = mapped_column(String(32))
    destination_province: Mapped[str | None] = mapped_column(String(32))
    trip_has_distance: Mapped[bool | None] = mapped_column(Boolean)


class Stop(_OnATrip, Base):
    """One visit of a shipment at a checkpoint, derived from its events (see timeline.py)."""

    __tablename__ = "stops"
    __table_args__ = (
        UniqueConstraint("shipment_id", "seq", name="uq_stops_shipment_seq"),
        Index("ix_stops_checkpoint_arrived", "checkpoint_id", "arrived_at"),
        # Covers the checkpoint report: its aggregates and its sorted pass over dwell times
        # read this index alone, never the wide table rows.
        Index(
            "ix_stops_report",
            "checkpoint_id",
            "dwell_minutes",
            "arrived_at",
            "outcome",
            "hold_count",
            "organization_id",
        ),
        # The reports that roll fine groups up (see app/reports/figures.py): trends per
        # arrival day, commodities per set of HS chapters. Narrow on purpose: they cover the
        # unfiltered report (counts, the sorted pass, exporters) and read twice as fast as a
        # copy of ix_stops_report would; filtered reports go through the other indexes.
        Index(
            "ix_stops_by_day",
            "arrival_day",
            "dwell_minutes",
            "outcome",
            "hold_count",
            "organization_id",
        ),
        Index(
            "ix_stops_by_chapters",
            "hs_chapters",
            "dwell_minutes",
            "outcome",
            "hold_count",
            "organization_id",
        ),
        # The corridor report: covers its stop figures, the trip filter a semi-join on
        # shipment_id.
        Index(
            "ix_stops_by_corridor",
            "origin_province",
            "destination_province",
            "checkpoint_id",
            "trip_has_distance",
            "dwell_minutes",
            "shipment_id",
        ),
        # Advocates' protected cells (checkpoint × UTC day, see app/privacy.py):
        # their tallies and the figures grouped per cell read this index, in its order.
        Index(
            "ix_stops_cells",
            "checkpoint_id",
            "arrival_day",
            "organization_id",
            "outcome",
            "dwell_minutes",
            "hold_count",
        ),
        Index("ix_stops_shipment", "shipment_id"),
        Index("ix_stops_checkpoint_organization", "checkpoint_id", "organization_id"),
        # The live status: stops closed in the last hours, and each checkpoint's latest event.
        Index("ix_stops_closed", "closed_at"),
        Index("ix_stops_checkpoint_last_event", "checkpoint_id", "last_event_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    # Copied from the shipment so reports group and anonymise without a join.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT")
    )
    seq: Mapped[int] = mapped_column(Integer)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[StopOutcome] = mapped_column(str_enum(StopOutcome, "outcome"))
    dwell_minutes: Mapped[float | None] = mapped_column(Float)
    hold_count: Mapped[int] = mapped_column(Integer)
    held_minutes: Mapped[float] = mapped_column(Float)
    is_current: Mapped[bool] = mapped_column(Boolean)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anomalies: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # A digest of this stop's row and its holds, procedures and fees as last written: a
    # rebuild rewrites only the stops whose digest changed (usually the last one or two).
    content_hash: Mapped[str | None] = mapped_column(String(32))
    # Group keys for the reports, derived when the stop is written (not in the digest):
    # the UTC day of arrival as days since 1970-01-01, and the distinct HS chapters of the
    # shipment's cargo, sorted, comma-separated ("25,72"). Cargo can only change while a
    # shipment is planned, and a planned shipment has no stops, so these never go stale.
    arrival_day: Mapped[int | None] = mapped_column(Integer)
    hs_chapters: Mapped[str | None] = mapped_column(String(300))
    # confirmed | contradicted | none: what the positions (taps' and a tracker's) say.
    position_evidence: Mapped[str] = mapped_column(String(16), server_default="none")


class _OfAStop:
    """Copied from the stop this row belongs to, so that reports filter and group holds,
    procedures and fees without joining a million stops (rewritten with the stop)."""

    shipment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrival_day: Mapped[int | None] = mapped_column(Integer)
    hs_chapters: Mapped[str | None] = mapped_column(String(300))


class StopHold(_OfAStop, Base):
    __tablename__ = "stop_holds"
    __table_args__ = (
        Index("ix_stop_holds_report", "checkpoint_id", "reason", "arrived_at"),
        Index("ix_stop_holds_by_day", "arrival_day", "reason"),
        Index("ix_stop_holds_by_chapters", "hs_chapters", "reason"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stop_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stops.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[HoldReason] = mapped_column(str_enum(HoldReason, "reason"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes: Mapped[float | None] = mapped_column(Float)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class StopProcedure(_OfAStop, Base):
    __tablename__ = "stop_procedures"
    __table_args__ = (
        # Covers the procedure report's counts and its sorted pass over minutes.
        Index(
            "ix_stop_procedures_report",
            "procedure",
            "minutes",
            "run_number",
            "organization_id",
            "checkpoint_id",
            "arrived_at",
        ),
        # The runs of stops with no arrival logged, which the day cells do not hold and an
        # unwindowed report reads live: a handful, found without reading every run.
        Index(
            "ix_stop_procedures_no_day",
            "checkpoint_id",
            sqlite_where=text("arrival_day IS NULL"),
            postgresql_where=text("arrival_day IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stop_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stops.id", ondelete="CASCADE"), index=True
    )
    procedure: Mapped[Procedure] = mapped_column(str_enum(Procedure, "procedure"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes: Mapped[float | None] = mapped_column(Float)
    # 1 for the stop's first run of this procedure, 2 for a second one…: the stops that
    # required a procedure are its rows with run_number 1, counted without a DISTINCT.
    run_number: Mapped[int] = mapped_column(Integer)


class StopFee(_OnATrip, _OfAStop, Base):
    __tablename__ = "stop_fees"
    __table_args__ = (
        Index(
            "ix_stop_fees_report", "checkpoint_id", "currency", "receipt", "amount", "arrived_at"
        ),
        Index("ix_stop_fees_by_day", "arrival_day", "currency", "receipt", "amount"),
        Index("ix_stop_fees_by_chapters", "hs_chapters", "currency", "receipt", "amount"),
        Index(
            "ix_stop_fees_by_corridor",
            "origin_province",
            "destination_province",
            "currency",
            "trip_has_distance",
            "receipt",
            "amount",
            "shipment_id",
        ),
        # A few trips' fees (a refresh of marked corridor cells, a report's live parts, an
        # advocate's filtered corridors): without it each such join read every fee.
        Index("ix_stop_fees_shipment", "shipment_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stop_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stops.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    currency: Mapped[str] = mapped_column(String(3))
    receipt: Mapped[bool] = mapped_column(Boolean)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class Position(Base):
    """A tracker's fix for a shipment (the OsmAnd protocol, see app/evidence). Append-only.
    Positions corroborate stops (geofence.py); they never make events."""

    __tablename__ = "positions"
    __table_args__ = (
        # A device resending a fix it was not sure had arrived stores nothing new.
        UniqueConstraint("shipment_id", "recorded_at", name="uq_positions_shipment_recorded"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the device's time of the fix
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)  # as sent (OsmAnd: knots)
