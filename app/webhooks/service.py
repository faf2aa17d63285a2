"""Exporters' webhook endpoints: registration, changes, the secret's rotation, and the
deliveries an owner can see, retry and test (issue 18, DESIGN.md "Webhooks and ETA").

Who sees what is written once (`visible_endpoints`): an exporter (a user or an API key) its
organisation's endpoints, an admin every one. Anyone else's endpoint is a 404, so its
existence is not revealed. Sending is the dispatcher's (app/webhooks/dispatcher.py): here a
retry or a test only queues a row for it.
"""

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.config import Settings
from app.db import utcnow, write_transaction
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.organizations.models import Organization
from app.pagination import paginate, paginate_by_id
from app.webhooks import secrets
from app.webhooks.addresses import check_endpoint_url
from app.webhooks.models import (
    TEST_MESSAGE_TYPE,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.webhooks.schemas import WebhookCreate, WebhookUpdate

# After a rotation the old secret keeps signing this long: receivers switch in their time.
PREVIOUS_SECRET_LIFETIME = timedelta(hours=24)
DISABLED_BY_OWNER = "disabled by its owner"
DISABLED_BY_ADMIN = "disabled by an administrator"


def visible_endpoints(principal: Principal) -> Select[WebhookEndpoint]:
    """The endpoints `principal` may see: the start of every query of this module."""
    stmt = select(WebhookEndpoint)
    if principal.is_admin:
        return stmt
    if not principal.is_exporter or principal.organization_id is None:
        raise Forbidden("Webhooks are for exporters and admins.")
    return stmt.where(WebhookEndpoint.organization_id == principal.organization_id)


def _checked_url(settings: Settings, url: str) -> str:
    # A DNS lookup: before any write transaction, which would hold SQLite's lock through it.
    return check_endpoint_url(
        url,
        allow_private=settings.webhook_allow_private,
        require_https=settings.environment == "production",
    )


def _owner(session: Session, principal: Principal, organization_id: uuid.UUID | None) -> uuid.UUID:
    """The organisation a new endpoint is for: an exporter's own; the one an admin names."""
    if principal.is_admin:
        if organization_id is None:
            raise InvalidInput(
                "An admin registers an endpoint for an organisation: give organization_id.",
                errors=[{"loc": ["body", "organization_id"], "msg": "required", "type": "missing"}],
            )
        if session.get(Organization, organization_id) is None:
            raise InvalidInput(
                "No such organisation.",
                errors=[
                    {"loc": ["body", "organization_id"], "msg": "unknown", "type": "value_error"}
                ],
            )
        return organization_id
    assert principal.organization_id is not None  # visible_endpoints refused anyone else
    if organization_id is not None and organization_id != principal.organization_id:
        raise Forbidden("Exporters register endpoints for their own organisation only.")
    return principal.organization_id


def create_endpoint(
    session: Session, principal: Principal, settings: Settings, body: WebhookCreate
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned here and never again)."""
    visible_endpoints(principal)  # refuses those who may not have endpoints
    url = _checked_url(settings, body.url)
    secret = secrets.new_secret()
    encrypted = secrets.encrypt(secret, settings.secret_key)
    with write_transaction(session):
        now = utcnow()
        endpoint = WebhookEndpoint(
            organization_id=_owner(session, principal, body.organization_id),
            url=url,
            description=body.description,
            event_types=[t.value for t in body.event_types],
            held_minutes=body.held_minutes,
            silent_minutes=body.silent_minutes,
            secret_encrypted=encrypted,
            enabled=True,
            created_by=principal.user_id if principal.kind == "user" else None,
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
    return endpoint, secret


def list_endpoints(
    session: Session,
    principal: Principal,
    *,
    organization_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookEndpoint], str | None]:
    """Newest first; `organization_id` narrows an admin's list (an exporter's is its own)."""
    stmt = visible_endpoints(principal)
    if organization_id is not None:
        stmt = stmt.where(WebhookEndpoint.organization_id == organization_id)
    return paginate(
        session,
        stmt,
        created_at=WebhookEndpoint.created_at,
        row_id=WebhookEndpoint.id,
        limit=limit,
        cursor=cursor,
    )


def get_endpoint(
    session: Session, principal: Principal, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint:
    stmt = visible_endpoints(principal).where(WebhookEndpoint.id == endpoint_id)
    if for_update:
        stmt = stmt.with_for_update()
    endpoint = session.scalars(stmt).one_or_none()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def update_endpoint(
    session: Session,
    principal: Principal,
    settings: Settings,
    endpoint_id: uuid.UUID,
    body: WebhookUpdate,
) -> WebhookEndpoint:
    get_endpoint(session, principal, endpoint_id)  # a stranger's 404 before any DNS lookup
    url = _checked_url(settings, body.url) if body.url is not None else None
    with write_transaction(session):
        endpoint = get_endpoint(session, principal, endpoint_id, for_update=True)
        now = utcnow()
        if url is not None:
            endpoint.url = url
        if body.event_types is not None:
            endpoint.event_types = [t.value for t in body.event_types]
        if "description" in body.model_fields_set:
            endpoint.description = body.description
        if body.held_minutes is not None:
            endpoint.held_minutes = body.held_minutes
        if body.silent_minutes is not None:
            endpoint.silent_minutes = body.silent_minutes
        # Disabling an endpoint the dispatcher already disabled keeps the dispatcher's reason.
        if body.enabled is not None and body.enabled != endpoint.enabled:
            _switch(endpoint, principal, enabled=body.enabled, now=now)
        endpoint.updated_at = now
    return endpoint


def _switch(
    endpoint: WebhookEndpoint, principal: Principal, *, enabled: bool, now: datetime
) -> None:
    endpoint.enabled = enabled
    if enabled:
        # A fresh start: the three days of failure that disable an endpoint count anew.
        endpoint.disabled_reason = None
        endpoint.disabled_at = None
        endpoint.failing_since = None
    else:
        endpoint.disabled_reason = DISABLED_BY_ADMIN if principal.is_admin else DISABLED_BY_OWNER
        endpoint.disabled_at = now


def delete_endpoint(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> None:
    """The endpoint and its deliveries (ON DELETE CASCADE)."""
    with write_transaction(session):
        endpoint = get_endpoint(session, principal, endpoint_id, for_update=True)
        session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


def rotate_secret(
    session: Session, principal: Principal, settings: Settings, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned once); the current one becomes the previous, which keeps
    signing for 24 hours. A previous one still within its 24 hours is dropped: a receiver
    holds at most the two newest."""
    secret = secrets.new_secret()
    encrypted = secrets.encrypt(secret, settings.secret_key)
    with write_transaction(session):
        endpoint = get_endpoint(session, principal, endpoint_id, for_update=True)
        now = utcnow()
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = now + PREVIOUS_SECRET_LIFETIME
        endpoint.secret_encrypted = encrypted
        endpoint.updated_at = now
    return endpoint, secret


