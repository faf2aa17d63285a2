"""CSV import: one row per cargo line; rows sharing a `reference` are one shipment.

Every row gets a result. By default the valid shipments are stored and the invalid rows
reported; with `atomic` nothing is stored unless every row is valid.
"""

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.db import write_transaction
from app.errors import InvalidInput
from app.shipments import service
from app.shipments.schemas import ImportResult, ImportRowResult, ShipmentCreate

SHIPMENT_COLUMNS = (
    "reference",
    "origin_province",
    "origin_city",
    "destination_province",
    "destination_city",
    "truck_plate",
    "driver_name",
    "driver_phone",
    "planned_departure",
    "route",
    "distance_km",
)
CARGO_COLUMNS = ("hs_code", "description", "quantity", "unit", "weight_kg", "value_usd")
OPTIONAL_COLUMNS = {"reference", "route", "distance_km"}
REQUIRED_COLUMNS = set(SHIPMENT_COLUMNS + CARGO_COLUMNS) - OPTIONAL_COLUMNS
MAX_ROWS = 10_000
ROUTE_SEPARATOR = "|"


@dataclass
class _Group:
    """The rows of one shipment, and what was found wrong with each."""

    rows: list[tuple[int, dict[str, str]]]
    errors: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    shipment: ShipmentCreate | None = None

    def fail(self, line: int, column: str, msg: str, kind: str) -> None:
        self.errors.setdefault(line, []).append({"column": column, "msg": msg, "type": kind})


def import_csv(
    session: Session, *, principal: Principal, content: bytes, atomic: bool
) -> ImportResult:
    rows = _read_rows(content)
    groups = _group(rows)
    # Parsing and validating up to 10,000 rows needs no lock: before the write transaction.
    # (Checkpoints are never deleted, so a code found now still exists in it.)
    codes = _route_codes(session, groups)
    for group in groups:
        _validate_group(group, codes)
    with service.reference_race(), write_transaction(session):
        _validate_against_database(session, principal, groups)
        has_errors = any(g.errors for g in groups)
        store = [g for g in groups if not g.errors and not (atomic and has_errors)]
        created = {
            id(g): service.add_shipment(session, principal, g.shipment)
            for g in store
            if g.shipment is not None
        }
    return _result(groups, created, atomic)


def _read_rows(content: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        text = content.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raise _file_error("The file is not UTF-8 text. Save it as “CSV UTF-8”.") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise _file_error("The file is empty; the first line must name the columns.")
    missing = sorted(REQUIRED_COLUMNS - set(header))
    unknown = sorted(set(header) - REQUIRED_COLUMNS - OPTIONAL_COLUMNS)
    if missing or unknown:
        parts = [f"missing columns: {', '.join(missing)}"] if missing else []
        parts += [f"unknown columns: {', '.join(unknown)}"] if unknown else []
        raise _file_error("The header is not as documented: " + "; ".join(parts) + ".")
    reader.fieldnames = header
    rows = []
    try:
        for record in reader:
            if None in record:
                raise _file_error(f"Line {reader.line_num} has more fields than the header.")
            values = {k: (v or "").strip() for k, v in record.items()}
            if any(values.values()):
                rows.append((reader.line_num, values))
            if len(rows) > MAX_ROWS:
                raise _file_error(f"At most {MAX_ROWS} rows per file; split the file.")
    except csv.Error as exc:
        raise _file_error(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from exc
    if not rows:
        raise _file_error("The file has a header but no rows.")
    return rows


def _file_error(detail: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"loc": ["body"], "msg": detail, "type": "csv_error"}])


def _group(rows: list[tuple[int, dict[str, str]]]) -> list[_Group]:
    by_reference: dict[str, _Group] = {}
    groups: list[_Group] = []
    for line, values in rows:
        reference = values.get("reference", "")
        if reference and reference in by_reference:
            by_reference[reference].rows.append((line, values))
            continue
        group = _Group(rows=[(line, values)])
        groups.append(group)
        if reference:
            by_reference[reference] = group
    return groups


def _route_codes(session: Session, groups: list[_Group]) -> dict[str, Any]:
    wanted = {
        code.strip().upper()
        for g in groups
        for code in g.rows[0][1].get("route", "").split(ROUTE_SEPARATOR)
        if code.strip()
    }
    if not wanted:
        return {}
    found = session.execute(
        select(Checkpoint.code, Checkpoint.id).where(Checkpoint.code.in_(wanted))
    )
    return {row.code: row.id for row in found}


def _validate_group(group: _Group, codes: dict[str, Any]) -> None:
    first_line, first = group.rows[0]
    for line, values in group.rows[1:]:
        for column in SHIPMENT_COLUMNS:
            if values.get(column) and values[column] != first.get(column, ""):
                group.fail(
                    line,
                    column,
                    f"differs from line {first_line} of the same reference",
                    "conflict",
                )
    route = []
    for code in filter(
        None, (c.strip().upper() for c in first.get("route", "").split(ROUTE_SEPARATOR))
    ):
        if code in codes:
            route.append(codes[code])
        else:
            group.fail(first_line, "route", f"no checkpoint with code {code}", "unknown_checkpoint")
    data: dict[str, Any] = {k: v for k, v in first.items() if k in SHIPMENT_COLUMNS and v}
    data["route"] = route
    data["cargo"] = [
        {k: v for k, v in values.items() if k in CARGO_COLUMNS and v} for _, values in group.rows
    ]
    try:
        group.shipment = ShipmentCreate.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            if loc and loc[0] == "cargo" and len(loc) > 2 and isinstance(loc[1], int):
                line, column = group.rows[loc[1]][0], str(loc[2])
            else:
                line, column = first_line, str(loc[0]) if loc else "row"
            group.fail(line, column, err["msg"], err["type"])


def _validate_against_database(
    session: Session, principal: Principal, groups: list[_Group]
) -> None:
    valid = [g for g in groups if not g.errors and g.shipment is not None]
    problems = service.validate_rows(
        session, principal=principal, items=[g.shipment for g in valid if g.shipment], loc_prefix=()
    )
    for problem in problems:
        index, column = problem["loc"][0], str(problem["loc"][1])
        group = valid[index]
        group.fail(group.rows[0][0], column, problem["msg"], problem["type"])


def _result(groups: list[_Group], created: dict[int, Any], atomic: bool) -> ImportResult:
    results = []
    for group in groups:
        shipment = created.get(id(group))
        for line, _ in group.rows:
            if shipment is not None:
                results.append(
                    ImportRowResult(
                        row=line,
                        status="created",
                        shipment_id=shipment.id,
                        tracking_code=shipment.tracking_code,
                    )
                )
            elif group.errors:
                # A row that is fine itself still fails with its shipment; say why.
                own = group.errors.get(line) or [
                    {
                        "column": "reference",
                        "msg": "another row of this shipment is invalid",
                        "type": "group_failed",
                    }
                ]
                results.append(ImportRowResult(row=line, status="failed", errors=own))
            else:
                results.append(ImportRowResult(row=line, status="skipped"))
    results.sort(key=lambda r: r.row)
    return ImportResult(
        created=len(created),
        failed_rows=sum(r.status == "failed" for r in results),
        atomic=atomic,
        rows=results,
    )
