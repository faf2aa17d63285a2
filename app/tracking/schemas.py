import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.rfc3339 import Rfc3339
from app.shipments.schemas import ShipmentRead
from app.tracking.vocabulary import Currency, EventType, HoldReason, Procedure, StopOutcome
from app.types import JsonDecimal

MAX_SYNC_EVENTS = 1000
_PROCEDURE_EVENTS = {EventType.procedure_started, EventType.procedure_completed}


class FeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=16, decimal_places=2, examples=[25000])
    currency: Currency = Field(description="ISO 4217 code.", examples=["IQD"])
    receipt: bool = Field(description="Was a receipt given?")


class Location(BaseModel):
    """Where the phone was at the tap, with the radius of its uncertainty."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="The phone's accuracy: the radius in metres around lat/lon where the "
        "phone may be. Without it the fix counts as exact.",
    )


class EventIn(BaseModel):
    """One thing that happened to a shipment, as the driver's phone or the exporter saw it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: uuid.UUID = Field(description="Made by the client; the same id is the same event.")
    type: EventType
    occurred_at: Rfc3339 = Field(description="When it happened, with an offset.")
    checkpoint_id: uuid.UUID | None = Field(
        default=None, description="Required for `arrived`; otherwise the current stop's."
    )
    procedure: Procedure | None = None
    hold_reason: HoldReason | None = None
    fee: FeeIn | None = None
    note: str | None = Field(default=None, max_length=1000)
    location: Location | None = None

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> Self:
        needs = {
            "checkpoint_id": self.type == EventType.arrived,
            "procedure": self.type in _PROCEDURE_EVENTS,
            "hold_reason": self.type == EventType.held,
            "fee": self.type == EventType.fee_paid,
        }
        for name, needed in needs.items():
            present = getattr(self, name) is not None
            if needed and not present:
                raise ValueError(f"`{name}` is required for a `{self.type}` event")
            if present and not needed and name != "checkpoint_id":
                raise ValueError(f"`{name}` does not belong on a `{self.type}` event")
        return self


class FeeRead(BaseModel):
    amount: JsonDecimal
    currency: str
    receipt: bool


class EventRead(BaseModel):
    event_id: uuid.UUID
    type: EventType
    occurred_at: datetime
    received_at: datetime
    checkpoint_id: uuid.UUID | None
    procedure: Procedure | None
    hold_reason: HoldReason | None
    fee: FeeRead | None
    note: str | None
    location: Location | None
    source: Literal["driver", "exporter"]


class AnomalyRead(BaseModel):
    code: str = Field(examples=["released_before_arrival"])
    event_id: uuid.UUID
    detail: str


class CheckpointBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    name_ar: str | None
    name_ckb: str | None
    province: str


class HoldRead(BaseModel):
    reason: HoldReason
    started_at: datetime
    ended_at: datetime | None
    minutes: float | None


class ProcedureRead(BaseModel):
    procedure: Procedure
    started_at: datetime | None
    completed_at: datetime | None
    minutes: float | None


class StopFeeRead(FeeRead):
    paid_at: datetime


PositionEvidence = Literal["confirmed", "contradicted", "none"]


class StopRead(BaseModel):
    id: uuid.UUID
    seq: int
    checkpoint: CheckpointBrief
    arrived_at: datetime | None
    closed_at: datetime | None
    outcome: StopOutcome
    dwell_minutes: float | None = Field(description="closed − arrived; null while open.")
    hold_count: int
    held_minutes: float
    current: bool = Field(description="The truck is at this stop now.")
    holds: list[HoldRead]
    procedures: list[ProcedureRead]
    fees: list[StopFeeRead]
    anomalies: list[AnomalyRead]
    position_evidence: PositionEvidence = Field(
        description="`confirmed`: a tap's arrival or release fix, or a tracker's fix, lay "
        "within the checkpoint's fence; `contradicted`: a fix at this stop was clearly "
        "elsewhere (more than 5 km away); `none`: no fix says either."
    )


class EtaCheckpoint(BaseModel):
    """A checkpoint ahead, and whose measured dwell stands for its own."""

    checkpoint_id: uuid.UUID
    code: str
    source: Literal["checkpoint", "province", "network"] = Field(
        description="`checkpoint`: its own stops of the last 30 days; `province`: too few of "
        "those (under 20), its province's checkpoints pooled; `network`: every checkpoint's."
    )
    samples: int = Field(description="Completed stops the distribution was measured on.")
    elapsed_minutes: float | None = Field(
        description="At the checkpoint the truck is at now: the minutes already spent there "
        "(what is left is the dwell given that it lasted this long); else null."
    )


class EtaBasis(BaseModel):
    route_known: bool = Field(
        description="false: no planned route; the corridor's usual number of stops is assumed."
    )
    checkpoints_ahead: list[EtaCheckpoint]
    unplanned_stops: int = Field(
        description="Without a route: stops assumed ahead (the corridor's mean per trip, less "
        "those made), each with the network's dwell."
    )
    remaining_km: float = Field(
        description="Left to drive at `speed_kmh`: to the last checkpoint when the last leg "
        "is measured (`last_leg_trips` > 0), else to the destination."
    )
    speed_kmh: float = Field(
        description="The median of the measured trips' speeds, checkpoint time excluded."
    )
    speed_source: Literal["corridor", "network", "default"]
    speed_trips: int = Field(description="Delivered trips the speed was measured on.")
    last_leg_trips: int = Field(
        description="Delivered trips whose last leg (last release → delivery, in minutes) "
        "stands for this one's; 0: the last leg is driven at `speed_kmh` like the others."
    )
    driving_minutes: float
    window_days: int
    method: str


class EtaRead(BaseModel):
    """When the truck should arrive: half of such trips arrive by `p50`, nine in ten by `p90`."""

    p50: datetime
    p90: datetime
    computed_at: datetime
    basis: EtaBasis


class ShipmentDetail(ShipmentRead):
    """A shipment with its whole story: stops (current one first-class) and the event timeline."""

    current_stop: StopRead | None
    stops: list[StopRead]
    timeline: list[EventRead]
    timeline_anomalies: list[AnomalyRead] = Field(
        description="Contradictions that belong to no single stop (e.g. an event after delivery)."
    )
    eta: EtaRead | None = Field(
        description="While the shipment is on the road (departed, not delivered, turned back "
        "or cancelled): its arrival's p50 and p90. Otherwise null; null too when no checkpoint "
        "has a completed stop in the last 30 days to measure by."
    )


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shipment_id: uuid.UUID | None = Field(
        default=None, description="Needed with an exporter's credential; a driver's is implied."
    )
    # Any JSON value per item: a malformed one (null, a string) is rejected on its own.
    events: list[Any] = Field(
        max_length=MAX_SYNC_EVENTS,
        description="Up to 1,000 events, each shaped like the body of POST /shipments/{id}/events."
        " Each is checked on its own: one bad event never loses the others.",
    )


class SyncResult(BaseModel):
    event_id: str | None
    status: Literal["created", "duplicate", "rejected"]
    reason: str | None = None


class SyncResponse(BaseModel):
    created: int
    duplicates: int
    rejected: int
    results: list[SyncResult]


class DriverTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_days: int = Field(default=14, ge=1, le=90)


class DriverTokenCreated(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored.")
    expires_at: datetime
    driver_url: str = Field(
        description="Open on the driver's phone. The token is in the #fragment."
    )
