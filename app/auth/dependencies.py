"""FastAPI dependencies: the database session, the settings and the calling principal."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.models import Role
from app.auth.passwords import Passwords
from app.auth.principal import Principal
from app.config import Settings
from app.errors import Forbidden, Unauthorized

# auto_error=False: a missing token is rendered by our own 401 problem, not FastAPI's.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.close()


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]


def require_token(token: str | None) -> str:
    if not token:
        raise Unauthorized("Authentication required: send `Authorization: Bearer <token>`.")
    return token


def principal_for(session: Session, settings: Settings, token: str | None) -> Principal:
    principal = service.authenticate_bearer(session, settings=settings, token=require_token(token))
    if principal is None:
        raise Unauthorized("The credential is invalid, expired or revoked.")
    return principal


def current_principal(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    return principal_for(session, settings, token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_roles(
    *roles: Role, allow_api_key: bool = True, allow_driver: bool = False
) -> Callable[[Principal], Principal]:
    """A guard for a function: which roles may call it, and whether a driver token may."""

    def guard(principal: PrincipalDep) -> Principal:
        return check_roles(
            principal, *roles, allow_api_key=allow_api_key, allow_driver=allow_driver
        )

    return guard


def check_roles(
    principal: Principal, *roles: Role, allow_api_key: bool = True, allow_driver: bool = False
) -> Principal:
    if principal.kind == "driver":
        if allow_driver:
            return principal
        raise Forbidden("A driver link can only read its shipment and report its events.")
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"This operation is for: {allowed}.")
    if principal.kind == "api_key" and not allow_api_key:
        raise Forbidden("API keys cannot do this; sign in with a password.")
    return principal


def check_tracker(principal: Principal) -> Principal:
    """Reporting events: the shipment's driver or its exporter (see tracking/router.py)."""
    return check_roles(principal, Role.exporter, allow_driver=True)


AdminDep = Annotated[Principal, Depends(require_roles(Role.admin))]
ExporterDep = Annotated[Principal, Depends(require_roles(Role.exporter))]
ShipmentReaderDep = Annotated[Principal, Depends(require_roles(Role.exporter, Role.admin))]
# One shipment's story: its exporter, an admin, or its driver (the repository scopes each).
ShipmentViewerDep = Annotated[
    Principal, Depends(require_roles(Role.exporter, Role.admin, allow_driver=True))
]
# Keys are made and revoked by a person who signed in, so a leaked key cannot mint more keys.
KeyManagerDep = Annotated[Principal, Depends(require_roles(Role.exporter, allow_api_key=False))]
