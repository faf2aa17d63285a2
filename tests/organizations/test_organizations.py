"""Organisations: admin only; unique names; cursor pagination."""

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.factories import API, admin, assert_problem, make_exporter, make_org, make_user


def test_admin_creates_an_organisation(client: TestClient) -> None:
    boss = admin(client)
    body = {"name": "Sulaymaniyah Cement Co.", "province": "sulaymaniyah"}
    response = client.post(f"{API}/organizations", json=body, headers=boss.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == body["name"]
    assert created["province"] == "sulaymaniyah"
    fetched = client.get(f"{API}/organizations/{created['id']}", headers=boss.headers)
    assert fetched.json() == created


def test_duplicate_name_gets_409(client: TestClient) -> None:
    boss = admin(client)
    make_org(client, boss, "Erbil Steel")
    again = {"name": "Erbil Steel"}
    response = client.post(f"{API}/organizations", json=again, headers=boss.headers)
    problem = assert_problem(response, 409)
    assert "Erbil Steel" in problem["detail"]


def test_list_walks_every_organisation_once_by_cursor(client: TestClient) -> None:
    boss = admin(client)
    created = {make_org(client, boss)["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{API}/organizations", params=params, headers=boss.headers).json()
        assert len(page["items"]) <= 2
        seen += [org["id"] for org in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    assert cursor is None


def test_invalid_cursor_gets_422(client: TestClient) -> None:
    boss = admin(client)
    response = client.get(f"{API}/organizations?cursor=not-a-cursor", headers=boss.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("limit", [0, 501])
def test_limit_outside_1_to_500_gets_422(client: TestClient, limit: int) -> None:
    boss = admin(client)
    response = client.get(f"{API}/organizations?limit={limit}", headers=boss.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", "limit"]


def test_unknown_organisation_gets_404(client: TestClient) -> None:
    boss = admin(client)
    response = client.get(f"{API}/organizations/{uuid.uuid4()}", headers=boss.headers)
    assert_problem(response, 404)


@pytest.mark.parametrize("role", ["exporter", "advocate"])
def test_non_admins_get_403(client: TestClient, role: str) -> None:
    boss = admin(client)
    org = make_org(client, boss)
    user = make_exporter(client, boss, org) if role == "exporter" else make_user(client, boss, role)
    create = client.post(f"{API}/organizations", json={"name": "Mine"}, headers=user.headers)
    assert_problem(create, 403)
    assert_problem(client.get(f"{API}/organizations", headers=user.headers), 403)
    assert_problem(client.get(f"{API}/organizations/{org['id']}", headers=user.headers), 403)
