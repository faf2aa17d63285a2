"""POST /shipments/import: a CSV file, one row per cargo line, a result for every row."""

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_user,
)

COLUMNS = [
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
    "hs_code",
    "description",
    "quantity",
    "unit",
    "weight_kg",
    "value_usd",
]


def row(reference: str, **overrides: str) -> dict[str, str]:
    values = {
        "reference": reference,
        "origin_province": "erbil",
        "origin_city": "Erbil",
        "destination_province": "baghdad",
        "destination_city": "Baghdad",
        "truck_plate": "21 B 12345 EBL",
        "driver_name": "Dilshad Hassan",
        "driver_phone": "+9647501234567",
        "planned_departure": "2026-11-30T05:00:00+03:00",
        "route": "",
        "hs_code": "7214.20",
        "description": "Steel bars, hot-rolled",
        "quantity": "40",
        "unit": "t",
        "weight_kg": "40000",
        "value_usd": "26000.50",
    }
    values.update(overrides)
    return values


def to_csv(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def upload(
    client: TestClient,
    by: Actor,
    content: bytes,
    content_type: str = "text/csv",
    **params: Any,
) -> httpx.Response:
    headers = {**by.headers, "Content-Type": content_type}
    return client.post(f"{API}/shipments/import", content=content, params=params, headers=headers)


def stored(client: TestClient, by: Actor) -> list[dict[str, Any]]:
    response = client.get(f"{API}/shipments", params={"limit": 500}, headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_valid_file_creates_every_shipment(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    first, second = make_checkpoint(client, boss), make_checkpoint(client, boss)
    route = f"{first['code']}|{second['code'].lower()}"
    response = upload(client, exporter, to_csv([row("A", route=route), row("B")]))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["failed_rows"], result["atomic"]) == (2, 0, False)
    assert [r["row"] for r in result["rows"]] == [2, 3]
    assert {r["status"] for r in result["rows"]} == {"created"}
    assert all(r["tracking_code"].startswith("KRD-") for r in result["rows"])
    by_reference = {s["reference"]: s for s in stored(client, exporter)}
    assert by_reference["A"]["route"] == [first["id"], second["id"]]
    assert by_reference["A"]["cargo"][0]["hs_code"] == "721420"
    assert by_reference["A"]["cargo"][0]["value_usd"] == 26000.5


def test_rows_sharing_a_reference_are_one_shipment(client: TestClient, exporter: Actor) -> None:
    rows = [row("A"), row("A", hs_code="252329", description="Cement", unit="bag")]
    result = upload(client, exporter, to_csv(rows)).json()
    assert result["created"] == 1
    assert result["rows"][0]["shipment_id"] == result["rows"][1]["shipment_id"]
    [shipment] = stored(client, exporter)
    cargo = [(line["line_no"], line["hs_code"]) for line in shipment["cargo"]]
    assert cargo == [(1, "721420"), (2, "252329")]


def test_bad_rows_fail_and_good_shipments_are_created(
    client: TestClient, boss: Actor, exporter: Actor
) -> None:
    known = make_checkpoint(client, boss)
    rows = [
        row("A", route=known["code"]),
        row("B", planned_departure="2026-11-30T05:00:00"),  # line 3: no offset
        row("C"),
        row("D", route=f"{known['code']}|NO-SUCH-CODE"),  # line 5
        row("E"),
    ]
    result = upload(client, exporter, to_csv(rows)).json()
    assert (result["created"], result["failed_rows"]) == (3, 2)
    status = {r["row"]: r["status"] for r in result["rows"]}
    assert status == {2: "created", 3: "failed", 4: "created", 5: "failed", 6: "created"}
    errors = {r["row"]: r["errors"] for r in result["rows"] if r["status"] == "failed"}
    assert [e["column"] for e in errors[3]] == ["planned_departure"]
    assert [e["column"] for e in errors[5]] == ["route"]
    assert "NO-SUCH-CODE" in errors[5][0]["msg"]
    assert sorted(s["reference"] for s in stored(client, exporter)) == ["A", "C", "E"]


def test_a_bad_cargo_row_fails_its_whole_shipment(client: TestClient, exporter: Actor) -> None:
    rows = [row("A"), row("A", quantity="-3"), row("B")]
    result = upload(client, exporter, to_csv(rows)).json()
    by_line = {r["row"]: r for r in result["rows"]}
    assert [e["column"] for e in by_line[3]["errors"]] == ["quantity"]
    assert by_line[2]["status"] == "failed"  # fine itself, but its shipment is not
    assert by_line[4]["status"] == "created"
    assert [s["reference"] for s in stored(client, exporter)] == ["B"]


def test_atomic_import_with_a_bad_row_stores_nothing(client: TestClient, exporter: Actor) -> None:
    rows = [row("A"), row("B", origin_province="atlantis"), row("C")]
    response = upload(client, exporter, to_csv(rows), atomic="true")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["atomic"]) == (0, True)
    assert [(r["row"], r["status"]) for r in result["rows"]] == [
        (2, "skipped"),
        (3, "failed"),
        (4, "skipped"),
    ]
    assert result["rows"][1]["errors"][0]["column"] == "origin_province"
    assert stored(client, exporter) == []


def test_reference_already_stored_fails_its_row(client: TestClient, exporter: Actor) -> None:
    upload(client, exporter, to_csv([row("A")]))
    result = upload(client, exporter, to_csv([row("A"), row("B")])).json()
    assert [(r["row"], r["status"]) for r in result["rows"]] == [(2, "failed"), (3, "created")]
    assert result["rows"][0]["errors"][0]["column"] == "reference"


def test_file_with_a_byte_order_mark_works(client: TestClient, exporter: Actor) -> None:
    response = upload(client, exporter, b"\xef\xbb\xbf" + to_csv([row("A")]))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


def test_arabic_and_kurdish_city_names_round_trip(client: TestClient, exporter: Actor) -> None:
    rows = [row("A", origin_city="هەولێر", destination_city="بغداد", driver_name="دلشاد حسن")]
    assert upload(client, exporter, to_csv(rows)).json()["created"] == 1
    [shipment] = stored(client, exporter)
    assert (shipment["origin_city"], shipment["destination_city"]) == ("هەولێر", "بغداد")
    assert shipment["driver_name"] == "دلشاد حسن"


def test_missing_required_column_is_422_naming_it(client: TestClient, exporter: Actor) -> None:
    columns = [c for c in COLUMNS if c != "driver_phone"]
    rows = [{k: v for k, v in row("A").items() if k in columns}]
    problem = assert_problem(upload(client, exporter, to_csv(rows, columns)), 422)
    assert "driver_phone" in problem["detail"]
    assert stored(client, exporter) == []


def test_unknown_column_is_422_naming_it(client: TestClient, exporter: Actor) -> None:
    rows = [{**row("A"), "colour": "red"}]
    problem = assert_problem(upload(client, exporter, to_csv(rows, [*COLUMNS, "colour"])), 422)
    assert "colour" in problem["detail"]


def test_file_that_is_not_utf8_is_422(client: TestClient, exporter: Actor) -> None:
    content = to_csv([row("A", origin_city="Erbil")]).replace(b"Erbil", "Érbil".encode("latin-1"))
    problem = assert_problem(upload(client, exporter, content), 422)
    assert "UTF-8" in problem["detail"]


def test_header_without_rows_is_422(client: TestClient, exporter: Actor) -> None:
    assert_problem(upload(client, exporter, to_csv([])), 422)


def test_wrong_content_type_is_415(client: TestClient, exporter: Actor) -> None:
    response = upload(client, exporter, to_csv([row("A")]), content_type="application/json")
    assert_problem(response, 415)
    assert stored(client, exporter) == []


def test_only_exporters_import(client: TestClient, boss: Actor) -> None:
    advocate = make_user(client, boss, "advocate")
    assert_problem(upload(client, advocate, to_csv([row("A")])), 403)


def test_file_over_the_default_body_limit_but_under_the_import_limit_is_accepted(
    client: TestClient, exporter: Actor
) -> None:
    # 3,400 cargo lines of ~450 bytes: 34 shipments of 100 lines, about 1.5 MB.
    description = "Ceramic floor tiles, glazed, 60x60 cm, boxed; " * 9
    rows = [row(f"S-{i // 100}", description=description[:450]) for i in range(3_400)]
    content = to_csv(rows)
    assert 1_400_000 < len(content) < 2_000_000
    response = upload(client, exporter, content)
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["failed_rows"]) == (34, 0)


@pytest.fixture
def small_client(db_url: str) -> Iterator[TestClient]:
    app = create_app(make_settings(db_url, max_import_bytes=4096))
    with TestClient(app) as test_client:
        yield test_client


def test_file_over_the_import_limit_is_413(small_client: TestClient) -> None:
    exporter = make_exporter(small_client, admin(small_client))
    content = to_csv([row(f"R-{i}") for i in range(40)])
    assert len(content) > 4096
    problem = assert_problem(upload(small_client, exporter, content), 413)
    assert "4096" in problem["detail"]
    assert stored(small_client, exporter) == []
