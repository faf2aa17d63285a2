"""The `clearance` command as an operator uses it, in real subprocesses."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SECRET_KEY, Settings
from tests.live_server import wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
CLEARANCE = [sys.executable, "-m", "app.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "ENVIRONMENT"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_KIB="1024",
        **extra,
    )
    return env


def _clearance(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`clearance …` in a process of its own, with this environment."""
    return subprocess.run(
        [*CLEARANCE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production", secret_key=DEFAULT_SECRET_KEY)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production", secret_key="short")  # type: ignore[call-arg]
    ok = Settings(_env_file=None, environment="production", secret_key="x" * 40)  # type: ignore[call-arg]
    assert ok.environment == "production"


def test_serve_refuses_to_start_in_production_with_the_default_secret(tmp_path: Path) -> None:
    env = _env(tmp_path, ENVIRONMENT="production")
    env.pop("SECRET_KEY", None)
    result = _clearance(env, "serve", "--port", str(_free_port()))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_serve_migrates_then_serves_docs_and_api_over_http(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(
        tmp_path,
        BOOTSTRAP_ADMIN_EMAIL="boss@example.org",
        BOOTSTRAP_ADMIN_PASSWORD="boss-password-1",
    )
    server = subprocess.Popen(
        [*CLEARANCE, "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server)
        docs = httpx.get(f"{base}/docs")
        assert docs.status_code == 200
        assert "/static/docs/swagger-ui-bundle.js" in docs.text
        assert httpx.get(f"{base}/static/docs/swagger-ui-bundle.js").status_code == 200
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": "boss@example.org", "password": "boss-password-1"},
        )
        assert token.status_code == 200
        me = httpx.get(
            f"{base}/api/v1/users/me",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert me.json()["role"] == "admin"
        assert (tmp_path / "cli.db").exists()
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    # One JSON access-log line per request, carrying its request id.
    assert '"logger": "app.access"' in output
    assert '"request_id"' in output


def test_create_admin_then_sign_in(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = _clearance(
        env, "create-admin", "--email", "Ops@Example.org", "--password", "ops-password-1"
    )
    assert result.returncode == 0, result.stderr
    assert "ops@example.org" in result.stdout
    again = _clearance(
        env, "create-admin", "--email", "ops@example.org", "--password", "ops-password-1"
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr

    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(env["DATABASE_URL"], bootstrap_admin_email=None)
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/api/v1/auth/token", data={"username": "ops@example.org", "password": "ops-password-1"}
        )
        assert response.status_code == 200


def test_create_admin_rejects_a_short_password(tmp_path: Path) -> None:
    result = _clearance(
        _env(tmp_path), "create-admin", "--email", "a@example.org", "--password", "short"
    )
    assert result.returncode != 0
    assert "8 characters" in result.stderr


def test_serve_refuses_to_start_in_production_with_the_default_admin_password(
    tmp_path: Path,
) -> None:
    env = _env(
        tmp_path,
        ENVIRONMENT="production",
        SECRET_KEY="k" * 48,
        BOOTSTRAP_ADMIN_EMAIL="ops@example.org",
        BOOTSTRAP_ADMIN_PASSWORD="change-me-now",
    )
    result = _clearance(env, "serve", "--port", str(_free_port()))
    assert result.returncode != 0
    assert "BOOTSTRAP_ADMIN_PASSWORD" in result.stderr
    assert "at least 12 characters" in result.stderr
    assert "k" * 48 not in result.stderr


def test_create_admin_in_production_wants_12_characters(tmp_path: Path) -> None:
    env = _env(tmp_path, ENVIRONMENT="production", SECRET_KEY="k" * 48)
    short = _clearance(env, "create-admin", "--email", "a@example.org", "--password", "eleven-char")
    assert short.returncode != 0
    assert "at least 12 characters" in short.stderr
    long_enough = _clearance(
        env, "create-admin", "--email", "a@example.org", "--password", "twelve-chars"
    )
    assert long_enough.returncode == 0, long_enough.stderr


def test_verify_rollups_finds_a_wrong_day_cell_and_rebuild_mends_it(tmp_path: Path) -> None:
    import sqlite3

    env = _env(tmp_path)
    seeded = _clearance(env, "seed-demo", "--shipments", "40")
    assert seeded.returncode == 0, seeded.stderr
    assert "report day cells" in seeded.stdout
    good = _clearance(env, "verify-rollups")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "every day, week, month and corridor cell equals its stops and trips" in good.stdout
    assert "every network row its checkpoints' cells" in good.stdout
    with sqlite3.connect(tmp_path / "cli.db") as db:
        db.execute(
            "UPDATE day_cells SET stops = stops + 1 "
            "WHERE rowid = (SELECT min(rowid) FROM day_cells)"
        )
    bad = _clearance(env, "verify-rollups")
    assert bad.returncode != 0
    # The day cell differs from its stops, its month and week cells from their days.
    assert "3 rollup rows differ from what they sum" in bad.stderr
    assert bad.stdout.startswith("day_cells: checkpoint ")
    assert "month_cells: checkpoint " in bad.stdout
    assert "week_cells: checkpoint " in bad.stdout
    refused = _clearance(env, "rebuild-rollups", "--parallel", "40")  # past the pool
    assert refused.returncode == 2
    assert "--parallel" in refused.stderr
    # --parallel is taken on SQLite too, where the rounds still go one after the other.
    rebuilt = _clearance(env, "rebuild-rollups", "--parallel", "2")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "day cells rebuilt from the stops" in rebuilt.stdout
    assert _clearance(env, "verify-rollups").returncode == 0
