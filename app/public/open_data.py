"""Open data: one row per checkpoint and UTC day (`/public/daily`), and the dictionary of
every public field (`/public/dictionary`, app/public/dictionary.py).

A row's figures are its day cell's, read as the reports read them (`rollups.cells_in_scope`):
the unmarked cells from `day_cells`, the cells a late event has marked from their stops, so a
row is as current as the stops, and its percentiles are the reports' exact ones. A cell is
published only when it passes the public thresholds (privacy.public_thresholds_of); one that
fails, and a day without stops, is a row saying `insufficient_data` and nothing else, not
even whether it had stops. Every checkpoint (the active ones, and any other with a day
published in the window) has a row for every day asked, so which rows exist reveals nothing
either. A day is published once it is over in UTC: today's never is.

Cost: a row per cell read (8 bytes a stop for its dwell times) and a few microseconds of
Python per row; a year of the demo's 38 checkpoints is 13,908 rows (bench/RESULTS.md).
"""

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import privacy
from app.auth.dependencies import SettingsDep
from app.checkpoints.models import Checkpoint
from app.config import Settings
from app.db import utcnow
from app.errors import InvalidInput, problem_responses
from app.public import dictionary
from app.public.http import cacheable
from app.reports import figures as fig
from app.reports import rollups
from app.reports.dependencies import ReportsSessionDep
from app.reports.filters import ReportFilters
from app.types import EPOCH

router = APIRouter()

MAX_DAYS = 366
DEFAULT_DAYS = 30
PARQUET_TYPE = "application/vnd.apache.parquet"
CSV_TYPE = "text/csv; charset=utf-8"
DailyFormat = Literal["json", "csv", "parquet"]
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: object) -> object:
    # Pydantic's lax mode reads a number ("0") as Unix seconds: a day here is written out.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("a day is written YYYY-MM-DD, e.g. 2026-11-30")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


# --- the daily rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class DayWindow:
    """The days asked, `first` to `last` included."""

    first: date
    last: date

    @classmethod
    def asked(cls, first: date | None, last: date | None, today: date) -> "DayWindow":
        """The window asked (by default the last DEFAULT_DAYS completed days), or a 422."""
        last = last or today - timedelta(days=1)
        try:
            first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:
            raise _bad_window("to", f"No {DEFAULT_DAYS} days end on {last}.") from None
        if first > last:
            raise _bad_window("from", f"`from` ({first}) is after `to` ({last}).")
        if (last - first).days + 1 > MAX_DAYS:
            raise _bad_window(
                "to", f"At most {MAX_DAYS} days at a time; {first} to {last} is more."
            )
        return cls(first, last)

    def published_days(self, today: date) -> list[date]:
        """The days of the window that are over (today and later have no rows)."""
        end = min(self.last, today - timedelta(days=1))
        return [self.first + timedelta(days=n) for n in range((end - self.first).days + 1)]


def _bad_window(name: str, detail: str) -> InvalidInput:
    return InvalidInput(
        detail, errors=[{"loc": ["query", name], "msg": detail, "type": "value_error"}]
    )


def daily_rows(
    session: Session, settings: Settings, days: list[date], checkpoint_code: str | None
) -> list[dict[str, Any]]:
    """One row per checkpoint and day, ordered by day then code; JSON-ready."""
    if not days:
        return []
    checkpoint = _checkpoint(session, checkpoint_code) if checkpoint_code else None
    filters = ReportFilters(
        from_=datetime.combine(days[0], time(0), UTC),
        to=datetime.combine(days[-1] + timedelta(days=1), time(0), UTC),
        checkpoint_id=checkpoint.id if checkpoint else None,
    )
    cells = rollups.cells_in_scope(session, filters, exporters=True)
    thresholds = privacy.public_thresholds_of(settings)
    figures = {
        cell: _figures(found)
        for cell, found in cells.items()
        if thresholds.passes(
            privacy.Tally(found.stops, found.completed_stops, found.exporter_ids())
        )
    }
    codes = [checkpoint] if checkpoint else _checkpoints(session, {cp for cp, _ in figures})
    rows = []
    for day in days:
        for found in codes:
            cell = (found.id, day.toordinal() - EPOCH)
            rows.append(_row(found.code, day, figures.get(cell)))
    return rows


