"""Reports as CSV and XLSX: the JSON field names as columns, full precision, typed cells."""

import csv
import io
import json
from datetime import datetime
from typing import Any, get_args

from fastapi.responses import Response
from openpyxl import Workbook
from pydantic import BaseModel

from app.reports.schemas import DelayFigures, Format

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(report: Any, fmt: Format) -> Any:
    """The report itself for JSON (FastAPI serialises it), else a file response."""
    if fmt == "json":
        return report
    rows = [flat_row(item.model_dump(mode="json")) for item in report.items]
    columns = _columns(report)
    stamp = report.generated_at.strftime("%Y%m%dT%H%M%SZ")
    name = f"{report.report}-{stamp}"
    # What the JSON body says beside its rows travels in headers (and the XLSX's filters sheet).
    about = {"X-As-Of": report.as_of.isoformat(), "X-Excluded-Stops": str(report.excluded_stops)}
    if fmt == "csv":
        body = _csv(columns, rows).encode("utf-8-sig")  # the BOM lets Excel read Arabic right
        return _file(body, "text/csv; charset=utf-8", f"{name}.csv", about)
    return _file(_xlsx(report, columns, rows), XLSX_TYPE, f"{name}.xlsx", about)


def _columns(report: Any) -> list[str]:
    row_type = type(report).model_fields["items"].annotation.__args__[0]  # list[Row] -> Row
    # What the row is about (checkpoint, period …) first, then its figures.
    figures = list(DelayFigures.model_fields)
    names = [f for f in row_type.model_fields if f not in figures] + [
        f for f in figures if f in row_type.model_fields
    ]
    return [column for name in names for column in _flattened(row_type, name)]


def _flattened(row_type: type[BaseModel], name: str) -> list[str]:
    """An object a spreadsheet reads better as a column each (`evidence.gps_confirmed_share`,
    an effect row's `before.stops` …): one column per field of a nested model."""
    annotation = row_type.model_fields[name].annotation
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [f"{name}.{field}" for field in candidate.model_fields]
    return [name]


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    for name, found in list(row.items()):
        if isinstance(found, dict):  # a nested model (lists stay one cell, as JSON)
            del row[name]
            row.update({f"{name}.{key}": value for key, value in found.items()})
    return row


def _cell(value: Any) -> Any:
    """Lists and objects (hold reasons, fees) go in one cell as JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _text(_cell(row.get(c))) for c in columns])
    return out.getvalue()


def _text(value: Any) -> str:
    # repr keeps every digit of a float (str would too since 3.2); booleans as true/false.
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _xlsx(report: Any, columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(report.report[:31])
    sheet.append(columns)
    for row in rows:
        sheet.append([_typed(c, _cell(row.get(c))) for c in columns])
    about = book.create_sheet("filters")
    about.append(["filter", "value"])
    for key, value in report.filters.items():
        about.append([key, value])
    about.append(["report", report.report])
    about.append(["generated_at (UTC)", report.generated_at.replace(tzinfo=None)])
    if getattr(report, "service_standard_minutes", None) is not None:
        about.append(["service_standard_minutes", report.service_standard_minutes])
    about.append(["as_of (UTC)", report.as_of.replace(tzinfo=None)])
    if report.min_exporters is not None:
        about.append(["min_exporters (a checkpoint-day below is left out)", report.min_exporters])
    if report.min_stops is not None:
        about.append(
            ["min_stops (completed; a checkpoint-day below is left out)", report.min_stops]
        )
    about.append(["excluded_stops (left out to protect exporters)", report.excluded_stops])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _typed(column: str, value: Any) -> Any:
    """Numbers stay numbers; ISO dates become dates, so a spreadsheet can sort and chart them."""
    if isinstance(value, str) and (column.endswith("_at") or column == "period_start"):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if column == "period_start":
            return parsed.date() if isinstance(parsed, datetime) else parsed
        return parsed.replace(tzinfo=None)
    return value


def _file(body: bytes, media_type: str, filename: str, about: dict[str, str]) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **about},
    )
