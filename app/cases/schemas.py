import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.cases.models import CaseCategory, CaseStatus
from app.checkpoints.models import Authority, Jurisdiction

MAX_TEXT = 10_000  # a summary, a note or an incident's text (characters)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class Agency(BaseModel):
    authority: Authority
    jurisdiction: Jurisdiction


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    category: CaseCategory
    checkpoint_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    agency: Agency | None = None
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="The report filters that show the problem (from, to, province, "
        "checkpoint_id, hs_chapter, destination_province, evidence), as the reports take them.",
    )
    summary: str = Field(default="", max_length=MAX_TEXT)

    _title = field_validator("title")(_not_blank)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: CaseStatus
    note: str = Field(default="", max_length=MAX_TEXT)


class StepRead(BaseModel):
    from_: CaseStatus = Field(alias="from")
    to: CaseStatus
    at: datetime
    by: uuid.UUID
    note: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class FocalPointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authority: Authority
    jurisdiction: Jurisdiction
    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=1, max_length=500)

    _name = field_validator("name", "contact")(_not_blank)


class FocalPointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    authority: Authority
    jurisdiction: Jurisdiction
    name: str
    contact: str
    created_at: datetime


class CaseRead(BaseModel):
    id: uuid.UUID
    reference: str
    title: str
    category: CaseCategory
    status: CaseStatus
    summary: str
    checkpoint_ids: list[uuid.UUID]
    agency: Agency | None
    filters: dict[str, Any]
    focal_point: FocalPointRead | None
    created_at: datetime
    submitted_at: datetime | None
    closed_at: datetime | None
    allowed_steps: list[CaseStatus] = Field(description="Where the case may go next.")
    history: list[StepRead]
    incident_count: int = Field(description="Incidents linked to the case.")
    exporter_count: int = Field(description="Distinct exporters behind those incidents.")
    snapshot: dict[str, Any] = Field(
        description="The checkpoint report's rows for the case when it was opened, as an "
        "advocate gets them (protected cells, suppressed rows)."
    )
    current: dict[str, Any] | None = Field(
        default=None, description="The same rows now (GET /cases/{id} only)."
    )


class CaseLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: uuid.UUID


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stop_id: uuid.UUID
    category: CaseCategory
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    attachment_id: uuid.UUID | None = Field(
        default=None, description="A photo or document already attached to this shipment."
    )

    _text = field_validator("text")(_not_blank)


class CaseStatusBrief(BaseModel):
    reference: str
    status: CaseStatus


class IncidentRead(BaseModel):
    """What the exporter (or the driver link) who filed it sees: its own incident, and the
    status of the cases it backs, nothing more of them."""

    id: uuid.UUID
    stop_id: uuid.UUID
    shipment_id: uuid.UUID
    checkpoint_id: uuid.UUID
    day: date
    category: CaseCategory
    text: str
    attachment_id: uuid.UUID | None
    created_at: datetime
    cases: list[CaseStatusBrief]


class IncidentForAdvocates(BaseModel):
    """An incident as advocates see it: no organisation, plate, driver, reference, shipment
    or stop; the stop's UTC day only."""

    id: uuid.UUID
    checkpoint_id: uuid.UUID
    checkpoint_code: str
    day: date
    category: CaseCategory
    text: str
    case_ids: list[uuid.UUID]


class CaseReportRow(BaseModel):
    authority: Authority
    jurisdiction: Jurisdiction
    category: CaseCategory
    opened: int = Field(description="Cases submitted (whatever their status since).")
    resolved: int
    resolution_rate: float | None = Field(description="resolved / opened.")
    median_days_to_resolve: float | None = Field(description="From submission to resolution.")
    oldest_open_days: float | None = Field(
        description="Days since the oldest case still open (submitted, acknowledged or in "
        "progress) was submitted."
    )


class CaseReport(BaseModel):
    generated_at: datetime
    items: list[CaseReportRow]
