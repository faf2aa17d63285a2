"""Settings: what ENVIRONMENT=production refuses to start with, and what the refusal says."""

import pytest
from pydantic import ValidationError

from app.config import (
    DEFAULT_BOOTSTRAP_ADMIN_PASSWORD,
    DEFAULT_SECRET_KEY,
    PRODUCTION_MIN_ADMIN_PASSWORD_CHARS,
    Settings,
)

STRONG_SECRET = "s" * 48


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def production(**values: object) -> Settings:
    values.setdefault("secret_key", STRONG_SECRET)
    return settings(environment="production", bootstrap_admin_email="ops@example.org", **values)


def test_production_refuses_the_documented_bootstrap_password() -> None:
    with pytest.raises(ValidationError) as refused:
        production(bootstrap_admin_password=DEFAULT_BOOTSTRAP_ADMIN_PASSWORD)
    message = str(refused.value)
    assert "BOOTSTRAP_ADMIN_PASSWORD" in message
    assert DEFAULT_BOOTSTRAP_ADMIN_PASSWORD in message
    assert f"at least {PRODUCTION_MIN_ADMIN_PASSWORD_CHARS} characters" in message


@pytest.mark.parametrize("length", [1, 8, PRODUCTION_MIN_ADMIN_PASSWORD_CHARS - 1])
def test_production_refuses_a_short_bootstrap_password(length: int) -> None:
    with pytest.raises(ValidationError) as refused:
        production(bootstrap_admin_password="p" * length)
    message = str(refused.value)
    assert f"BOOTSTRAP_ADMIN_PASSWORD has {length} characters" in message
    assert f"at least {PRODUCTION_MIN_ADMIN_PASSWORD_CHARS} characters" in message


def test_production_accepts_a_long_bootstrap_password_or_none() -> None:
    long_enough = "p" * PRODUCTION_MIN_ADMIN_PASSWORD_CHARS
    assert production(bootstrap_admin_password=long_enough).bootstrap_admin_password == long_enough
    assert production(bootstrap_admin_password=None).bootstrap_admin_password is None
    # Empty makes no bootstrap admin at all, so there is nothing to refuse.
    assert production(bootstrap_admin_password="").bootstrap_admin_password == ""


def test_a_refusal_does_not_print_the_refused_secrets() -> None:
    with pytest.raises(ValidationError) as refused:
        production(secret_key="k" * 20 + "-short", bootstrap_admin_password="hunter2-pw")
    message = str(refused.value)
    assert "SECRET_KEY" in message
    assert "BOOTSTRAP_ADMIN_PASSWORD" in message
    assert "-short" not in message
    assert "hunter2-pw" not in message


def test_production_names_every_unsafe_setting_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        production(
            secret_key=DEFAULT_SECRET_KEY, bootstrap_admin_password=DEFAULT_BOOTSTRAP_ADMIN_PASSWORD
        )
    message = str(refused.value)
    assert "SECRET_KEY" in message
    assert "BOOTSTRAP_ADMIN_PASSWORD" in message


def test_development_and_tests_keep_the_local_defaults() -> None:
    for environment in ("development", "test"):
        local = settings(
            environment=environment, bootstrap_admin_password=DEFAULT_BOOTSTRAP_ADMIN_PASSWORD
        )
        assert local.secret_key == DEFAULT_SECRET_KEY
        assert local.bootstrap_admin_password == DEFAULT_BOOTSTRAP_ADMIN_PASSWORD
