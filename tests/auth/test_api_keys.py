"""API keys: an exporter's long-lived credential, shown once and stored only as a hash."""

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_exporter,
    make_shipment,
    make_user,
)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create_key(client: TestClient, by: Actor, name: str = "ERP") -> dict[str, Any]:
    response = client.post(f"{API}/api-keys", json={"name": name}, headers=by.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def exporter(client: TestClient) -> Actor:
    return make_exporter(client, admin(client))


def test_created_key_is_shown_once(client: TestClient, exporter: Actor) -> None:
    created = create_key(client, exporter, "ERP integration")
    assert created["key"].startswith("cct_")
    assert created["key"].startswith(created["prefix"])
    assert created["name"] == "ERP integration"
    assert created["revoked_at"] is None
    listed = client.get(f"{API}/api-keys", headers=exporter.headers)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["id"] == created["id"]
    assert "key" not in item
    assert created["key"] not in listed.text


def test_database_stores_only_the_sha256_of_the_key(
    client: TestClient, exporter: Actor, engine: Engine
) -> None:
    created = create_key(client, exporter)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM api_keys")).mappings().one()
    assert row["key_hash"] == hashlib.sha256(created["key"].encode()).hexdigest()
    assert all(created["key"] not in str(value) for value in row.values())


def test_key_authenticates_as_its_user(client: TestClient, exporter: Actor) -> None:
    shipment = make_shipment(client, exporter)
    key = create_key(client, exporter)["key"]
    me = client.get(f"{API}/users/me", headers=bearer(key))
    assert me.status_code == 200
    assert me.json()["id"] == exporter.user["id"]
    shipments = client.get(f"{API}/shipments", headers=bearer(key))
    assert shipments.status_code == 200
    assert [s["id"] for s in shipments.json()["items"]] == [shipment["id"]]


def test_revoked_key_gets_401(client: TestClient, exporter: Actor) -> None:
    created = create_key(client, exporter)
    response = client.delete(f"{API}/api-keys/{created['id']}", headers=exporter.headers)
    assert response.status_code == 204
    assert_problem(client.get(f"{API}/users/me", headers=bearer(created["key"])), 401)
    [item] = client.get(f"{API}/api-keys", headers=exporter.headers).json()["items"]
    assert item["revoked_at"] is not None


def test_revoking_another_users_key_gets_404(client: TestClient, exporter: Actor) -> None:
    created = create_key(client, exporter)
    other = make_exporter(client, admin(client), exporter.organization)
    response = client.delete(f"{API}/api-keys/{created['id']}", headers=other.headers)
    assert_problem(response, 404)
    assert client.get(f"{API}/users/me", headers=bearer(created["key"])).status_code == 200


def test_api_key_cannot_create_or_revoke_keys(client: TestClient, exporter: Actor) -> None:
    created = create_key(client, exporter)
    as_key = bearer(created["key"])
    assert_problem(client.post(f"{API}/api-keys", json={"name": "more"}, headers=as_key), 403)
    assert_problem(client.delete(f"{API}/api-keys/{created['id']}", headers=as_key), 403)
    assert client.get(f"{API}/users/me", headers=as_key).status_code == 200


@pytest.mark.parametrize("role", ["admin", "advocate"])
def test_only_exporters_create_keys(client: TestClient, role: str) -> None:
    boss = admin(client)
    user = boss if role == "admin" else make_user(client, boss, role)
    response = client.post(f"{API}/api-keys", json={"name": "mine"}, headers=user.headers)
    assert_problem(response, 403)


def test_unknown_fields_in_the_body_get_422(client: TestClient, exporter: Actor) -> None:
    body = {"name": "ERP", "key": "cct_chosen-by-me"}
    response = client.post(f"{API}/api-keys", json=body, headers=exporter.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "key"]
