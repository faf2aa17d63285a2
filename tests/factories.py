"""Small factories that build test data through the API, as a client would."""

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "admin-password-1"
API = "/api/v1"
_counter = itertools.count(1)
PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with this status: the right media type and the members it needs."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(problem[member], str), member
        assert problem[member], member
    return problem


@dataclass
class Actor:
    headers: dict[str, str]
    user: dict[str, Any]
    organization: dict[str, Any] | None = None

    @property
    def organization_id(self) -> str | None:
        return self.organization["id"] if self.organization else None


def login(client: TestClient, email: str, password: str) -> dict[str, str]:
    response = client.post(f"{API}/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def admin(client: TestClient) -> Actor:
    headers = login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = client.get(f"{API}/users/me", headers=headers).json()
    return Actor(headers, me)


def make_org(client: TestClient, by: Actor, name: str | None = None) -> dict[str, Any]:
    name = name or f"Exporter {next(_counter)} {uuid.uuid4().hex[:6]}"
    response = client.post(f"{API}/organizations", json={"name": name}, headers=by.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def make_user(
    client: TestClient, by: Actor, role: str, organization: dict[str, Any] | None = None
) -> Actor:
    email = f"{role}{next(_counter)}-{uuid.uuid4().hex[:6]}@example.org"
    password = "password-" + uuid.uuid4().hex[:8]
    body = {"email": email, "password": password, "role": role}
    if organization is not None:
        body["organization_id"] = organization["id"]
    response = client.post(f"{API}/users", json=body, headers=by.headers)
    assert response.status_code == 201, response.text
    return Actor(login(client, email, password), response.json(), organization)


def make_exporter(
    client: TestClient, by: Actor, organization: dict[str, Any] | None = None
) -> Actor:
    return make_user(client, by, "exporter", organization or make_org(client, by))


def make_checkpoint(client: TestClient, by: Actor, **overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    body = {
        "code": f"CP-{n:04d}",
        "name": f"Checkpoint {n}",
        "name_ar": f"سيطرة {n}",
        "name_ckb": f"بازگە {n}",
        "province": "kirkuk",
        "kind": "province_entry",
        "authority": "army",
        "jurisdiction": "federal",
        "latitude": 35.40 + n / 1000,
        "longitude": 44.30,
    }
    body.update(overrides)
    response = client.post(f"{API}/checkpoints", json=body, headers=by.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def shipment_payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "origin_province": "sulaymaniyah",
        "origin_city": "Sulaymaniyah",
        "destination_province": "baghdad",
        "destination_city": "Baghdad",
        "truck_plate": "22 A 45871 SUL",
        "driver_name": "Karwan Ahmed",
        "driver_phone": "+9647701234567",
        "planned_departure": "2026-11-30T05:00:00+03:00",
        "cargo": [
            {
                "hs_code": "252329",
                "description": "Portland cement, bagged",
                "quantity": 600,
                "unit": "bag",
                "weight_kg": 30000,
                "value_usd": 2700,
            }
        ],
    }
    body.update(overrides)
    return body


def make_shipment(client: TestClient, by: Actor, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        f"{API}/shipments", json=shipment_payload(**overrides), headers=by.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
