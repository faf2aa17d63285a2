"""Sign-in, bearer credential lookup and API keys."""

import uuid
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, DriverToken, User
from app.auth.passwords import Passwords, digest, new_secret
from app.auth.principal import Principal
from app.auth.tokens import issue_access_token, read_access_token
from app.config import Settings
from app.db import utcnow, write_transaction
from app.errors import NotFound, Unauthorized

API_KEY_PREFIX = "cct_"
DRIVER_TOKEN_PREFIX = "drv_"  # a driver link (issued in tracking/driver_tokens.py)


def login(
    session: Session, *, settings: Settings, passwords: Passwords, email: str, password: str
) -> tuple[str, int]:
    # No stored email holds a NUL (PostgreSQL text cannot), so such a name matches no one:
    # looked up as it is, PostgreSQL would refuse the query itself (a 500).
    address = email.strip().lower()
    user = None if "\x00" in address else session.scalar(select(User).where(User.email == address))
    # Same message and same work for an unknown email, a wrong password and a disabled user.
    valid = passwords.verify(password, user.password_hash if user else None)
    if user is None or not valid or not user.is_active:
        raise Unauthorized("Incorrect email or password.")
    return issue_access_token(settings, user.id)


def authenticate_bearer(session: Session, *, settings: Settings, token: str) -> Principal | None:
    return authenticate_many(session, settings=settings, tokens=[token])[token]


# Built once: on the credential check's path (auth/credentials.py) building a statement cost
# more than running it.
_ACTIVE_USERS = select(User.id, User.role, User.organization_id).where(
    User.id.in_(bindparam("ids", expanding=True)), User.is_active.is_(True)
)
_LIVE_DRIVER_LINKS = select(DriverToken.token_hash, DriverToken.shipment_id).where(
    DriverToken.token_hash.in_(bindparam("digests", expanding=True)),
    DriverToken.revoked_at.is_(None),
    DriverToken.expires_at > bindparam("now"),
)
_LIVE_API_KEYS = (
    select(ApiKey.key_hash, User.id, User.role, User.organization_id)
    .join(User, User.id == ApiKey.user_id)
    .where(
        ApiKey.key_hash.in_(bindparam("digests", expanding=True)),
        ApiKey.revoked_at.is_(None),
        User.is_active.is_(True),
    )
)


def authenticate_many(
    db: Session | Connection, *, settings: Settings, tokens: Iterable[str]
) -> dict[str, Principal | None]:
    """Who each bearer credential belongs to (None: invalid, expired or revoked), with one
    query per kind of credential however many there are (see auth/credentials.py), on a
    session or a plain connection. Reads only: it never needs, and must never run inside,
    a write transaction."""
    found: dict[str, Principal | None] = dict.fromkeys(tokens)
    keys = {digest(t): t for t in found if t.startswith(API_KEY_PREFIX)}
    drivers = [t for t in found if t.startswith(DRIVER_TOKEN_PREFIX)]
    access: dict[str, uuid.UUID] = {}
    for token in found.keys() - {*keys.values(), *drivers}:
        user_id = read_access_token(settings, token)  # signature and expiry: no database
        if user_id is not None:
            access[token] = user_id
    if keys:
        for key_hash, user_id, role, organization_id in db.execute(
            _LIVE_API_KEYS, {"digests": list(keys)}
        ):
            found[keys[key_hash]] = Principal("api_key", role, user_id, organization_id)
    found.update(_driver_principals(db, drivers))
    if access:
        users = {
            user_id: (role, organization_id)
            for user_id, role, organization_id in db.execute(
                _ACTIVE_USERS, {"ids": list(set(access.values()))}
            )
        }
        for token, user_id in access.items():
            if user_id in users:
                role, organization_id = users[user_id]
                found[token] = Principal("user", role, user_id, organization_id)
    return found


def _driver_principals(db: Session | Connection, tokens: list[str]) -> dict[str, Principal]:
    """The live driver links among `tokens` (one query however many), by token."""
    if not tokens:
        return {}
    by_digest = {digest(token): token for token in tokens}
    rows = db.execute(_LIVE_DRIVER_LINKS, {"digests": list(by_digest), "now": utcnow()})
    return {
        by_digest[token_hash]: Principal("driver", None, None, None, shipment_id=shipment_id)
        for token_hash, shipment_id in rows
    }


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