def _figures(cell: rollups.CellFigures) -> fig.Figures:
    """One day cell's figures, as the reports define them (figures.py) for a group of one
    cell: its counts as stored, its exact percentiles from its dwell times (`rollups.
    order_statistics`), its fees from its packed records (one per currency)."""
    p50, p90, _ = rollups.order_statistics(np.frombuffer(cell.dwell, rollups.FLOAT64))
    return fig.Figures(
        stops=cell.stops,
        completed_stops=cell.completed_stops,
        held_stops=cell.held_stops,
        turned_back_stops=cell.turned_back_stops,
        p50_dwell_minutes=p50,
        p90_dwell_minutes=p90,
        fee_events=cell.evidence.fee_events,
        fees=[
            fig.Fees(currency.decode(), _cents(total), _cents(unreceipted))
            for currency, total, unreceipted in np.frombuffer(cell.fees, rollups.FEES).tolist()
        ],
    )


def _cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _checkpoint(session: Session, code: str) -> Checkpoint:
    found = session.scalar(select(Checkpoint).where(Checkpoint.code == code))
    if found is None:
        raise InvalidInput(
            f"No checkpoint has the code {code!r}: the codes are in /api/v1/public/checkpoints.",
            errors=[{"loc": ["query", "checkpoint"], "msg": "unknown code", "type": "value_error"}],
        )
    return found


def _checkpoints(session: Session, published: set[Any]) -> list[Checkpoint]:
    """The active checkpoints, and the inactive ones with a day published in the window, by
    code (an inactive checkpoint with only protected days would show that it had stops)."""
    return list(
        session.scalars(
            select(Checkpoint)
            .where(or_(Checkpoint.active, Checkpoint.id.in_(published)))
            .order_by(Checkpoint.code)
        )
    )


def _row(code: str, day: date, figures: fig.Figures | None) -> dict[str, Any]:
    row: dict[str, Any] = {"checkpoint_code": code, "day": day.isoformat()}
    if figures is None:  # protected, or no stops: nothing but that
        return {**row, "insufficient_data": True}
    return {
        **row,
        "insufficient_data": False,
        "stops": figures.stops,
        "completed_stops": figures.completed_stops,
        "p50_wait_minutes": figures.p50_dwell_minutes,
        "p90_wait_minutes": figures.p90_dwell_minutes,
        "hold_rate": figures.hold_rate,
        "turn_back_rate": figures.turn_back_rate,
        "fee_events": figures.fee_events,
        "fees": [{"currency": f.currency, "total": float(f.total)} for f in figures.fees],
    }


# --- the files ------------------------------------------------------------------------------

INTEGERS = {"stops", "completed_stops", "fee_events"}
NUMBERS = {"p50_wait_minutes", "p90_wait_minutes", "hold_rate", "turn_back_rate"}


def _currencies(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({fee["currency"] for row in rows for fee in row.get("fees", [])})


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The rows as the files' columns: one `fees_XXX` per currency in the answer (0 where a
    published day paid none in it; empty where the day is protected)."""
    columns = {name: [row.get(name) for row in rows] for name in dictionary.DAILY_COLUMNS}
    for currency in _currencies(rows):
        columns[f"fees_{currency}"] = [_paid(row, currency) for row in rows]
    return columns


def _paid(row: dict[str, Any], currency: str) -> float | None:
    if row["insufficient_data"]:
        return None
    return next((fee["total"] for fee in row["fees"] if fee["currency"] == currency), 0.0)


def daily_csv(rows: list[dict[str, Any]]) -> bytes:
    columns = _columns(rows)
    # true/false as in the JSON (None is written empty, a float in full: it reads back exact).
    columns["insufficient_data"] = ["true" if v else "false" for v in columns["insufficient_data"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return out.getvalue().encode()


def daily_parquet(rows: list[dict[str, Any]]) -> bytes:
    # Imported here: pyarrow is ~30 MB of every worker's memory, for one download.
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(rows)
    columns["day"] = [date.fromisoformat(day) for day in columns["day"]]
    types = {
        "day": pa.date32(),
        "insufficient_data": pa.bool_(),
        **{name: pa.int64() for name in INTEGERS},
        **{name: pa.float64() for name in columns if name in NUMBERS or name.startswith("fees_")},
    }
    schema = pa.schema([pa.field(name, types.get(name, pa.string())) for name in columns])
    out = io.BytesIO()
    pq.write_table(pa.table(columns, schema=schema), out)
    return out.getvalue()


# --- the routes -----------------------------------------------------------------------------


def _about(name: str) -> Any:
    return Field(description=dictionary.definition("daily", name))


class DailyFee(BaseModel):
    currency: str = _about("fees[].currency")
    total: float = _about("fees[].total")


class PublishedDay(BaseModel):
    checkpoint_code: str = _about("checkpoint_code")
    day: date = _about("day")
    insufficient_data: Literal[False] = _about("insufficient_data")
    stops: int = _about("stops")
    completed_stops: int = _about("completed_stops")
    p50_wait_minutes: float | None = _about("p50_wait_minutes")
    p90_wait_minutes: float | None = _about("p90_wait_minutes")
    hold_rate: float = _about("hold_rate")
    turn_back_rate: float = _about("turn_back_rate")
    fee_events: int = _about("fee_events")
    fees: list[DailyFee]


class ProtectedDay(BaseModel):
    checkpoint_code: str
    day: date
    insufficient_data: Literal[True] = _about("insufficient_data")


class DailyAnswer(BaseModel):
    """The JSON answer's shape, for the OpenAPI schema (the body is written by `daily`)."""

    items: list[PublishedDay | ProtectedDay]
    next_cursor: None = _about("next_cursor")
    from_: date = Field(alias="from", description=dictionary.definition("daily", "from"))
    to: date = _about("to")
    generated_at: datetime = _about("generated_at")
    min_stops: int = _about("min_stops")
    min_exporters: int = _about("min_exporters")


