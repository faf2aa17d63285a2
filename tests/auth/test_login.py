import httpx
from fastapi.testclient import TestClient

from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API, admin, assert_problem, login


def sign_in(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post(f"{API}/auth/token", data={"username": email, "password": password})


def test_sign_in_returns_a_bearer_token_valid_for_an_hour(client: TestClient) -> None:
    response = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2


def test_email_is_case_insensitive(client: TestClient) -> None:
    response = sign_in(client, "  " + ADMIN_EMAIL.upper(), ADMIN_PASSWORD)
    assert response.status_code == 200, response.text


def test_unknown_email_and_wrong_password_get_the_same_401(client: TestClient) -> None:
    unknown = assert_problem(sign_in(client, "nobody@example.org", ADMIN_PASSWORD), 401)
    wrong = sign_in(client, ADMIN_EMAIL, "not-the-password")
    assert_problem(wrong, 401)
    assert wrong.headers["www-authenticate"] == "Bearer"
    keys = ("type", "title", "status", "detail")
    assert {k: unknown[k] for k in keys} == {k: wrong.json()[k] for k in keys}


def test_an_email_with_a_nul_byte_is_an_ordinary_401(client: TestClient) -> None:
    """PostgreSQL refuses a NUL in text; the sign-in must not pass it to the database."""
    body = assert_problem(sign_in(client, "ad\x00min@example.org", ADMIN_PASSWORD), 401)
    assert body["detail"] == "Incorrect email or password."


def test_deactivated_user_cannot_sign_in(client: TestClient) -> None:
    boss = admin(client)
    body = {"email": "gone@example.org", "password": "right-password", "role": "advocate"}
    user = client.post(f"{API}/users", json=body, headers=boss.headers).json()
    assert sign_in(client, "gone@example.org", "right-password").status_code == 200
    url = f"{API}/users/{user['id']}"
    assert client.patch(url, json={"is_active": False}, headers=boss.headers).status_code == 200
    # The right password, yet the same answer as a wrong one.
    problem = assert_problem(sign_in(client, "gone@example.org", "right-password"), 401)
    assert problem["detail"] == "Incorrect email or password."


def test_missing_form_fields_get_a_422_listing_them(client: TestClient) -> None:
    body = assert_problem(client.post(f"{API}/auth/token", data={}), 422)
    missing = {err["loc"][-1] for err in body["errors"]}
    assert missing == {"username", "password"}


def test_users_me_returns_the_caller_without_the_password_hash(client: TestClient) -> None:
    headers = login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    response = client.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 200
    me = response.json()
    assert me["email"] == ADMIN_EMAIL
    assert me["role"] == "admin"
    assert me["is_active"] is True
    assert "password" not in response.text
    assert "argon2" not in response.text
