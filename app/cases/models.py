"""Complaint cases, their steps, the agencies' focal points, and exporters' incidents."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.checkpoints.models import Authority, Jurisdiction
from app.db import Base, UTCDateTime, str_enum


class CaseCategory(StrEnum):
    unreceipted_fee = "unreceipted_fee"
    excessive_inspection = "excessive_inspection"
    missing_document_hold = "missing_document_hold"
    arbitrary_turn_back = "arbitrary_turn_back"
    permit_demanded = "permit_demanded"
    queue_or_closure = "queue_or_closure"
    other = "other"


class CaseStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    resolved = "resolved"
    rejected = "rejected"
    withdrawn = "withdrawn"


class CaseCounter(Base):
    """The last reference number given in a year: CASE-2026-0007 is year 2026's 7th. Taken
    in the case's own write transaction, so a number is never given twice nor reused."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class FocalPoint(Base):
    """An agency's contact for cases (one per authority × jurisdiction), kept by admins."""

    __tablename__ = "focal_points"
    __table_args__ = (UniqueConstraint("authority", "jurisdiction", name="uq_focal_points_agency"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    authority: Mapped[Authority] = mapped_column(str_enum(Authority, "focal_authority"))
    jurisdiction: Mapped[Jurisdiction] = mapped_column(str_enum(Jurisdiction, "focal_jurisdiction"))
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("year", "number", name="uq_cases_year_number"),
        Index("ix_cases_created", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[CaseCategory] = mapped_column(str_enum(CaseCategory, "case_category"))
    summary: Mapped[str] = mapped_column(Text)
    authority: Mapped[Authority | None] = mapped_column(str_enum(Authority, "case_authority"))
    jurisdiction: Mapped[Jurisdiction | None] = mapped_column(
        str_enum(Jurisdiction, "case_jurisdiction")
    )
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The figures behind the case when it was opened, as an advocate's report gives them.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, "case_status"))
    focal_point_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("focal_points.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseCheckpoint(Base):
    __tablename__ = "case_checkpoints"

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT"), primary_key=True
    )


class CaseStep(Base):
    """One status change of a case: who moved it, when, and why (append-only)."""

    __tablename__ = "case_steps"
    __table_args__ = (Index("ix_case_steps_case", "case_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    from_status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, "step_from"))
    to_status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, "step_to"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    note: Mapped[str] = mapped_column(Text)


class Incident(Base):
    """What happened to one truck at one stop, told by its exporter or its driver."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_created", "created_at", "id"),
        Index("ix_incidents_organization", "organization_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    stop_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # stops are rebuilt: no foreign key
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="RESTRICT"))
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    checkpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("checkpoints.id", ondelete="RESTRICT")
    )
    day: Mapped[date] = mapped_column(Date)  # the stop's UTC day: all an advocate sees of when
    category: Mapped[CaseCategory] = mapped_column(str_enum(CaseCategory, "incident_category"))
    text: Mapped[str] = mapped_column(Text)
    attachment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="RESTRICT")
    )
    filed_by: Mapped[str] = mapped_column(String(16))  # exporter | driver
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseIncident(Base):
    __tablename__ = "case_incidents"
    __table_args__ = (Index("ix_case_incidents_incident", "incident_id"),)

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT"), primary_key=True
    )
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    linked_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
