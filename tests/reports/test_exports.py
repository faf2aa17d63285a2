"""CSV and XLSX carry the same rows and numbers as JSON; bad input is a 422 problem."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient

from app.reports.schemas import EvidenceShares
from tests.factories import API, admin, assert_problem, make_user
from tests.reports.builders import Params, World, resolve

VARIANTS: list[tuple[str, Params]] = [
    ("checkpoints", {}),
    ("checkpoints", {"hs_chapter": "72", "from": "2026-10-12T00:00:00+03:00"}),
    ("corridors", {}),
    ("agencies", {"province": "kirkuk"}),
    ("commodities", {}),
    ("procedures", {"by": "checkpoint"}),
    ("trends", {"interval": "week"}),
    ("trends", {"interval": "month", "by": "checkpoint", "checkpoint_id": "@BGD-02"}),
]
IDS = [f"{name}-{'-'.join(params) or 'all'}" for name, params in VARIANTS]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UTF8_BOM = "\ufeff"


def get(world: World, name: str, params: Params, fmt: str, who: str = "admin") -> httpx.Response:
    headers = world.admin.headers if who == "admin" else world.advocate.headers
    query = {**resolve(world, params), **({} if fmt == "json" else {"format": fmt})}
    response = world.client.get(f"{API}/reports/{name}", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response


def assert_attachment(response: httpx.Response, name: str, extension: str) -> None:
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;"), disposition
    assert f'filename="{name}' in disposition
    assert disposition.endswith(f'.{extension}"'), disposition


def assert_same_text(text: str, value: Any, where: str) -> None:
    """A CSV cell against the JSON value: every digit kept, lists as JSON, null as empty."""
    if value is None:
        assert text == "", where
    elif isinstance(value, bool):
        assert text == ("true" if value else "false"), where
    elif isinstance(value, int):
        assert int(text) == value, where
    elif isinstance(value, float):
        assert float(text) == value, where  # exactly: full precision
    elif isinstance(value, list | dict):
        assert json.loads(text) == value, where
    else:
        assert text == value, where


def assert_same_cell(cell: Any, value: Any, column: str, where: str) -> None:
    """An XLSX cell against the JSON value: numbers typed as numbers, dates as dates."""
    if value is None:
        assert cell is None, where
    elif isinstance(value, bool):
        assert cell is value, where
    elif isinstance(value, int | float):
        assert isinstance(cell, int | float), f"{where}: {cell!r} is not a number"
        assert not isinstance(cell, bool), where
        # openpyxl writes every number with 16 significant digits ("%.16g"), one short of a
        # float's full 17; Excel itself reads 15. Equal to what the cell can hold:
        assert cell == float(f"{value:.16g}"), where
    elif isinstance(value, list | dict):
        assert json.loads(cell) == value, where
    elif column == "period_start":
        assert isinstance(cell, datetime), where
        assert cell.date() == date.fromisoformat(value), where
    else:
        assert cell == value, where


def flat(item: dict[str, Any]) -> dict[str, Any]:
    """A JSON row as a spreadsheet row: its `evidence` object a column per share
    (`evidence.gps_confirmed_share` …; empty for a suppressed row, whose evidence is null)."""
    row = {k: v for k, v in item.items() if k != "evidence"}
    shares = item["evidence"] or dict.fromkeys(EvidenceShares.model_fields)
    row.update({f"evidence.{name}": value for name, value in shares.items()})
    return row


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_csv_has_the_json_rows_and_numbers(world: World, name: str, params: Params) -> None:
    items = [flat(item) for item in get(world, name, params, "json").json()["items"]]

    response = get(world, name, params, "csv")

    assert response.headers["content-type"].startswith("text/csv")
    assert_attachment(response, name, "csv")
    assert response.text.startswith(UTF8_BOM)  # so Excel reads Arabic and Kurdish names
    text = response.text.removeprefix(UTF8_BOM)
    header = next(csv.reader(io.StringIO(text)))
    assert len(header) == len(set(header))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(items) > 0
    for item, row in zip(items, rows, strict=True):
        assert set(row) == set(item)  # the JSON row's field names, no more, no fewer
        for column, value in item.items():
            assert_same_text(row[column], value, f"{name} {column}")


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_xlsx_has_the_json_rows_and_typed_numbers(world: World, name: str, params: Params) -> None:
    items = [flat(item) for item in get(world, name, params, "json").json()["items"]]

    response = get(world, name, params, "xlsx")

    assert response.headers["content-type"] == XLSX
    assert_attachment(response, name, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    header, *rows = book.worksheets[0].iter_rows(values_only=True)
    assert len(header) == len(set(header))
    assert set(header) == set(items[0])
    assert len(rows) == len(items) > 0
    for item, values in zip(items, rows, strict=True):
        row = dict(zip(header, values, strict=True))
        for column, value in item.items():
            assert_same_cell(row[column], value, column, f"{name} {column}")


def test_the_numbers_are_really_numbers(world: World) -> None:
    response = get(world, "checkpoints", {}, "xlsx")

    book = openpyxl.load_workbook(io.BytesIO(response.content))
    header, first, *_ = book.worksheets[0].iter_rows(values_only=True)
    row = dict(zip(header, first, strict=True))
    assert isinstance(row["stops"], int)
    for column in ("p50_dwell_minutes", "hold_rate", "total_delay_hours"):
        assert isinstance(row[column], float), column


def test_xlsx_lists_the_filters_used_and_when_it_was_made(world: World) -> None:
    params = {"hs_chapter": "72", "province": "baghdad", "from": "2026-10-12T00:00:00Z"}
    started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    response = get(world, "checkpoints", params, "xlsx", who="advocate")

    book = openpyxl.load_workbook(io.BytesIO(response.content))
    about = {row[0]: row[1] for row in book["filters"].iter_rows(values_only=True)}
    assert about["hs_chapter"] == "72"
    assert about["province"] == "baghdad"
    assert datetime.fromisoformat(about["from"]) == datetime.fromisoformat(params["from"])
    assert "to" not in about  # only the filters used
    generated = next(v for k, v in about.items() if str(k).startswith("generated_at"))
    assert isinstance(generated, datetime)
    finished = datetime.now(UTC).replace(tzinfo=None)
    assert started - timedelta(seconds=1) <= generated <= finished + timedelta(seconds=1)
    assert about["service_standard_minutes"] == 60
    assert any(str(k).startswith("min_exporters") and v == 3 for k, v in about.items())
    json_body = get(world, "checkpoints", params, "json", who="advocate").json()
    left_out = next(v for k, v in about.items() if str(k).startswith("excluded_stops"))
    assert left_out == json_body["excluded_stops"] > 0  # the sparse world: most is left out
    assert response.headers["x-excluded-stops"] == str(left_out)
    assert any(str(k).startswith("min_stops") and v == 10 for k, v in about.items())


def test_a_csv_says_what_it_left_out_in_its_headers(world: World) -> None:
    json_body = get(world, "checkpoints", {}, "json", who="advocate").json()
    response = get(world, "checkpoints", {}, "csv", who="advocate")

    assert response.headers["x-excluded-stops"] == str(json_body["excluded_stops"])
    assert datetime.fromisoformat(response.headers["x-as-of"]).tzinfo is not None
    exact = get(world, "checkpoints", {}, "csv", who="admin")
    assert exact.headers["x-excluded-stops"] == "0"


def test_json_echoes_the_filters_used(world: World) -> None:
    params = {"hs_chapter": "04", "destination_province": "baghdad", "checkpoint_id": "@KRK-01"}

    body = get(world, "commodities", params, "json").json()

    assert body["filters"] == resolve(world, params)
    assert datetime.fromisoformat(body["generated_at"]).tzinfo is not None


# --- bad input ------------------------------------------------------------------------------


@pytest.fixture
def advocate_headers(client: TestClient) -> dict[str, str]:
    return make_user(client, admin(client), "advocate").headers


BAD_INPUT = [
    ("checkpoints", {"format": "pdf"}),
    ("trends", {"format": "XLSX"}),
    ("checkpoints", {"hs_chapter": "4"}),
    ("commodities", {"hs_chapter": "ABC"}),
    ("corridors", {"hs_chapter": "720"}),
    ("checkpoints", {"from": "2026-10-01T00:00:00"}),
    ("trends", {"to": "2026-10-01"}),
    ("agencies", {"province": "atlantis"}),
    ("procedures", {"destination_province": "Baghdad"}),
    ("checkpoints", {"checkpoint_id": "KRK-01"}),
    ("checkpoints", {"sort": "unknown"}),
    ("checkpoints", {"sort": "-checkpoint_name"}),
    ("trends", {"interval": "day"}),
    ("procedures", {"by": "exporter"}),
]


@pytest.mark.parametrize(
    ("name", "params"), BAD_INPUT, ids=[f"{n}-{'-'.join(p.values())}" for n, p in BAD_INPUT]
)
def test_bad_input_is_a_422_problem(
    client: TestClient, advocate_headers: dict[str, str], name: str, params: Params
) -> None:
    response = client.get(f"{API}/reports/{name}", params=params, headers=advocate_headers)

    problem = assert_problem(response, 422)
    (parameter,) = params
    assert any(error["loc"][-1] == parameter for error in problem["errors"]), problem
