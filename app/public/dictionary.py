"""The data dictionary: what every field of every public dataset means, in plain words, for a
journalist or a researcher who reads the files without the code.

The one home of these definitions: `/api/v1/public/dictionary` serves them (JSON, or CSV one
row per field), the daily files take their column order from DAILY_COLUMNS, and the README
points here instead of copying them. A field added to a public answer gets its line here.
"""

import csv
import io
from dataclasses import asdict, astuple, dataclass
from typing import Any

from app.privacy import Thresholds


@dataclass(frozen=True)
class Field:
    name: str  # nested fields: `last_hour.arrived`; list items: `forecast[].starts_at`
    type: str  # string, integer, number, boolean, date, datetime, object, array
    unit: str  # "" when the field has none
    definition: str


WAIT = (
    "A stop's wait is the time from the truck's arrival at the checkpoint to its release or "
    "turn-back, as the driver's phone reported them."
)
PERCENTILES = (
    "Exact, never estimated: the value at that rank of all the stops' waits, interpolated "
    "between the two nearest as a spreadsheet's PERCENTILE.INC does."
)

WINDOW_FIELDS = [
    ("window_start", "datetime", "UTC", "The first instant of the window (a whole clock hour)."),
    ("window_end", "datetime", "UTC", "The instant after the window ends (not included)."),
    (
        "arrived",
        "integer",
        "trucks",
        "Trucks that arrived at the checkpoint in the window's published hours (an hour is "
        "published on its completed stops; arrivals in an hour that is not are not counted, "
        "so at a quiet checkpoint this is lower than every truck that came).",
    ),
    (
        "completed_stops",
        "integer",
        "stops",
        "Stops that ended in the window: the truck was released or turned back.",
    ),
    (
        "p50_wait_minutes",
        "number",
        "minutes",
        "The median wait of the stops completed in the window: half waited less. " + WAIT + " "
        + PERCENTILES,
    ),
    (
        "p90_wait_minutes",
        "number",
        "minutes",
        "The wait that nine stops in ten completed in the window did not exceed. " + PERCENTILES,
    ),
    (
        "gps_confirmed_share",
        "number",
        "share (0–1)",
        "The share of the stops completed in the window whose phone position confirmed the "
        "truck was at the checkpoint (inside its fence).",
    ),
    ("method", "string", "", "`gps` when some of the window's stops are GPS-confirmed, else "
     "`reported` (the drivers' taps only)."),
    (
        "insufficient_data",
        "boolean",
        "",
        "Present and true when nothing in the window may be published: none of its clock "
        "hours has enough completed stops from enough exporters (see the thresholds). The "
        "window then has no other figure, never a zero. A window is the sum of its hours that "
        "pass, so a longer window never reveals a protected hour.",
    ),
]  # fmt: skip


def _window(prefix: str, what: str) -> list[Field]:
    return [
        Field(f"{prefix}.{name}", kind, unit, f"{what}: {definition}")
        for name, kind, unit, definition in WINDOW_FIELDS
    ]