# --- deliveries -------------------------------------------------------------------------------


def list_deliveries(
    session: Session,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookDelivery], str | None]:
    """Newest first (the outbox's ids grow in the order messages were written)."""
    endpoint = get_endpoint(session, principal, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return paginate_by_id(session, stmt, row_id=WebhookDelivery.id, limit=limit, cursor=cursor)


def _enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(
            "The endpoint is disabled "
            f"({endpoint.disabled_reason or 'no reason recorded'}): enable it first "
            "(PATCH /webhooks/{id} with enabled: true)."
        )


def retry_delivery(
    session: Session, principal: Principal, endpoint_id: uuid.UUID, delivery_id: int
) -> WebhookDelivery:
    """One more attempt, now, whatever the delivery's status (a receiver that lost a
    message it once accepted may ask for it again: the same webhook-id, to deduplicate on).
    The attempts so far stay counted."""
    with write_transaction(session):
        endpoint = get_endpoint(session, principal, endpoint_id, for_update=True)
        delivery = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
            .with_for_update()
        ).one_or_none()
        if delivery is None:
            raise NotFound("No such delivery of this endpoint.")
        _enabled(endpoint)
        now = utcnow()
        if delivery.locked_until is not None and delivery.locked_until > now:
            # Unlocking it would let a second dispatcher send it while the first still is.
            raise Conflict("The delivery is being sent right now; look at it again shortly.")
        delivery.status = DeliveryStatus.pending
        delivery.next_attempt_at = now
        delivery.locked_until = None
    return delivery


def send_test(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Queues a `webhook.test` message (whatever the endpoint subscribes to), its body fixed
    now: the dispatcher sends a payload that is already set as it is."""
    with write_transaction(session):
        endpoint = get_endpoint(session, principal, endpoint_id)
        _enabled(endpoint)
        now = utcnow()
        delivery = WebhookDelivery(
            message_id=uuid.uuid4(),
            endpoint_id=endpoint.id,
            shipment_id=None,
            type=TEST_MESSAGE_TYPE,
            status=DeliveryStatus.pending,
            attempts=0,
            next_attempt_at=now,
            payload=json.dumps(
                {
                    "type": TEST_MESSAGE_TYPE,
                    "timestamp": now.isoformat().replace("+00:00", "Z"),
                    "data": {
                        "endpoint_id": str(endpoint.id),
                        "organization_id": str(endpoint.organization_id),
                    },
                }
            ),
            created_at=now,
        )
        session.add(delivery)
    return delivery
