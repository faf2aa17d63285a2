import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.rfc3339 import Rfc3339
from app.types import JsonDecimal

MAX_DESCRIPTION = 10_000


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold a NUL: refused on both databases alike.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


def _not_blank(value: str) -> str:
    # Kept as given (markup included: it is text, and every page escapes it); only a title
    # of nothing but spaces is refused.
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _plausible(value: datetime) -> datetime:
    # The effect report's windows reach 26 weeks either side: far-off years would overflow.
    if not 1900 <= value.astimezone(UTC).year <= 2999:
        raise ValueError("must be between the years 1900 and 2999")
    return value


def _web_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http:// or https:// address")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


Title = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_no_nul), AfterValidator(_not_blank)
]
Description = Annotated[
    str, Field(min_length=1, max_length=MAX_DESCRIPTION), AfterValidator(_no_nul)
]
SourceUrl = Annotated[str, Field(max_length=2000), AfterValidator(_web_address)]


class PolicyChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = Field(examples=["Single inspection at Kirkuk south"])
    effective_at: Annotated[Rfc3339, AfterValidator(_plausible)] = Field(
        description="When the change took effect (RFC 3339, years 1900-2999)."
    )
    checkpoint_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=100, description="The checkpoints it applies to."
    )
    description: Description
    source_url: SourceUrl | None = Field(
        default=None, description="Where it is written down: a decree, a minute, an article."
    )

    @field_validator("checkpoint_ids")
    @classmethod
    def _once_each(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("a checkpoint is listed twice")
        return value


class PolicyChangeRead(BaseModel):
    id: uuid.UUID
    title: str
    effective_at: datetime
    checkpoint_ids: list[uuid.UUID] = Field(description="In the order of their codes.")
    description: str
    source_url: str | None
    created_at: datetime


# --- the effect report ------------------------------------------------------------------------


class Window(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Stops that arrived at or after …")
    to: datetime = Field(description="… and before this time.")


class Windows(BaseModel):
    before: Window
    after: Window


class FeePerStop(BaseModel):
    currency: str
    total: JsonDecimal = Field(description="All fees of the window's stops in this currency.")
    per_stop: JsonDecimal = Field(description="total / stops (all stops), to the cent.")


class WindowFigures(BaseModel):
    stops: int = Field(description="All stops, open ones included.")
    completed_stops: int = Field(description="Released or turned back.")
    p50_dwell_minutes: float | None
    p90_dwell_minutes: float | None
    hold_rate: float | None = Field(description="Stops with at least one hold / stops.")
    fees_per_stop: list[FeePerStop] = Field(
        description="Per currency: amounts in different currencies are never added."
    )


class EffectRow(BaseModel):
    checkpoint_id: uuid.UUID
    checkpoint_code: str
    checkpoint_name: str
    suppressed: bool = Field(
        default=False,
        description="Advocates: stops there, but no cell with enough exporters and stops.",
    )
    before: WindowFigures | None = None
    after: WindowFigures | None = None
    insufficient_data: bool = Field(
        default=False,
        description="A window has fewer than the minimum of completed stops with a dwell time: "
        "no change, interval or p-value.",
    )
    median_change_minutes: float | None = Field(
        default=None, description="after p50 − before p50 (negative: faster after)."
    )
    median_change_ci95: list[float] | None = Field(
        default=None, description="[lo, hi]: the 95% bootstrap interval of that change."
    )
    mann_whitney_p: float | None = Field(
        default=None, description="Two-sided Mann–Whitney U test of the two windows' dwells."
    )


class EffectMethod(BaseModel):
    min_completed_stops: int
    bootstrap_resamples: int
    bootstrap_seed: int
    interval: str
    test: str


class EffectReport(BaseModel):
    report: str = "effects"
    generated_at: datetime
    as_of: datetime = Field(description="Every write acknowledged before this time is counted.")
    filters: dict[str, str] = Field(description="What was asked: the change and `weeks`.")
    policy_change: PolicyChangeRead
    weeks: int
    windows: Windows
    method: EffectMethod
    min_exporters: int | None = Field(description="Advocates only: the cells' threshold.")
    min_stops: int | None = Field(description="Advocates only: the cells' threshold.")
    excluded_stops: int = Field(
        default=0, description="Stops of the windows left out to protect exporters."
    )
    items: list[EffectRow]
