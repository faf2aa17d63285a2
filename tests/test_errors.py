"""Every error is RFC 9457 problem+json; no error leaks internals or stores data.
Also the request id, the health probes, and the self-hosted API docs."""

import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pythonjsonlogger.json import JsonFormatter

from app.checkpoints import service as checkpoints_service
from app.observability import _JsonLines
from tests.conftest import DatabaseUnderTest
from tests.factories import (
    API,
    PROBLEM_JSON,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_user,
    shipment_payload,
)

MIB = 1024 * 1024


def assert_validation_problem(response: httpx.Response) -> list[dict[str, Any]]:
    problem = assert_problem(response, 422)
    assert problem["errors"], problem
    for error in problem["errors"]:
        assert set(error) == {"loc", "msg", "type"}
        assert isinstance(error["loc"], list)
    return problem["errors"]  # type: ignore[no-any-return]


@pytest.fixture
def exporter(client: TestClient) -> Actor:
    return make_exporter(client, admin(client))


def shipment_ids(client: TestClient, by: Actor) -> list[str]:
    response = client.get(f"{API}/shipments", headers=by.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- 401, 403, 404, 405, 409 ---------------------------------------------------------------


def test_401_without_credentials(client: TestClient) -> None:
    response = client.get(f"{API}/shipments")
    problem = assert_problem(response, 401)
    assert problem["type"] == "/problems/unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_401_with_a_garbage_token(client: TestClient) -> None:
    response = client.get(f"{API}/users/me", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(response, 401)


def test_403_for_the_wrong_role(client: TestClient) -> None:
    advocate = make_user(client, admin(client), "advocate")
    response = client.get(f"{API}/shipments", headers=advocate.headers)
    assert assert_problem(response, 403)["type"] == "/problems/forbidden"


def test_404_for_an_unknown_route(client: TestClient) -> None:
    response = client.get(f"{API}/no-such-thing")
    assert assert_problem(response, 404)["instance"] == f"{API}/no-such-thing"


def test_404_for_an_unknown_id(client: TestClient) -> None:
    boss = admin(client)
    unknown = "00000000-0000-4000-8000-000000000000"
    response = client.get(f"{API}/checkpoints/{unknown}", headers=boss.headers)
    assert assert_problem(response, 404)["type"] == "/problems/not-found"


def test_405_for_a_wrong_method(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert assert_problem(response, 405)["type"] == "/problems/method-not-allowed"
    assert "GET" in response.headers["allow"]


def test_409_for_a_duplicate(client: TestClient) -> None:
    boss = admin(client)
    make_checkpoint(client, boss, code="KRK-SOUTH")
    response = client.post(
        f"{API}/checkpoints",
        json={"code": "KRK-SOUTH", "name": "Again", "province": "kirkuk", "kind": "internal"},
        headers=boss.headers,
    )
    assert assert_problem(response, 409)["type"] == "/problems/conflict"


# --- 413, 415 ------------------------------------------------------------------------------


def oversized_shipment() -> bytes:
    """A syntactically valid shipment just over the 1 MiB default limit."""
    return httpx.Request("POST", "/", json=shipment_payload(origin_city="x" * (MIB + 1))).content


def test_413_when_content_length_is_over_the_limit(client: TestClient, exporter: Actor) -> None:
    body = oversized_shipment()
    headers = {**exporter.headers, "Content-Type": "application/json"}
    response = client.post(f"{API}/shipments", content=body, headers=headers)
    assert assert_problem(response, 413)["type"] == "/problems/payload-too-large"
    assert shipment_ids(client, exporter) == []


def test_413_when_a_streamed_body_grows_over_the_limit(client: TestClient, exporter: Actor) -> None:
    body = oversized_shipment()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    headers = {**exporter.headers, "Content-Type": "application/json"}
    request = client.build_request("POST", f"{API}/shipments", content=chunks(), headers=headers)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_problem(client.send(request), 413)
    assert shipment_ids(client, exporter) == []


def test_415_for_csv_import_sent_as_json(client: TestClient, exporter: Actor) -> None:
    response = client.post(
        f"{API}/shipments/import", json=[shipment_payload()], headers=exporter.headers
    )
    problem = assert_problem(response, 415)
    assert problem["type"] == "/problems/unsupported-media-type"
    assert "text/csv" in problem["detail"]


# --- 422 -----------------------------------------------------------------------------------


def test_422_for_malformed_json(client: TestClient, exporter: Actor) -> None:
    headers = {**exporter.headers, "Content-Type": "application/json"}
    response = client.post(f"{API}/shipments", content=b'{"origin_city": ', headers=headers)
    [error] = assert_validation_problem(response)
    assert error["type"] == "json_invalid"
    assert shipment_ids(client, exporter) == []


def test_422_for_wrong_types_lists_every_field(client: TestClient, exporter: Actor) -> None:
    body = shipment_payload(origin_province="atlantis", distance_km="far")
    response = client.post(f"{API}/shipments", json=body, headers=exporter.headers)
    errors = assert_validation_problem(response)
    assert {tuple(e["loc"]) for e in errors} == {
        ("body", "origin_province"),
        ("body", "distance_km"),
    }
    assert shipment_ids(client, exporter) == []


def test_422_for_a_time_without_offset(client: TestClient, exporter: Actor) -> None:
    body = shipment_payload(planned_departure="2026-11-30T05:00:00")
    response = client.post(f"{API}/shipments", json=body, headers=exporter.headers)
    [error] = assert_validation_problem(response)
    assert error["loc"] == ["body", "planned_departure"]
    assert error["type"] == "timezone_aware"
    assert shipment_ids(client, exporter) == []


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_422_for_a_bad_limit(client: TestClient, exporter: Actor, limit: str) -> None:
    response = client.get(f"{API}/shipments", params={"limit": limit}, headers=exporter.headers)
    [error] = assert_validation_problem(response)
    assert error["loc"] == ["query", "limit"]


def test_422_does_not_echo_the_input(client: TestClient) -> None:
    boss = admin(client)
    body = {"email": "a@example.org", "password": "s3cret-pass", "role": "wizard"}
    response = client.post(f"{API}/users", json=body, headers=boss.headers)
    assert_validation_problem(response)
    assert "s3cret-pass" not in response.text


# --- 500 -----------------------------------------------------------------------------------


@pytest.fixture
def fragile_client(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client that sees the 500 response (instead of the exception) of a broken service."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom SELECT secret FROM checkpoints")

    monkeypatch.setattr(checkpoints_service, "list_checkpoints", broken)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_500_is_a_problem_without_internals(fragile_client: TestClient) -> None:
    boss = admin(fragile_client)
    response = fragile_client.get(f"{API}/checkpoints", headers=boss.headers)
    problem = assert_problem(response, 500)
    for leak in ("Traceback", "boom", "SELECT", "RuntimeError", "secret"):
        assert leak not in response.text
    assert problem["request_id"] == response.headers["x-request-id"]


def test_500_keeps_a_sane_incoming_request_id(fragile_client: TestClient) -> None:
    boss = admin(fragile_client)
    headers = {**boss.headers, "X-Request-ID": "erp-run-42"}
    response = fragile_client.get(f"{API}/checkpoints", headers=headers)
    assert assert_problem(response, 500)["request_id"] == "erp-run-42"
    assert response.headers["x-request-id"] == "erp-run-42"


# --- request id ----------------------------------------------------------------------------


def test_a_sane_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "erp.batch_7-A"})
    assert response.headers["x-request-id"] == "erp.batch_7-A"


def test_errors_carry_the_request_id(client: TestClient) -> None:
    response = client.get(f"{API}/shipments", headers={"X-Request-ID": "trace-1"})
    assert assert_problem(response, 401)["request_id"] == "trace-1"


@pytest.mark.parametrize("unsafe", ["two words", "x" * 200, "a\tb", "<script>", ""])
def test_an_unsafe_request_id_is_replaced(client: TestClient, unsafe: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": unsafe})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_without_a_request_id_each_request_gets_its_own(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


# --- health, OpenAPI, docs -----------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_database(client: TestClient, database: DatabaseUnderTest) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    expected = {"sqlite": "sqlite", "postgres": "postgresql"}[database.backend]
    assert response.json() == {"status": "ready", "database": expected}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/shipments", "422"),
        ("post", "/shipments", "409"),
        ("get", "/shipments/{shipment_id}", "404"),
        ("post", "/shipments/import", "415"),
        ("post", "/checkpoints", "403"),
        ("get", "/checkpoints", "401"),
    ],
)
def test_openapi_documents_problem_json(
    client: TestClient, method: str, path: str, status: str
) -> None:
    schema = client.get("/openapi.json").json()
    response = schema["paths"][API + path][method]["responses"][status]
    assert response["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css"} <= set(assets)
    for asset in assets:
        assert asset.startswith("/static/docs/"), asset
        assert client.get(asset).status_code == 200, asset


