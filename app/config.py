"""Settings, read from the environment (and a `.env` file) by pydantic-settings."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

import limits
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-only-secret-change-me-before-production-use"
# The local first admin's password in `scripts/run` and the README: public, so not for production.
DEFAULT_BOOTSTRAP_ADMIN_PASSWORD = "change-me-now"
PRODUCTION_MIN_ADMIN_PASSWORD_CHARS = 12
MIB = 1024 * 1024


def production_admin_password_problem(password: str, *, setting: str) -> str | None:
    """Why `password` may not be an admin's password in production (None if it may).

    `setting` names where the operator sets it, so the message says what to change.
    """
    if password == DEFAULT_BOOTSTRAP_ADMIN_PASSWORD:
        return (
            f"{setting} is the documented default {DEFAULT_BOOTSTRAP_ADMIN_PASSWORD!r}, which "
            "anyone can read: set it to a passphrase of your own of at least "
            f"{PRODUCTION_MIN_ADMIN_PASSWORD_CHARS} characters when ENVIRONMENT=production"
        )
    if len(password) < PRODUCTION_MIN_ADMIN_PASSWORD_CHARS:
        return (
            f"{setting} has {len(password)} characters: set it to a passphrase of at least "
            f"{PRODUCTION_MIN_ADMIN_PASSWORD_CHARS} characters when ENVIRONMENT=production"
        )
    return None


class Settings(BaseSettings):
    # hide_input_in_errors: a refusal must not print the secrets it refuses into a log.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./data/clearance.db"
    secret_key: str = DEFAULT_SECRET_KEY
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    jwt_issuer: str = "checkpoint-clearance-tracker"
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None
    max_body_bytes: int = Field(default=1 * MIB, ge=1024)
    max_import_bytes: int = Field(default=10 * MIB, ge=1024)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    # Argon2id cost. The defaults are pwdlib's recommendation; tests lower them to stay fast.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=1024)
    # Login throttling: failed sign-ins per account and per client address, in a sliding window.
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=30, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    log_level: str = "INFO"
    log_json: bool = True
    public_base_url: str = "http://127.0.0.1:8000"
    report_min_exporters: int = Field(default=3, ge=1)
    # Advocates' cells (checkpoint × UTC day) need this many completed stops to be shown.
    report_min_stops: int = Field(default=10, ge=1)
    service_standard_minutes: int = Field(default=60, ge=1)
    # A checkpoint meets its target when this share of its trucks is within the minutes
    # (each checkpoint's own, set by an admin, else these two).
    service_standard_share: float = Field(default=0.9, gt=0, le=1)
    # Reports read day-cell rollups (reports/rollups.py); false reads every stop, as before
    # (kept to compare the two, in tests and benchmarks).
    report_rollups: bool = True
    # Reports one worker computes at once (reports/slots.py): each holds its cells' values
    # while it computes; more wait their turn. 0: no limit.
    report_concurrency: int = Field(default=1, ge=0)
    # How often each worker recomputes the cells writes have marked (0: never, e.g. tests
    # that refresh by hand). Reports stay exact whatever the lag: marked cells are read
    # from the stops.
    rollup_refresh_seconds: float = Field(default=1.0, ge=0)
    # State several workers share (the login throttle's windows): Redis when set, else the
    # database. SQLite deployments (one machine) need no Redis.
    redis_url: str | None = None
    # Put before every key this service writes to Redis: deployments (or test runs) sharing
    # one Redis keep apart.
    redis_key_prefix: str = Field(default="clearance", min_length=1, max_length=100)
    # Reports and the public feed read here (a read replica) when set; writes never go there.
    reports_database_url: str | None = None
    # Evidence attachments (app/evidence): files named by their SHA-256 under this folder,
    # and the largest upload accepted (photos, PDFs).
    attachments_dir: Path = Path("./data/attachments")
    max_attachment_bytes: int = Field(default=8 * MIB, ge=1024)
    # The public board (app/public): a clock hour's figures are published when they rest on
    # this many completed stops (and REPORT_MIN_EXPORTERS exporters); and each client
    # address may ask this often (the `limits` library's notation: "120/minute").
    public_min_stops: int = Field(default=5, ge=1)
    public_rate_limit: str = "120/minute"
    # Webhooks (app/webhooks). An endpoint whose address is loopback, private, link-local or
    # a cloud metadata address is refused unless this is set (tests reach their own
    # receiver on 127.0.0.1; an intranet deployment may need it).
    webhook_allow_private: bool = False
    # "internal": the dispatcher runs in the server process (one machine, SQLite or one
    # PostgreSQL worker); "external": the server never sends, `clearance dispatch` does.
    webhook_dispatcher: Literal["internal", "external"] = "internal"
    # One attempt's time limit, and how much of an answer is read (the rest is not).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_response_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("public_rate_limit")
    @classmethod
    def _a_rate_limit(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"PUBLIC_RATE_LIMIT: {exc} (for example '120/minute')") from exc
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        # A guessable signing key lets anyone mint admin tokens, a guessable bootstrap password
        # lets anyone sign in as the first admin: refuse to start rather than warn.
        if self.environment != "production":
            return self
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append(
                "SECRET_KEY must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        if self.bootstrap_admin_password:  # empty: no bootstrap admin is made
            problem = production_admin_password_problem(
                self.bootstrap_admin_password, setting="BOOTSTRAP_ADMIN_PASSWORD"
            )
            if problem:
                problems.append(f"{problem} (or unset it and run `clearance create-admin`)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
