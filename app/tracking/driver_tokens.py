"""Driver links: a bearer token scoped to one shipment, shown once, stored hashed, expiring.
Issued and revoked here, by the shipment's exporter; checked with every credential in auth."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.auth.models import DriverToken
from app.auth.passwords import digest, new_secret
from app.auth.principal import Principal
from app.auth.service import DRIVER_TOKEN_PREFIX
from app.config import Settings
from app.db import utcnow, write_transaction
from app.errors import Conflict
from app.shipments.models import ShipmentStatus
from app.shipments.repository import lock_visible_shipment


def issue(
    session: Session,
    *,
    principal: Principal,
    settings: Settings,
    shipment_id: uuid.UUID,
    valid_days: int,
) -> tuple[str, datetime, str]:
    """A new driver token; any earlier one for the shipment stops working (one live link)."""
    token = new_secret(DRIVER_TOKEN_PREFIX)
    with write_transaction(session):
        shipment = lock_visible_shipment(session, principal, shipment_id)
        if shipment.status == ShipmentStatus.cancelled:
            raise Conflict("The shipment is cancelled; it needs no driver link.")
        now = utcnow()
        _revoke_all(session, shipment_id, now)
        expires_at = now + timedelta(days=valid_days)
        session.add(
            DriverToken(
                shipment_id=shipment_id,
                token_hash=digest(token),
                created_by=principal.user_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
    # The token rides in the URL fragment, which browsers never send to servers or logs.
    url = f"{settings.public_base_url.rstrip('/')}/driver#token={token}"
    return token, expires_at, url


def revoke(session: Session, *, principal: Principal, shipment_id: uuid.UUID) -> None:
    with write_transaction(session):
        lock_visible_shipment(session, principal, shipment_id)
        _revoke_all(session, shipment_id, utcnow())


def _revoke_all(session: Session, shipment_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(DriverToken)
        .where(DriverToken.shipment_id == shipment_id, DriverToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
