"""Users: admin only; roles and membership rules; deactivation and password reset."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from app.auth.models import User
from tests.conftest import DatabaseUnderTest
from tests.factories import API, Actor, admin, assert_problem, make_org, make_user


def post_user(client: TestClient, by: Actor, **fields: Any) -> httpx.Response:
    body = {"email": f"u-{uuid.uuid4().hex[:8]}@example.org", "password": "password-1"}
    body.update(fields)
    return client.post(f"{API}/users", json=body, headers=by.headers)


def sign_in(client: TestClient, email: str, password: str) -> int:
    data = {"username": email, "password": password}
    return client.post(f"{API}/auth/token", data=data).status_code


@pytest.fixture
def boss(client: TestClient) -> Actor:
    return admin(client)


def test_admin_creates_an_exporter_in_an_organisation(client: TestClient, boss: Actor) -> None:
    org = make_org(client, boss)
    response = post_user(client, boss, role="exporter", organization_id=org["id"], full_name="Aso")
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["role"] == "exporter"
    assert user["organization_id"] == org["id"]
    assert user["full_name"] == "Aso"
    assert user["is_active"] is True


def test_response_never_contains_the_password_or_its_hash(client: TestClient, boss: Actor) -> None:
    created = post_user(client, boss, role="advocate", password="secret-words-77")
    listed = client.get(f"{API}/users", headers=boss.headers)
    fetched = client.get(f"{API}/users/{created.json()['id']}", headers=boss.headers)
    for response in (created, listed, fetched):
        assert response.status_code in (200, 201)
        assert "secret-words-77" not in response.text
        assert "password" not in response.text
        assert "argon2" not in response.text


def test_exporter_without_organisation_gets_422(client: TestClient, boss: Actor) -> None:
    problem = assert_problem(post_user(client, boss, role="exporter"), 422)
    assert problem["errors"][0]["loc"] == ["body", "organization_id"]


def test_advocate_with_an_organisation_gets_422(client: TestClient, boss: Actor) -> None:
    org = make_org(client, boss)
    response = post_user(client, boss, role="advocate", organization_id=org["id"])
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "organization_id"]


def test_unknown_organisation_gets_422(client: TestClient, boss: Actor) -> None:
    response = post_user(client, boss, role="exporter", organization_id=str(uuid.uuid4()))
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "organization_id"]


def test_duplicate_email_in_any_case_gets_409(client: TestClient, boss: Actor) -> None:
    assert post_user(client, boss, role="advocate", email="Dara@Example.org").status_code == 201
    response = post_user(client, boss, role="advocate", email="DARA@example.ORG")
    assert_problem(response, 409)


def test_password_shorter_than_8_gets_422(client: TestClient, boss: Actor) -> None:
    problem = assert_problem(post_user(client, boss, role="advocate", password="short12"), 422)
    assert problem["errors"][0]["loc"] == ["body", "password"]
    assert "short12" not in str(problem)


@pytest.mark.parametrize("role", ["superuser", "driver", "Admin", ""])
def test_role_outside_admin_exporter_advocate_gets_422(
    client: TestClient, boss: Actor, role: str
) -> None:
    problem = assert_problem(post_user(client, boss, role=role), 422)
    assert problem["errors"][0]["loc"] == ["body", "role"]


def test_list_filters_by_role_and_organisation(client: TestClient, boss: Actor) -> None:
    org_a, org_b = make_org(client, boss), make_org(client, boss)
    in_a = make_user(client, boss, "exporter", org_a)
    make_user(client, boss, "exporter", org_b)
    advocate = make_user(client, boss, "advocate")

    def ids(**params: str) -> set[str]:
        response = client.get(f"{API}/users", params=params, headers=boss.headers)
        assert response.status_code == 200, response.text
        return {u["id"] for u in response.json()["items"]}

    assert ids(role="advocate") == {advocate.user["id"]}
    assert ids(organization_id=org_a["id"]) == {in_a.user["id"]}
    assert ids(role="exporter", organization_id=org_a["id"]) == {in_a.user["id"]}
    assert ids(role="admin") == {boss.user["id"]}
    assert_problem(client.get(f"{API}/users?role=driver", headers=boss.headers), 422)


def test_deactivated_user_can_no_longer_sign_in(client: TestClient, boss: Actor) -> None:
    created = post_user(client, boss, role="advocate", email="leaving@example.org").json()
    assert sign_in(client, "leaving@example.org", "password-1") == 200
    url = f"{API}/users/{created['id']}"
    response = client.patch(url, json={"is_active": False}, headers=boss.headers)
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert sign_in(client, "leaving@example.org", "password-1") == 401


def test_deactivating_the_last_active_admin_gets_409(client: TestClient, boss: Actor) -> None:
    url = f"{API}/users/{boss.user['id']}"
    assert_problem(client.patch(url, json={"is_active": False}, headers=boss.headers), 409)
    assert client.get(f"{API}/users/me", headers=boss.headers).json()["is_active"] is True


def test_an_admin_can_be_deactivated_while_another_remains(client: TestClient, boss: Actor) -> None:
    second = make_user(client, boss, "admin")
    url = f"{API}/users/{boss.user['id']}"
    assert client.patch(url, json={"is_active": False}, headers=second.headers).status_code == 200
    url = f"{API}/users/{second.user['id']}"
    assert_problem(client.patch(url, json={"is_active": False}, headers=second.headers), 409)


def test_deactivating_an_already_inactive_admin_is_harmless(
    client: TestClient, boss: Actor
) -> None:
    second = make_user(client, boss, "admin")
    url = f"{API}/users/{boss.user['id']}"
    for _ in range(2):
        response = client.patch(url, json={"is_active": False}, headers=second.headers)
        assert response.status_code == 200, response.text


def test_two_admins_deactivating_each_other_at_once_leave_one_active(
    client: TestClient, boss: Actor, engine: Engine, database: DatabaseUnderTest
) -> None:
    if database.backend != "postgres":
        pytest.skip("SQLite's BEGIN IMMEDIATE serialises writers; the race is PostgreSQL's")
    second = make_user(client, boss, "admin")
    admins = select(User.id).where(User.role == "admin")
    waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")

    def deactivate(pair: tuple[Actor, Actor]) -> int:
        by, target = pair
        url = f"{API}/users/{target.user['id']}"
        return client.patch(url, json={"is_active": False}, headers=by.headers).status_code

    with ThreadPoolExecutor(2) as pool, engine.connect() as holder:
        holder.execute(admins.with_for_update())  # both requests queue behind this lock
        results = pool.map(deactivate, [(boss, second), (second, boss)])
        with engine.connect() as probe:
            deadline = time.monotonic() + 10
            while probe.execute(waiting).scalar() < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        holder.commit()
        statuses = sorted(results)
    assert statuses == [200, 409]
    with engine.connect() as connection:
        assert len(connection.execute(admins.where(User.is_active)).all()) == 1


def test_password_reset_replaces_the_old_password(client: TestClient, boss: Actor) -> None:
    created = post_user(client, boss, role="advocate", email="reset@example.org").json()
    url = f"{API}/users/{created['id']}"
    response = client.patch(url, json={"password": "brand-new-pass"}, headers=boss.headers)
    assert response.status_code == 200
    assert sign_in(client, "reset@example.org", "password-1") == 401
    assert sign_in(client, "reset@example.org", "brand-new-pass") == 200


def test_patch_cannot_change_the_role(client: TestClient, boss: Actor) -> None:
    advocate = make_user(client, boss, "advocate")
    url = f"{API}/users/{advocate.user['id']}"
    response = client.patch(url, json={"role": "admin"}, headers=boss.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "role"]
    assert client.get(url, headers=boss.headers).json()["role"] == "advocate"


def test_unknown_user_gets_404(client: TestClient, boss: Actor) -> None:
    url = f"{API}/users/{uuid.uuid4()}"
    assert_problem(client.get(url, headers=boss.headers), 404)
    assert_problem(client.patch(url, json={"full_name": "X"}, headers=boss.headers), 404)


@pytest.mark.parametrize("role", ["exporter", "advocate"])
def test_non_admins_cannot_manage_users(client: TestClient, boss: Actor, role: str) -> None:
    org = make_org(client, boss) if role == "exporter" else None
    user = make_user(client, boss, role, org)
    assert_problem(post_user(client, user, role="admin"), 403)
    assert_problem(client.get(f"{API}/users", headers=user.headers), 403)
    url = f"{API}/users/{user.user['id']}"
    assert_problem(client.patch(url, json={"full_name": "Me"}, headers=user.headers), 403)
