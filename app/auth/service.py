"""Sign-in, bearer credential lookup and API keys."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey
from app.auth.passwords import Passwords, digest, new_secret
from app.auth.principal import Principal
from app.auth.tokens import issue_access_token, read_access_token
from app.config import Settings
from app.db import utcnow, write_transaction
from app.errors import NotFound, Unauthorized
from app.organizations.models import User
from app.tracking import driver_tokens
from app.tracking.driver_tokens import DRIVER_TOKEN_PREFIX

API_KEY_PREFIX = "cct_"


def login(
    session: Session, *, settings: Settings, passwords: Passwords, email: str, password: str
) -> tuple[str, int]:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    # Same message and same work for an unknown email, a wrong password and a disabled user.
    valid = passwords.verify(password, user.password_hash if user else None)
    if user is None or not valid or not user.is_active:
        raise Unauthorized("Incorrect email or password.")
    return issue_access_token(settings, user.id)


def authenticate_bearer(session: Session, *, settings: Settings, token: str) -> Principal | None:
    if token.startswith(API_KEY_PREFIX):
        return _principal_from_api_key(session, token)
    if token.startswith(DRIVER_TOKEN_PREFIX):
        return driver_tokens.principal_for(session, token)
    user_id = read_access_token(settings, token)
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return Principal("user", user.role, user.id, user.organization_id)


def _principal_from_api_key(session: Session, token: str) -> Principal | None:
    row = session.execute(
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == digest(token), ApiKey.revoked_at.is_(None))
    ).first()
    if row is None or not row.User.is_active:
        return None
    user = row.User
    return Principal("api_key", user.role, user.id, user.organization_id)


def create_api_key(session: Session, *, principal: Principal, name: str) -> tuple[ApiKey, str]:
    secret = new_secret(API_KEY_PREFIX)
    assert principal.user_id is not None
    with write_transaction(session):
        key = ApiKey(
            user_id=principal.user_id,
            name=name,
            prefix=secret[: len(API_KEY_PREFIX) + 6],
            key_hash=digest(secret),
        )
        session.add(key)
    return key, secret


def list_api_keys(session: Session, *, principal: Principal) -> list[ApiKey]:
    stmt = (
        select(ApiKey)
        .where(ApiKey.user_id == principal.user_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return list(session.scalars(stmt))


def revoke_api_key(session: Session, *, principal: Principal, key_id: uuid.UUID) -> None:
    with write_transaction(session):
        key = session.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == principal.user_id)
        )
        if key is None:
            raise NotFound("No such API key.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
