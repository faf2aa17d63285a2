"""Webhook endpoints (DESIGN.md, Contract v1.1 — Webhooks and ETA). Exporters (users and
API keys) manage their organisation's endpoints, admins everyone's; drivers and advocates
none. Another organisation's endpoint is a 404."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from app.auth.dependencies import SessionDep, SettingsDep, require_roles
from app.auth.models import Role
from app.auth.principal import Principal
from app.errors import problem_responses
from app.pagination import CursorQuery, LimitQuery, Page
from app.webhooks import service
from app.webhooks.models import DeliveryStatus, WebhookEndpoint
from app.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(tags=["webhooks"])

OwnerDep = Annotated[Principal, Depends(require_roles(Role.exporter, Role.admin))]
# A delivery's id is a BIGINT: a larger number is a 422, not a query SQLite cannot bind.
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate(
        {**WebhookRead.model_validate(endpoint).model_dump(), "secret": secret}
    )


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecret,
    responses=problem_responses(401, 403, 422),
)
def register_webhook(
    body: WebhookCreate, principal: OwnerDep, session: SessionDep, settings: SettingsDep
) -> WebhookWithSecret:
    """Registers an endpoint; the answer carries its signing secret, shown this once."""
    endpoint, secret = service.create_endpoint(session, principal, settings, body)
    return _with_secret(endpoint, secret)


@router.get(
    "/webhooks", response_model=Page[WebhookRead], responses=problem_responses(401, 403, 422)
)
def list_webhooks(
    principal: OwnerDep,
    session: SessionDep,
    organization_id: Annotated[
        uuid.UUID | None, Query(description="Admins: one organisation's endpoints.")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[WebhookRead]:
    """Newest first."""
    endpoints, next_cursor = service.list_endpoints(
        session, principal, organization_id=organization_id, limit=limit, cursor=cursor
    )
    return Page(items=[WebhookRead.model_validate(e) for e in endpoints], next_cursor=next_cursor)


@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookRead,
    responses=problem_responses(401, 403, 404),
)
def get_webhook(webhook_id: uuid.UUID, principal: OwnerDep, session: SessionDep) -> WebhookRead:
    return WebhookRead.model_validate(service.get_endpoint(session, principal, webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookRead,
    responses=problem_responses(401, 403, 404, 422),
)
def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    principal: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookRead:
    """Changes the fields sent. `enabled: false` stops deliveries ("disabled by its
    owner"); `enabled: true` resumes them and clears why it was disabled."""
    endpoint = service.update_endpoint(session, principal, settings, webhook_id, body)
    return WebhookRead.model_validate(endpoint)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
def delete_webhook(webhook_id: uuid.UUID, principal: OwnerDep, session: SessionDep) -> None:
    """Deletes the endpoint and its deliveries."""
    service.delete_endpoint(session, principal, webhook_id)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    responses=problem_responses(401, 403, 404),
)
def rotate_webhook_secret(
    webhook_id: uuid.UUID, principal: OwnerDep, session: SessionDep, settings: SettingsDep
) -> WebhookWithSecret:
    """A new secret, shown this once; the old one keeps signing (a second signature) for
    24 hours, until `previous_secret_expires_at`."""
    endpoint, secret = service.rotate_secret(session, principal, settings, webhook_id)
    return _with_secret(endpoint, secret)


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=problem_responses(401, 403, 404, 409),
)
def test_webhook(webhook_id: uuid.UUID, principal: OwnerDep, session: SessionDep) -> DeliveryRead:
    """Queues a `webhook.test` message to the endpoint (409 if it is disabled)."""
    return DeliveryRead.of(service.send_test(session, principal, webhook_id))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    responses=problem_responses(401, 403, 404, 422),
)
def list_deliveries(
    webhook_id: uuid.UUID,
    principal: OwnerDep,
    session: SessionDep,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[DeliveryRead]:
    """The endpoint's messages, newest first, with the outcome of their last attempt."""
    deliveries, next_cursor = service.list_deliveries(
        session, principal, webhook_id, status=status_, limit=limit, cursor=cursor
    )
    return Page(items=[DeliveryRead.of(d) for d in deliveries], next_cursor=next_cursor)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def retry_delivery(
    webhook_id: uuid.UUID, delivery_id: DeliveryId, principal: OwnerDep, session: SessionDep
) -> DeliveryRead:
    """One more attempt, now (409 if the endpoint is disabled)."""
    return DeliveryRead.of(service.retry_delivery(session, principal, webhook_id, delivery_id))
