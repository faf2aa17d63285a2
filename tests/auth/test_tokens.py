"""Access tokens: only HS256 JWTs signed with our secret, from our issuer, unexpired."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.factories import API, admin, assert_problem, make_user


def claims(settings: Settings, user_id: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    values = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
    }
    values.update(overrides)
    return values


def me_with(client: TestClient, token: str) -> httpx.Response:
    return client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def admin_id(client: TestClient) -> str:
    return admin(client).user["id"]  # type: ignore[no-any-return]


def test_a_well_formed_token_is_accepted(
    client: TestClient, settings: Settings, admin_id: str
) -> None:
    # The control for the rejections below: the crafted claims are otherwise right.
    token = jwt.encode(claims(settings, admin_id), settings.secret_key, algorithm="HS256")
    assert me_with(client, token).json()["id"] == admin_id


def test_expired_token_gets_401(client: TestClient, settings: Settings, admin_id: str) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = claims(settings, admin_id, iat=past - timedelta(hours=1), exp=past)
    token = jwt.encode(expired, settings.secret_key, algorithm="HS256")
    assert_problem(me_with(client, token), 401)


def test_token_signed_with_another_secret_gets_401(
    client: TestClient, settings: Settings, admin_id: str
) -> None:
    other = "another-secret-key-that-is-long-enough-for-hs256-000000"
    token = jwt.encode(claims(settings, admin_id), other, algorithm="HS256")
    assert_problem(me_with(client, token), 401)


def test_token_from_another_issuer_gets_401(
    client: TestClient, settings: Settings, admin_id: str
) -> None:
    forged = claims(settings, admin_id, iss="someone-else")
    token = jwt.encode(forged, settings.secret_key, algorithm="HS256")
    assert_problem(me_with(client, token), 401)


def test_unsigned_alg_none_token_gets_401(
    client: TestClient, settings: Settings, admin_id: str
) -> None:
    def b64(part: dict[str, Any]) -> str:
        raw = json.dumps(part, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(settings, admin_id))}."
    assert_problem(me_with(client, token), 401)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_token_with_the_right_secret_gets_401(
    client: TestClient, settings: Settings, admin_id: str
) -> None:
    token = jwt.encode(claims(settings, admin_id), settings.secret_key, algorithm="HS512")
    assert_problem(me_with(client, token), 401)


def test_token_of_another_type_gets_401(
    client: TestClient, settings: Settings, admin_id: str
) -> None:
    token = jwt.encode(claims(settings, admin_id, typ="refresh"), settings.secret_key)
    assert_problem(me_with(client, token), 401)


def test_garbage_bearer_gets_401(client: TestClient) -> None:
    body = assert_problem(me_with(client, "not-a-token"), 401)
    assert body["status"] == 401


def test_no_authorization_header_gets_401_problem(client: TestClient) -> None:
    response = client.get(f"{API}/users/me")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in body["detail"]


def test_token_stops_working_when_its_user_is_deactivated(client: TestClient) -> None:
    boss = admin(client)
    advocate = make_user(client, boss, "advocate")
    assert client.get(f"{API}/users/me", headers=advocate.headers).status_code == 200
    url = f"{API}/users/{advocate.user['id']}"
    assert client.patch(url, json={"is_active": False}, headers=boss.headers).status_code == 200
    assert_problem(client.get(f"{API}/users/me", headers=advocate.headers), 401)
