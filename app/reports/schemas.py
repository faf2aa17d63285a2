import dataclasses
import uuid
from datetime import date, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from app.reports.figures import Figures
from app.types import JsonDecimal

Row = TypeVar("Row", bound=BaseModel)


class HoldReasonCount(BaseModel):
    reason: str
    count: int


class FeeTotal(BaseModel):
    currency: str
    total: JsonDecimal
    unreceipted_share: float | None = Field(description="Share of the amount paid without receipt.")


class EvidenceShares(BaseModel):
    """How much of a row is corroborated (README, "Evidence on every figure")."""

    gps_confirmed_share: float | None = Field(
        description="Stops whose phone or tracker position put the truck inside the "
        "checkpoint's fence / stops."
    )
    gps_contradicted_share: float | None = Field(
        description="Stops whose position put the truck elsewhere / stops."
    )
    fee_receipt_photo_share: float | None = Field(
        description="Fee events with a receipt attached (not withdrawn) / fee events."
    )
    anomaly_share: float | None = Field(
        description="Stops whose timeline has an anomaly (impossible speed, backdated …) / stops."
    )

    @classmethod
    def of(cls, figures: Figures) -> "EvidenceShares":
        return cls(**dataclasses.asdict(figures.evidence))


class DelayFigures(BaseModel):
    """The figures of a group of stops; all absent (null) when the group is suppressed."""

    suppressed: bool = Field(
        default=False, description="Too few exporters in this group to show it to advocates."
    )
    stops: int | None = Field(default=None, description="All stops, open ones included.")
    completed_stops: int | None = Field(default=None, description="Released or turned back.")
    p50_dwell_minutes: float | None = None
    p90_dwell_minutes: float | None = None
    mean_dwell_minutes: float | None = Field(default=None, description="Over completed stops.")
    tail_mean_dwell_minutes: float | None = Field(
        default=None, description="Mean dwell of the slowest 10% of completed stops."
    )
    within_standard_share: float | None = Field(
        default=None, description="Share of completed stops cleared within the service standard."
    )
    hold_rate: float | None = Field(default=None, description="Stops with ≥1 hold / stops.")
    turn_back_rate: float | None = None
    total_delay_hours: float | None = Field(default=None, description="Sum of dwell / 60.")
    top_hold_reasons: list[HoldReasonCount] | None = None
    fees: list[FeeTotal] | None = None
    evidence: EvidenceShares | None = None

    @classmethod
    def of(cls, figures: Figures, suppressed: bool) -> dict[str, object]:
        if suppressed:
            return {"suppressed": True}
        return {
            "suppressed": False,
            "stops": figures.stops,
            "completed_stops": figures.completed_stops,
            "p50_dwell_minutes": figures.p50_dwell_minutes,
            "p90_dwell_minutes": figures.p90_dwell_minutes,
            "mean_dwell_minutes": figures.mean_dwell_minutes,
            "tail_mean_dwell_minutes": figures.tail_mean_dwell_minutes,
            "within_standard_share": figures.within_standard_share,
            "hold_rate": figures.hold_rate,
            "turn_back_rate": figures.turn_back_rate,
            "total_delay_hours": figures.total_delay_hours,
            "top_hold_reasons": [
                HoldReasonCount(reason=r, count=c) for r, c in figures.hold_reasons
            ],
            "fees": [
                FeeTotal(currency=f.currency, total=f.total, unreceipted_share=f.unreceipted_share)
                for f in figures.fees
            ],
            "evidence": EvidenceShares.of(figures),
        }


# Each row names its group first, then its figures (the key class comes last in the bases,
# so its fields come first).
class _CheckpointKey(BaseModel):
    checkpoint_id: uuid.UUID
    checkpoint_code: str
    checkpoint_name: str
    province: str


class TargetFigures(BaseModel):
    """The row against its checkpoint's service standard (PUT /checkpoints/{id}/target)."""

    target_minutes: float | None = Field(
        default=None, description="Its checkpoint's target (null over checkpoints that differ)."
    )
    target_share: float | None = Field(
        default=None, description="The share of trucks the target asks to be within it."
    )
    within_target_share: float | None = Field(
        default=None,
        description="Completed stops cleared within their own checkpoint's target / timed stops.",
    )
    meets_target: bool | None = Field(
        default=None, description="within_target_share ≥ target_share (null: no verdict)."
    )


class CheckpointRow(DelayFigures, TargetFigures, _CheckpointKey):
    pass


class _AgencyKey(BaseModel):
    authority: str
    jurisdiction: str


class AgencyRow(DelayFigures, _AgencyKey):
    checkpoints: int | None = Field(
        default=None, description="Its checkpoints that had stops (absent when suppressed)."
    )


class _CommodityKey(BaseModel):
    hs_chapter: str
    chapter_name: str


class CommodityRow(DelayFigures, _CommodityKey):
    pass


class _TrendKey(BaseModel):
    period_start: date
    checkpoint_id: uuid.UUID | None = None
    checkpoint_code: str | None = None


class TrendRow(DelayFigures, TargetFigures, _TrendKey):
    change_p50_dwell_minutes: float | None = Field(
        default=None, description="Against the previous period (null if it had no figures)."
    )
    change_p90_dwell_minutes: float | None = None
    change_hold_rate: float | None = None
    change_stops: int | None = None


