import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.dependencies import KeyManagerDep, PasswordsDep, SessionDep, SettingsDep
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyRead,
    TokenResponse,
)
from app.auth.throttle import LoginThrottle, client_address, login_throttle
from app.errors import TooManyRequests, Unauthorized, problem_responses

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    responses=problem_responses(401, 422, 429, 503),
)
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    throttle: Annotated[LoginThrottle, Depends(login_throttle)],
) -> TokenResponse:
    """OAuth2 password flow: `username` is the email. Returns a short-lived bearer token.
    Repeated failures for one account or from one address get a 429 with `Retry-After`
    (counted for all workers together); 503 while the store of those failures is down."""
    account, address = form.username.strip().lower(), client_address(request)
    wait = throttle.retry_after(account=account, address=address)
    if wait is not None:
        raise TooManyRequests(
            f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait
        )
    try:
        token, expires_in = service.login(
            session, settings=settings, passwords=passwords, email=account, password=form.password
        )
    except Unauthorized:
        throttle.failed(account=account, address=address)
        raise
    throttle.succeeded(account=account)
    return TokenResponse(access_token=token, expires_in=expires_in)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=problem_responses(401, 403, 422),
)
def create_api_key(
    body: ApiKeyCreate, principal: KeyManagerDep, session: SessionDep
) -> ApiKeyCreated:
    """A long-lived key for your own systems. The key is in this response only."""
    key, secret = service.create_api_key(session, principal=principal, name=body.name)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=secret)


@router.get("/api-keys", response_model=ApiKeyList, responses=problem_responses(401, 403))
def list_api_keys(principal: KeyManagerDep, session: SessionDep) -> ApiKeyList:
    keys = service.list_api_keys(session, principal=principal)
    return ApiKeyList(items=[ApiKeyRead.model_validate(k) for k in keys])


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_api_key(key_id: uuid.UUID, principal: KeyManagerDep, session: SessionDep) -> None:
    """Revoke a key at once. Revoking a revoked key is harmless."""
    service.revoke_api_key(session, principal=principal, key_id=key_id)
