"""A tracker's positions for one shipment (the OsmAnd protocol that Traccar Client and many
GPS devices speak), and the device keys that let a tracker send them.

A device key (`trk_…`) is the tracker's "device identifier": shown once, stored as its
SHA-256, one live key per shipment (a new one revokes the old), revocable, expiring. A fix is
stored once per shipment and device time (a device resending a fix it is unsure about stores
nothing new), in the same transaction as what it changes: when it falls within the time a
stop spans (with tracking/geofence.py's margin), the shipment's stops are rebuilt there and
then (tracking.service.rebuild), their `position_evidence` joining the tracker's fixes to the
taps'. A fix outside every stop's time changes nothing now; the event writer reads it when
the stop it belongs to is written (a release, a late tap). Positions never make events.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth.passwords import digest, new_secret
from app.auth.principal import Principal
from app.db import utcnow, write_transaction
from app.errors import Conflict, InvalidInput, Unauthorized
from app.evidence.models import DeviceKey
from app.shipments.models import Shipment, ShipmentStatus
from app.shipments.repository import lock_visible_shipment
from app.tracking import geofence
from app.tracking.models import Position, Stop, TrackingEvent
from app.tracking.service import MAX_CLOCK_SKEW, rebuild
from app.tracking.vocabulary import EventType

DEVICE_KEY_PREFIX = "trk_"
# No tracker in service sends a fix older than this: an earlier time is a device's clock
# before its first GPS time (0, 1, 1e-300 read as Unix seconds), not a position.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
ENDED = (ShipmentStatus.delivered, ShipmentStatus.turned_back)


@dataclass(frozen=True)
class Fix:
    recorded_at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    speed: float | None


def issue_key(
    session: Session, *, principal: Principal, shipment_id: uuid.UUID, valid_days: int
) -> tuple[str, datetime]:
    """A new device key for the shipment; any earlier one stops working."""
    key = new_secret(DEVICE_KEY_PREFIX)
    with write_transaction(session):
        shipment = lock_visible_shipment(session, principal, shipment_id)
        if shipment.status == ShipmentStatus.cancelled:
            raise Conflict("The shipment is cancelled; it needs no tracker.")
        if shipment.status in ENDED:
            raise Conflict(f"The shipment is {shipment.status.value}; it needs no tracker.")
        now = utcnow()
        _revoke_all(session, shipment_id, now)
        expires_at = now + timedelta(days=valid_days)
        session.add(
            DeviceKey(
                shipment_id=shipment_id,
                key_hash=digest(key),
                created_by=principal.user_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return key, expires_at


def revoke_key(session: Session, *, principal: Principal, shipment_id: uuid.UUID) -> None:
    with write_transaction(session):
        lock_visible_shipment(session, principal, shipment_id)
        _revoke_all(session, shipment_id, utcnow())


def _revoke_all(session: Session, shipment_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(DeviceKey)
        .where(DeviceKey.shipment_id == shipment_id, DeviceKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def parse_fix(params: dict[str, str], now: datetime) -> Fix:
    """An OsmAnd request's fix: `lat`, `lon` (degrees), `timestamp` (Unix seconds or
    milliseconds, or RFC 3339 with an offset; the time received if absent), `accuracy`
    (metres), `speed` (as the device sends it: knots for Traccar Client). 422 otherwise."""
    lat = _number(params, "lat", -90, 90, required=True)
    lon = _number(params, "lon", -180, 180, required=True)
    accuracy = _number(params, "accuracy", 0, 1_000_000)
    speed = _number(params, "speed", 0, 10_000)
    assert lat is not None
    assert lon is not None
    recorded_at = _timestamp(params.get("timestamp"), now)
    return Fix(recorded_at, lat, lon, accuracy, speed)


def _number(
    params: dict[str, str], name: str, low: float, high: float, *, required: bool = False
) -> float | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise _invalid(name, "is required")
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _invalid(name, "is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _invalid(name, f"must be between {low:g} and {high:g}")
    return value


def _timestamp(raw: str | None, now: datetime) -> datetime:
    if raw is None or raw.strip() == "":
        return now
    raw = raw.strip()
    try:
        number: float | None = float(raw)
    except ValueError:
        number = None
    if number is None:
        at = _rfc3339(raw)
    else:
        if not math.isfinite(number) or number < 0:
            raise _invalid("timestamp", "is not a time")
        seconds = number / 1000 if number > 100_000_000_000 else number  # milliseconds
        try:
            at = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError):
            raise _invalid("timestamp", "is not a time") from None
    if at > now + MAX_CLOCK_SKEW:
        raise _invalid("timestamp", "is more than 5 minutes in the future")
    if at < EARLIEST:
        raise _invalid("timestamp", "is before 2000-01-01")
    return at


def _rfc3339(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise _invalid("timestamp", "is neither Unix time nor RFC 3339") from None
    if at.tzinfo is None:
        raise _invalid("timestamp", "needs an offset")
    try:
        return at.astimezone(UTC)  # 0001-01-01T00:00:00+01:00 is before the year 1 in UTC
    except (OverflowError, ValueError):
        raise _invalid("timestamp", "is not a time") from None


def _invalid(name: str, msg: str) -> InvalidInput:
    return InvalidInput(
        f"{name} {msg}.", errors=[{"loc": ["query", name], "msg": msg, "type": "value_error"}]
    )


def record_position(session: Session, *, key: str | None, fix: Fix) -> bool:
    """Store a tracker's fix for the shipment its key belongs to; True if it was new.
    401 for a missing, unknown, revoked or expired key (the key is never logged), answered
    from a plain read before the write lock is taken (and checked again under it); 409 for a
    cancelled shipment, which takes no events either.

    A fix from a valid key that says nothing is a 200 that stores nothing (False), since a
    tracker resends a refused fix until it gets a 200: lat=0 and lon=0 exactly ("null
    island", a device without a fix), and a fix recorded after a delivered or turned-back
    trip ended (give or take the tracker margin: fixes buffered during the trip still count).
    """
    if not key or not key.startswith(DEVICE_KEY_PREFIX):
        raise Unauthorized("A device key (trk_…) is required as `id`.")
    key_hash = digest(key)
    now = utcnow()
    if _live_key(session, key_hash, now) is None:  # no write lock for a bad key
        raise Unauthorized("Unknown, revoked or expired device key.")
    if fix.lat == 0 and fix.lon == 0:
        return False
    with write_transaction(session):
        shipment_id = _live_key(session, key_hash, now)
        if shipment_id is None:
            raise Unauthorized("Unknown, revoked or expired device key.")
        shipment = session.scalars(
            select(Shipment).where(Shipment.id == shipment_id).with_for_update(of=Shipment)
        ).one()
        if shipment.status == ShipmentStatus.cancelled:
            raise Conflict("The shipment is cancelled; it takes no more positions.")
        if shipment.status in ENDED:
            end = _ended_at(session, shipment)
            if end is None or fix.recorded_at > end + geofence.TRACKER_MARGIN:
                return False
        if session.scalar(
            select(Position.id).where(
                Position.shipment_id == shipment_id, Position.recorded_at == fix.recorded_at
            )
        ):
            return False
        session.add(
            Position(
                shipment_id=shipment_id,
                recorded_at=fix.recorded_at,
                received_at=now,
                latitude=fix.lat,
                longitude=fix.lon,
                accuracy_m=fix.accuracy_m,
                speed=fix.speed,
            )
        )
        shipment.tracked = True
        session.flush()
        if _within_a_stop(session, shipment_id, fix.recorded_at):
            rebuild(session, shipment)
    return True


def _live_key(session: Session, key_hash: str, now: datetime) -> uuid.UUID | None:
    """The shipment of a device key that is neither revoked nor expired."""
    return session.scalar(
        select(DeviceKey.shipment_id).where(
            DeviceKey.key_hash == key_hash,
            DeviceKey.revoked_at.is_(None),
            DeviceKey.expires_at > now,
        )
    )


def _ended_at(session: Session, shipment: Shipment) -> datetime | None:
    """When a delivered or turned-back trip ended: its delivery, or its first turn back."""
    if shipment.status == ShipmentStatus.delivered and shipment.delivered_at is not None:
        return shipment.delivered_at
    turned_back = session.scalar(
        select(func.min(TrackingEvent.occurred_at)).where(
            TrackingEvent.shipment_id == shipment.id,
            TrackingEvent.type == EventType.turned_back,
        )
    )
    return turned_back or shipment.last_event_at


def _within_a_stop(session: Session, shipment_id: uuid.UUID, at: datetime) -> bool:
    """Does the fix fall within the time a stored stop spans (arrival, else its last event,
    to its release, else its last event), give or take the tracker margin?"""
    margin = geofence.TRACKER_MARGIN
    start = Stop.arrived_at
    end = Stop.closed_at
    found = session.scalar(
        select(Stop.id)
        .where(
            Stop.shipment_id == shipment_id,
            (start.is_not(None) | Stop.last_event_at.is_not(None)),
        )
        .where(
            ((start <= at + margin) | (start.is_(None) & (Stop.last_event_at <= at + margin)))
            & ((end >= at - margin) | (end.is_(None) & (Stop.last_event_at >= at - margin)))
        )
        .limit(1)
    )
    return found is not None
