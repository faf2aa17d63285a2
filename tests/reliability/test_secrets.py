"""Secrets: bearer credentials stored only as hashes, JWTs checked strictly, passwords
argon2id, production refusing default secrets, and security headers on every answer."""

import base64
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.config import DEFAULT_SECRET_KEY, Settings
from app.security_headers import CONTENT_SECURITY_POLICY
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import API, admin, assert_problem, make_exporter, make_shipment

ME = f"{API}/users/me"


def raw_rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(sql))]


def test_api_keys_and_driver_tokens_are_stored_only_as_sha256(
    client: TestClient, engine: Engine
) -> None:
    exporter = make_exporter(client, admin(client))
    key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=exporter.headers).json()
    shipment = make_shipment(client, exporter)
    link = client.post(f"{API}/shipments/{shipment['id']}/driver-token", headers=exporter.headers)
    issued = {key["key"]: "api_keys", link.json()["token"]: "driver_tokens"}
    for secret, table in issued.items():
        rows = raw_rows(engine, f"SELECT * FROM {table}")
        assert len(rows) == 1
        stored = " ".join(str(value) for value in rows[0].values())
        assert secret not in stored, f"{table} holds the secret itself"
        assert secret[8:24] not in stored, f"{table} holds part of the secret"
        column = "key_hash" if table == "api_keys" else "token_hash"
        assert rows[0][column] == hashlib.sha256(secret.encode()).hexdigest()


def test_passwords_are_stored_as_argon2id(client: TestClient, engine: Engine) -> None:
    boss = admin(client)
    make_exporter(client, boss)
    hashes = [row["password_hash"] for row in raw_rows(engine, "SELECT * FROM users")]
    assert len(hashes) == 2
    for stored in hashes:
        assert stored.startswith("$argon2id$"), stored
        assert "password" not in stored


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user_id,
        "iss": "checkpoint-clearance-tracker",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_only_hs256_tokens_signed_with_our_key_and_issuer_are_accepted(
    client: TestClient, settings: Settings
) -> None:
    boss = admin(client)
    uid = boss.user["id"]
    good = jwt.encode(_claims(uid), TEST_SECRET, algorithm="HS256")
    assert client.get(ME, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    payload = _claims(uid)
    payload = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in payload.items()}
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}.",
        "HS512, our key": jwt.encode(_claims(uid), TEST_SECRET, algorithm="HS512"),
        "another key": jwt.encode(_claims(uid), "another-secret-" * 4, algorithm="HS256"),
        "the default key": jwt.encode(_claims(uid), DEFAULT_SECRET_KEY, algorithm="HS256"),
        "expired": jwt.encode(
            _claims(uid, exp=datetime.now(UTC) - timedelta(seconds=1)),
            TEST_SECRET,
            algorithm="HS256",
        ),
        "wrong issuer": jwt.encode(_claims(uid, iss="someone-else"), TEST_SECRET, "HS256"),
        "no issuer": jwt.encode(_claims(uid, iss=None), TEST_SECRET, "HS256"),
        "no expiry": jwt.encode(_claims(uid, exp=None), TEST_SECRET, "HS256"),
        "not an access token": jwt.encode(_claims(uid, typ="refresh"), TEST_SECRET, "HS256"),
        "unknown user": jwt.encode(_claims(str(uuid.uuid4())), TEST_SECRET, "HS256"),
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", name


def test_issued_tokens_say_hs256_and_carry_issuer_and_expiry(client: TestClient) -> None:
    token = admin(client).headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token, TEST_SECRET, algorithms=["HS256"], issuer="checkpoint-clearance-tracker"
    )
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("secret", [DEFAULT_SECRET_KEY, "short-secret", ""])
def test_production_refuses_a_default_or_weak_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        make_settings("sqlite:///unused.db", environment="production", secret_key=secret)


def test_production_starts_with_a_strong_secret() -> None:
    strong = make_settings("sqlite:///unused.db", environment="production", secret_key="s" * 48)
    assert strong.environment == "production"


def test_the_default_environment_is_development_not_production() -> None:
    assert Settings(_env_file=None).environment == "development"  # type: ignore[call-arg]


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _assert_security_headers(response: Any, where: str) -> str:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{where}: {name}"
    assert "camera=()" in response.headers["permissions-policy"], where
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp, where
    assert "frame-ancestors 'none'" in csp, where
    return str(csp)


@pytest.mark.parametrize(
    "path", ["/healthz", "/dashboard", "/driver", f"{API}/checkpoints", f"{API}/nowhere"]
)
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    csp = _assert_security_headers(response, path)
    assert csp == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp


def test_docs_allow_exactly_their_own_inline_script(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    csp = _assert_security_headers(response, "/docs")
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    assert inline, "Swagger UI starts from an inline script"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    # Its assets come from the app itself, which the policy allows.
    assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 200