CHECKPOINTS = [
    Field("generated_at", "datetime", "UTC", "When the answer was computed."),
    Field(
        "timezone",
        "string",
        "",
        "The zone in which `forecast[].hour_of_week` is counted: Asia/Baghdad (UTC+3, no "
        "daylight saving).",
    ),
    Field("min_stops", "integer", "stops", "The completed stops a window needs to be published."),
    Field("min_exporters", "integer", "exporters", "The exporters a window needs to be published."),
    Field("code", "string", "", "The checkpoint's code, stable over time (e.g. KRK-S)."),
    Field("name", "string", "", "The checkpoint's name in English."),
    Field("name_ar", "string", "", "Its name in Arabic."),
    Field("name_ckb", "string", "", "Its name in Kurdish (Sorani)."),
    Field("province", "string", "", "The province the checkpoint is in (e.g. kirkuk)."),
    Field("latitude", "number", "degrees (WGS 84)", "Where the checkpoint is; null if unknown."),
    Field("longitude", "number", "degrees (WGS 84)", "Where the checkpoint is; null if unknown."),
    Field(
        "trucks_now",
        "integer",
        "trucks",
        "Trucks at the checkpoint when the answer was computed, rounded to the nearest 5 "
        "(0 means fewer than 3): it moves in steps of five trucks, not one.",
    ),
    Field(
        "method",
        "string",
        "",
        "How the last six hours' stops were recorded: `gps` when some are confirmed by the "
        "phones' positions, else `reported`.",
    ),
    Field("updated_at", "datetime", "UTC", "When `trucks_now` was counted (= generated_at)."),
    *_window("last_hour", "The last completed clock hour"),
    *_window("last_6_hours", "The last six completed clock hours"),
    Field(
        "forecast[].hour_of_week",
        "integer",
        "hour (0–167)",
        "The hour of the week in Baghdad time: 0 is Monday 00:00–00:59, 167 Sunday 23:00–23:59.",
    ),
    Field("forecast[].starts_at", "datetime", "UTC", "When that clock hour starts."),
    Field(
        "forecast[].p50_wait_minutes",
        "number",
        "minutes",
        "The median wait in the same hour of the week over the eight whole weeks (Monday to "
        "Monday) before this one, from the clock hours that pass the thresholds: what to "
        "expect, not a promise. " + PERCENTILES,
    ),
    Field(
        "forecast[].p90_wait_minutes",
        "number",
        "minutes",
        "The wait that nine stops in ten did not exceed in that hour of the week, over the "
        "same eight weeks.",
    ),
    Field(
        "forecast[].insufficient_data",
        "boolean",
        "",
        "Present and true when, over those eight weeks, that hour of the week has too few "
        "stops or exporters to publish: the hour then has no other figure.",
    ),
    Field("next_cursor", "string", "", "Always null: every checkpoint is in one answer."),
]

# The JSON answer's own fields, beside its rows (`items`).
DAILY_ANSWER = [
    Field("from", "date", "UTC day", "JSON: the first day asked."),
    Field("to", "date", "UTC day", "JSON: the last day asked (included)."),
    Field("generated_at", "datetime", "UTC", "JSON: when the answer was computed, to the minute."),
    Field("min_stops", "integer", "stops", "JSON: the completed stops a day needs to be shown."),
    Field("min_exporters", "integer", "exporters", "JSON: the exporters a day needs."),
    Field("next_cursor", "string", "", "JSON: always null: every row is in one answer."),
]
# A row (`items[]` in JSON; a line of the CSV, a row of the Parquet file).
DAILY = [
    Field("checkpoint_code", "string", "", "The checkpoint's code, stable over time."),
    Field(
        "day",
        "date",
        "UTC day",
        "The day (00:00–24:00 UTC) the trucks arrived at the checkpoint: a stop counts in the "
        "day of its arrival, even when it ended the next day. Days are published once over.",
    ),
    Field(
        "insufficient_data",
        "boolean",
        "",
        "True when the day is protected (too few completed stops or exporters, or no stops at "
        "all): every other figure of the row is then empty, the number of stops too.",
    ),
    Field("stops", "integer", "stops", "Trucks that arrived at the checkpoint that day."),
    Field(
        "completed_stops",
        "integer",
        "stops",
        "Of those, the stops that have ended: the truck was released or turned back. The "
        "others are still open, or the driver never reported the end.",
    ),
    Field(
        "p50_wait_minutes",
        "number",
        "minutes",
        "The median wait of the day's completed stops. " + WAIT + " " + PERCENTILES + " Empty "
        "when no completed stop has a known wait (its taps contradicted each other).",
    ),
    Field(
        "p90_wait_minutes",
        "number",
        "minutes",
        "The wait nine completed stops in ten did not exceed. " + PERCENTILES,
    ),
    Field(
        "hold_rate",
        "number",
        "share (0–1)",
        "The share of the day's stops at which the truck was held at least once.",
    ),
    Field(
        "turn_back_rate",
        "number",
        "share (0–1)",
        "The share of the day's stops at which the truck was turned back.",
    ),
    Field(
        "fee_events",
        "integer",
        "payments",
        "Fees paid at the day's stops, counted one per payment, in every currency together.",
    ),
    Field(
        "fees[].currency",
        "string",
        "ISO 4217",
        "JSON: a currency in which fees were paid that day (IQD, USD …).",
    ),
    Field(
        "fees[].total",
        "number",
        "that currency",
        "JSON: the total of the day's fees in that currency, to the cent, receipted or not.",
    ),
    Field(
        "fees_{CURRENCY}",
        "number",
        "that currency",
        "CSV and Parquet: one column per currency paid anywhere in the file (fees_IQD, "
        "fees_USD …), the day's total in it (0 when none was paid in it that day; empty when "
        "the day is protected).",
    ),
]
# The daily files' columns, in order, before the fee columns (one per currency).
DAILY_COLUMNS = [f.name for f in DAILY if not f.name.startswith("fees")]

