"""The public feed's shapes (DESIGN.md, "Public board and open data"). Nothing here names an
exporter, a truck, a shipment or an exact event time: windows are whole clock hours."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Method = Literal["gps", "reported"]


class Window(BaseModel):
    """Whole clock hours whose figures may be published."""

    window_start: datetime
    window_end: datetime
    arrived: int = Field(description="Trucks that arrived in the window.")
    completed_stops: int = Field(description="Stops that ended (released or turned back).")
    p50_wait_minutes: float | None = Field(description="Half the trucks waited less.")
    p90_wait_minutes: float | None = Field(description="Nine trucks in ten waited less.")
    gps_confirmed_share: float = Field(
        description="Share of the completed stops whose phone position confirmed the truck "
        "was at the checkpoint."
    )
    method: Method = Field(description="gps: some stops are GPS-confirmed; else reported.")


class InsufficientWindow(BaseModel):
    """Whole clock hours with too few stops or exporters to publish anything of them."""

    window_start: datetime
    window_end: datetime
    insufficient_data: Literal[True] = True


class ForecastHour(BaseModel):
    hour_of_week: int = Field(ge=0, lt=168, description="0: Monday 00:00–00:59, Baghdad time.")
    starts_at: datetime
    p50_wait_minutes: float | None
    p90_wait_minutes: float | None


class InsufficientForecastHour(BaseModel):
    hour_of_week: int = Field(ge=0, lt=168)
    starts_at: datetime
    insufficient_data: Literal[True] = True


class PublicCheckpoint(BaseModel):
    code: str
    name: str
    name_ar: str | None
    name_ckb: str | None
    province: str
    latitude: float | None
    longitude: float | None
    trucks_now: int = Field(description="Trucks at the checkpoint now, to the nearest 5.")
    method: Method
    updated_at: datetime = Field(description="When trucks_now was counted.")
    last_hour: Window | InsufficientWindow
    last_6_hours: Window | InsufficientWindow
    forecast: list[ForecastHour | InsufficientForecastHour]


class PublicFeed(BaseModel):
    generated_at: datetime
    timezone: str = Field(description="The zone hour_of_week is counted in.")
    min_stops: int
    min_exporters: int
    items: list[PublicCheckpoint]
    next_cursor: None = None