DAILY_DOCS = {
    **problem_responses(422, 429),
    200: {
        "description": "JSON `{items, next_cursor, from, to, generated_at, min_stops, "
        "min_exporters}`, or a CSV or Parquet file with `?format=` (the dictionary says what "
        "each column means).",
        "content": {"text/csv": {}, PARQUET_TYPE: {}},
    },
    304: {"description": "Not modified (If-None-Match)."},
}


@router.get(
    "/daily",
    response_model=DailyAnswer,
    responses=DAILY_DOCS,
    summary="Figures per checkpoint and UTC day",
)
def daily(
    request: Request,
    session: ReportsSessionDep,
    settings: SettingsDep,
    from_: Annotated[
        IsoDay | None, Query(alias="from", description="First UTC day, YYYY-MM-DD.")
    ] = None,
    to: Annotated[IsoDay | None, Query(description="Last UTC day, included.")] = None,
    format: Annotated[DailyFormat, Query(description="json (default), csv or parquet.")] = "json",
    checkpoint: Annotated[
        str | None, Query(max_length=32, description="One checkpoint's code.")
    ] = None,
) -> Response:
    now = utcnow()
    window = DayWindow.asked(from_, to, now.date())
    rows = daily_rows(session, settings, window.published_days(now.date()), checkpoint)
    name = f"daily-{window.first}-{window.last}"
    if format == "csv":
        return _file(request, daily_csv(rows), CSV_TYPE, f"{name}.csv")
    if format == "parquet":
        return _file(request, daily_parquet(rows), PARQUET_TYPE, f"{name}.parquet")
    return cacheable(request, daily_json(rows, window, now, settings), "application/json")


def daily_json(
    rows: list[dict[str, Any]], window: DayWindow, now: datetime, settings: Settings
) -> bytes:
    thresholds = privacy.public_thresholds_of(settings)
    return _json(
        {
            "items": rows,
            "next_cursor": None,
            "from": window.first.isoformat(),
            "to": window.last.isoformat(),
            # To the minute: requests within one minute get the same bytes, so one ETag.
            "generated_at": now.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "min_stops": thresholds.min_stops,
            "min_exporters": thresholds.min_exporters,
        }
    )


@router.get(
    "/dictionary",
    responses={
        **problem_responses(422, 429),
        200: {"content": {"text/csv": {}}},
        304: {"description": "Not modified (If-None-Match)."},
    },
    summary="What every public field means",
)
def data_dictionary(
    request: Request,
    settings: SettingsDep,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")] = "json",
) -> Response:
    if format == "csv":
        return _file(request, dictionary.dictionary_csv(), CSV_TYPE, "dictionary.csv")
    body = dictionary.dictionary(privacy.public_thresholds_of(settings))
    return cacheable(request, _json(body), "application/json")


def _file(request: Request, body: bytes, media_type: str, filename: str) -> Response:
    disposition = f'attachment; filename="{filename}"'
    return cacheable(request, body, media_type, **{"Content-Disposition": disposition})


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