DATASETS = {
    "checkpoints": (
        "/api/v1/public/checkpoints",
        "json, csv, geojson",
        "Each active checkpoint now: trucks there, the waits of the last completed clock hour "
        "and of the last six, and the expected waits of the hours ahead (`forecast_hours`, "
        "1–168, default 12). One checkpoint: /api/v1/public/checkpoints/{code}. The CSV has "
        "one row per checkpoint, windows as `last_hour.p50_wait_minutes` …, and of the "
        "forecast the hour in progress (`forecast.starts_at` …); the GeoJSON a point per "
        "checkpoint with the other fields as properties.",
        CHECKPOINTS,
    ),
    "daily": (
        "/api/v1/public/daily",
        "json, csv, parquet",
        "One row per checkpoint and UTC day (`from`, `to`: YYYY-MM-DD, `to` included, at "
        "most 366 days; by default the last 30 completed days; `checkpoint`: one code). "
        "Every checkpoint has a row for every day, published or protected.",
        DAILY_ANSWER + DAILY,
    ),
}


def definition(dataset: str, name: str) -> str:
    """A field's definition, for the OpenAPI schema's descriptions."""
    return next(f.definition for f in DATASETS[dataset][3] if f.name == name)


def protection(thresholds: Thresholds) -> str:
    return (
        f"A figure is published only when it rests on at least {thresholds.min_stops} "
        f"completed stops from at least {thresholds.min_exporters} different exporting "
        "companies, so that no figure describes one company's trucks. The data are cut into "
        "fixed cells that never overlap: a checkpoint's clock hour (the live board) or its UTC "
        "day (the daily files). A cell short of either threshold is protected: it is shown as "
        "`insufficient_data: true`, with no figure at all, not even how many trucks it had, "
        "and it is left out of every longer window that contains it, so that subtracting one "
        "published figure from another never reveals it. No answer names a company, a "
        "truck, a driver or a shipment, or gives the time of any one event."
    )


def dictionary(thresholds: Thresholds) -> dict[str, Any]:
    return {
        "min_stops": thresholds.min_stops,
        "min_exporters": thresholds.min_exporters,
        "protection": protection(thresholds),
        "datasets": [
            {
                "name": name,
                "route": route,
                "formats": formats,
                "description": description,
                "fields": [asdict(f) for f in fields],
            }
            for name, (route, formats, description, fields) in DATASETS.items()
        ],
    }


def dictionary_csv() -> bytes:
    """One row per field: dataset, name, type, unit, definition."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dataset", "name", "type", "unit", "definition"])
    for name, (*_, fields) in DATASETS.items():
        writer.writerows([name, *astuple(f)] for f in fields)
    return out.getvalue().encode()