class ProcedureRow(BaseModel):
    procedure: str
    checkpoint_id: uuid.UUID | None = None
    checkpoint_code: str | None = None
    suppressed: bool = False
    stops_requiring: int | None = Field(default=None, description="Stops where it was done.")
    share_of_stops: float | None = None
    p50_minutes: float | None = None
    p90_minutes: float | None = None
    total_hours: float | None = None
    share_of_stop_time: float | None = Field(
        default=None, description="Its minutes / all stop minutes in the same scope."
    )
    evidence: EvidenceShares | None = Field(
        default=None, description="Of the stops that required it (and their fee events)."
    )


class CorridorFee(BaseModel):
    currency: str
    per_trip: JsonDecimal
    unreceipted_per_trip: JsonDecimal
    per_100km: JsonDecimal | None
    unreceipted_per_100km: JsonDecimal | None


class CorridorCost(BaseModel):
    currency: str
    amount: JsonDecimal


class CorridorRow(BaseModel):
    origin_province: str
    destination_province: str
    suppressed: bool = False
    trips: int | None = None
    delivered_trips: int | None = None
    median_transit_hours: float | None = None
    stops_per_trip: float | None = None
    delay_hours_per_trip: float | None = None
    trips_with_distance: int | None = None
    stops_per_100km: float | None = Field(default=None, description="Controls per 100 km.")
    delay_minutes_per_100km: float | None = None
    fees: list[CorridorFee] | None = None
    worst_checkpoint_id: uuid.UUID | None = None
    worst_checkpoint_code: str | None = None
    worst_checkpoint_delay_share: float | None = Field(
        default=None, description="Share of the corridor's delay spent at that checkpoint."
    )
    evidence: EvidenceShares | None = Field(
        default=None, description="Of the stops (and fee events) of the corridor's trips."
    )
    # CAREC CPMM's figures, over the trips delivered over a known distance.
    delivered_trips_with_distance: int | None = Field(
        default=None,
        description="The trips of the CAREC figures below: delivered, with a known distance.",
    )
    speed_with_delay_kmh: float | None = Field(
        default=None,
        description="CAREC's SWD: their total km / their total transit time "
        "(departure → delivery), in hours.",
    )
    speed_without_delay_kmh: float | None = Field(
        default=None,
        description="CAREC's SWOD: their total km / (their total transit time − the time "
        "their stops took), in hours.",
    )
    time_at_checkpoints_share: float | None = Field(
        default=None,
        description="The time their stops took / their total transit time.",
    )
    cost_per_trip: list[CorridorCost] | None = Field(
        default=None,
        description="The fees paid on them, per currency, / their number (fees[].per_trip "
        "divides every trip's fees, on the road ones' too, by every trip).",
    )


class LiveCheckpointRow(BaseModel):
    checkpoint_id: uuid.UUID
    checkpoint_code: str
    checkpoint_name: str
    name_ar: str | None
    name_ckb: str | None
    province: str
    latitude: float | None
    longitude: float | None
    trucks_now: int
    held_now: int
    median_dwell_minutes_6h: float | None = Field(
        description="Stops closed in the last 6 completed clock hours (sliding, for admins)."
    )
    closed_stops_6h: int
    median_suppressed: bool = Field(description="Too few exporters in 6 hours to show a median.")
    last_event_at: datetime | None = Field(description="How fresh these figures are.")


class Report(BaseModel, Generic[Row]):
    report: str
    generated_at: datetime
    as_of: datetime = Field(description="Every write acknowledged before this time is counted.")
    filters: dict[str, str]
    service_standard_minutes: int
    min_exporters: int | None = Field(
        description="Advocates only: a cell (checkpoint × UTC day) with fewer exporters is "
        "left out of every answer."
    )
    min_stops: int | None = Field(
        default=None,
        description="Advocates only: a cell with fewer completed stops is left out of every "
        "answer.",
    )
    excluded_stops: int = Field(
        default=0,
        description="Stops in the question's scope left out of at least one row to protect "
        "exporters (always 0 for admins and for an exporter's own figures). Corridors: trips.",
    )
    items: list[Row]


class PolicyMarker(BaseModel):
    """A policy change the trend chart draws as a marker (app/policies records them)."""

    id: uuid.UUID
    title: str
    effective_at: datetime
    checkpoint_ids: list[uuid.UUID]


class TrendReport(Report[TrendRow]):
    policy_changes: list[PolicyMarker] = Field(
        default_factory=list,
        description="The policy changes effective within the trend's window (its `from`/`to`, "
        "else its first to its last period) at the checkpoints it covers, oldest first.",
    )


class LiveStatus(BaseModel):
    generated_at: datetime
    as_of: datetime = Field(description="Every write acknowledged before this time is counted.")
    window_start: datetime = Field(description="The medians' window: whole clock hours.")
    window_end: datetime
    excluded_stops: int = Field(
        default=0, description="Closed stops left out of the medians to protect exporters."
    )
    items: list[LiveCheckpointRow]


Format = Literal["json", "csv", "xlsx"]
