"""The public routes: no credentials, rate-limited per address, cacheable by anyone."""

import csv
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from app.config import Settings
from app.errors import NotFound
from app.public import open_data
from app.public.feed import DEFAULT_FORECAST_HOURS, HOURS_A_WEEK, FeedCache
from app.public.http import cacheable, rate_limited
from app.public.schemas import PublicCheckpoint, PublicFeed
from app.reports.dependencies import ReportsSessionDep
from app.reports.export import flat_row

router = APIRouter(prefix="/public", tags=["public"], dependencies=[Depends(rate_limited)])
router.include_router(open_data.router)

FeedFormat = Literal["json", "csv", "geojson"]
FormatQuery = Annotated[FeedFormat, Query(alias="format")]
HoursQuery = Annotated[
    int,
    Query(ge=1, le=HOURS_A_WEEK, description="Forecast hours from the hour in progress."),
]
MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
GEOJSON = "application/geo+json"


def _feed(request: Request, session: ReportsSessionDep, hours: int) -> PublicFeed:
    cache: FeedCache = request.app.state.public_feed
    settings: Settings = request.app.state.settings
    return cache.feed(session, settings, hours)


@router.get(
    "/checkpoints",
    summary="Checkpoint waits now, for anyone",
    response_model=PublicFeed,
    responses={200: {"content": {"text/csv": {}, GEOJSON: {}}}, 304: {}, 429: {}},
)
def public_checkpoints(
    request: Request,
    session: ReportsSessionDep,
    fmt: FormatQuery = "json",
    forecast_hours: HoursQuery = DEFAULT_FORECAST_HOURS,
) -> Response:
    feed = _feed(request, session, forecast_hours)
    return _render(request, feed, feed.items, fmt)


@router.get(
    "/checkpoints/{code}",
    summary="One checkpoint's waits now, by its code",
    response_model=PublicCheckpoint,
    responses={304: {}, 404: {}, 429: {}},
)
def public_checkpoint(
    request: Request,
    session: ReportsSessionDep,
    code: str,
    fmt: FormatQuery = "json",
    forecast_hours: HoursQuery = DEFAULT_FORECAST_HOURS,
) -> Response:
    feed = _feed(request, session, forecast_hours)
    found = [item for item in feed.items if item.code == code]
    if not found:
        raise NotFound(f"No active checkpoint has the code {code!r}.")
    return _render(request, found[0], found, fmt)


def _render(
    request: Request, whole: Any, items: list[PublicCheckpoint], fmt: FeedFormat
) -> Response:
    if fmt == "json":
        return cacheable(request, whole.model_dump_json().encode(), MEDIA["json"])
    if fmt == "geojson":
        return cacheable(request, _geojson(items), GEOJSON)
    return cacheable(
        request,
        _csv(items),
        MEDIA["csv"],
        **{"Content-Disposition": 'attachment; filename="checkpoints.csv"'},
    )


def _geojson(items: list[PublicCheckpoint]) -> bytes:
    """A FeatureCollection: a point per checkpoint (no geometry where its position is
    unknown), its other fields as properties."""
    features = []
    for item in items:
        properties = item.model_dump(mode="json", exclude={"latitude", "longitude"})
        point = (
            {"type": "Point", "coordinates": [item.longitude, item.latitude]}
            if item.latitude is not None and item.longitude is not None
            else None
        )
        features.append({"type": "Feature", "geometry": point, "properties": properties})
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


CSV_WINDOW_FIELDS = (
    "window_start",
    "window_end",
    "insufficient_data",
    "arrived",
    "completed_stops",
    "p50_wait_minutes",
    "p90_wait_minutes",
    "gps_confirmed_share",
    "method",
)
CSV_FIELDS = (
    "code",
    "name",
    "name_ar",
    "name_ckb",
    "province",
    "latitude",
    "longitude",
    "trucks_now",
    "method",
    "updated_at",
    *(f"last_hour.{f}" for f in CSV_WINDOW_FIELDS),
    *(f"last_6_hours.{f}" for f in CSV_WINDOW_FIELDS),
    "forecast.starts_at",
    "forecast.p50_wait_minutes",
    "forecast.p90_wait_minutes",
)


def _csv(items: list[PublicCheckpoint]) -> bytes:
    """One row per checkpoint; windows flattened (`last_hour.p50_wait_minutes` …); of the
    forecast, the hour in progress (the JSON carries the hours after it)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for item in items:
        row = item.model_dump(mode="json")
        forecast = row.pop("forecast")
        if forecast:  # the hour in progress, as a nested object: flattened with the windows
            row["forecast"] = forecast[0]
        writer.writerow(flat_row(row))
    return out.getvalue().encode("utf-8-sig")  # the BOM: Excel reads the Arabic names right