# --- the JSON log lines ----------------------------------------------------------------------


def _record(**extra: Any) -> logging.LogRecord:
    record = logging.getLogger("app.access").makeRecord(
        "app.access", logging.INFO, __file__, 1, "request %s", ("sent",), None, extra=extra
    )
    record.request_id = "erp-run-42"
    return record


@pytest.mark.parametrize(
    "extra",
    [
        {"method": "POST", "path": "/api/v1/sync", "status": 201, "duration_ms": 1.5},
        {"path": "/ملاحظة", "count": None, "ok": True},  # not ASCII; null; a boolean
        {"id": uuid.UUID(int=7), "at": datetime(2026, 1, 1, tzinfo=UTC)},  # the library's types
    ],
)
def test_log_lines_are_python_json_loggers_own(extra: dict[str, Any]) -> None:
    """The quicker formatter of the usual lines writes exactly what the library would."""
    fields = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
    names = {"asctime": "time", "levelname": "level", "name": "logger"}
    ours = _JsonLines(fields, rename_fields=names)
    library = JsonFormatter(fields, rename_fields=names)
    record = _record(**extra)
    line = ours.format(record)
    assert line == library.format(record)
    assert json.loads(line)["logger"] == "app.access"
    assert json.loads(line)["request_id"] == "erp-run-42"
