"""Schemathesis against the app's own OpenAPI: every operation, authenticated, with the checks
for server errors and response-schema conformance. A 500 is a bug; so is an answer the schema
does not describe (an undocumented status, a body of another shape, a missing problem member).
"""

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.openapi import from_asgi

from app.main import create_app
from tests.conftest import DatabaseUnderTest, make_settings
from tests.factories import (
    API,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_shipment,
    shipment_payload,
)

# FUZZ_EXAMPLES=300 for a longer, randomised hunt; CI runs a fixed (derandomised) sample.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
DERANDOMIZE = "FUZZ_EXAMPLES" not in os.environ
# Business rules the schema cannot express (an unknown checkpoint id, a shipment that is not
# yours) rightly turn schema-valid input away, so "positive data accepted" is not checked.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
# Operations only an admin may call; everything else runs as an exporter (who owns data).
ADMIN_PREFIXES = ("/organizations", "/users")


@dataclass
class Fuzzed:
    app: Any
    admin_headers: dict[str, str]
    exporter_headers: dict[str, str]


@pytest.fixture
def fuzzed(database: DatabaseUnderTest, tmp_path: Any) -> Iterator[Fuzzed]:
    app = create_app(make_settings(database.url_for_test(tmp_path)))
    with TestClient(app) as client:
        boss = admin(client)
        exporter = make_exporter(client, boss)
        checkpoint = make_checkpoint(client, boss)
        make_shipment(client, exporter, route=[checkpoint["id"]])
        yield Fuzzed(app, boss.headers, exporter.headers)
    database.reset()


def headers_for(fuzzed: Fuzzed, method: str, path: str) -> dict[str, str]:
    local = path.removeprefix(API)
    if local == "/users/me":
        return fuzzed.exporter_headers
    admin_only = local.startswith(ADMIN_PREFIXES) or (
        local.startswith("/checkpoints") and method.upper() in {"POST", "PATCH"}
    )
    return fuzzed.admin_headers if admin_only else fuzzed.exporter_headers


# The schema is the app's own; each test case is then sent to the fixture's app (its database).
_SCHEMA_ONLY = f"sqlite:///{tempfile.gettempdir()}/clearance-schema-only.db"  # never opened
schema = from_asgi(
    "/openapi.json", create_app(make_settings(_SCHEMA_ONLY, bootstrap_admin_email=None))
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any, fuzzed: Fuzzed) -> None:
    headers = headers_for(fuzzed, case.method, case.path)
    case.call_and_validate(app=fuzzed.app, headers=headers, checks=CHECKS)


# What the fuzzer found, pinned as plain tests so that they stay fixed whatever it samples.
TIMES_THAT_ARE_NOT_RFC_3339 = [
    "0.5",  # read as Unix seconds by Pydantic's lax mode
    "1700000000",
    "0001-01-01T00:00:00+00:05",  # valid text, but before year 1 once in UTC: was a 500
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC: was a 500
]


@pytest.mark.parametrize("when", TIMES_THAT_ARE_NOT_RFC_3339)
def test_times_that_do_not_fit_are_422_everywhere(client: TestClient, when: str) -> None:
    boss = admin(client)
    exporter = make_exporter(client, boss)
    shipment = make_shipment(client, exporter)
    for path in ("/reports/checkpoints", "/reports/trends", "/shipments"):
        for name in ("from", "to") if path.startswith("/reports") else ("created_from",):
            response = client.get(f"{API}{path}", params={name: when}, headers=boss.headers)
            assert_problem(response, 422)
    event = {"event_id": str(uuid.uuid4()), "type": "note", "occurred_at": when, "note": "n"}
    url = f"{API}/shipments/{shipment['id']}/events"
    assert_problem(client.post(url, json=event, headers=exporter.headers), 422)
    body = {"shipment_id": shipment["id"], "events": [event]}
    synced = client.post(f"{API}/sync", json=body, headers=exporter.headers)
    assert synced.status_code == 200, synced.text
    assert synced.json()["results"][0]["status"] == "rejected"
    late = shipment_payload(planned_departure=when)
    assert_problem(client.post(f"{API}/shipments", json=late, headers=exporter.headers), 422)


def test_numbers_are_not_times_in_json_either(client: TestClient) -> None:
    exporter = make_exporter(client, admin(client))
    shipment = make_shipment(client, exporter)
    event = {"event_id": str(uuid.uuid4()), "type": "note", "occurred_at": 1700000000}
    url = f"{API}/shipments/{shipment['id']}/events"
    assert_problem(client.post(url, json=event, headers=exporter.headers), 422)


def test_a_body_that_is_not_utf8_is_a_422_not_an_undocumented_400(client: TestClient) -> None:
    exporter = make_exporter(client, admin(client))
    response = client.post(
        f"{API}/shipments",
        content=b'{"origin_city": "\xff\xfe"}',
        headers={**exporter.headers, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "change",
    [{"active": 0}, {"active": "false"}, {"latitude": True, "longitude": 44.0}, {"latitude": "36"}],
)
def test_booleans_and_coordinates_are_not_coerced(
    client: TestClient, change: dict[str, Any]
) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    url = f"{API}/checkpoints/{checkpoint['id']}"
    assert_problem(client.patch(url, json=change, headers=boss.headers), 422)
