"""Shipment use cases: create (one or a batch), list, read, change while planned. Cancelling,
which ends a truck's stop, is tracking's (tracking/lifecycle.py)."""

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.auth.principal import Principal
from app.checkpoints.models import Checkpoint
from app.db import write_transaction
from app.errors import Conflict, InvalidInput, NotFound
from app.geography import PROVINCE_CAPITALS, Province, estimate_road_km
from app.pagination import paginate
from app.shipments.models import CargoLine, RoutePoint, Shipment, ShipmentStatus
from app.shipments.repository import lock_visible_shipment, visible_shipments
from app.shipments.schemas import (
    CargoLineIn,
    ShipmentCreate,
    ShipmentFilters,
    ShipmentUpdate,
)
from app.shipments.tracking_codes import new_tracking_code, normalize

ErrorList = list[dict[str, Any]]
_WITH_LINES = (selectinload(Shipment.cargo), selectinload(Shipment.route))


def create_shipment(session: Session, *, principal: Principal, data: ShipmentCreate) -> Shipment:
    with reference_race(), write_transaction(session):
        errors = _route_errors(session, data.route, loc=("body", "route"))
        if errors:
            raise InvalidInput("The route names checkpoints that do not exist.", errors=errors)
        if data.reference and _reference_taken(session, principal, data.reference):
            raise Conflict(
                f"Your organisation already has a shipment with reference {data.reference!r}."
            )
        shipment = add_shipment(session, principal, data)
    return shipment


def create_batch(
    session: Session, *, principal: Principal, rows: Sequence[object]
) -> list[Shipment]:
    """All or nothing: either every shipment is stored or none, with every row's errors listed."""
    errors: ErrorList = []
    items: list[ShipmentCreate] = []
    positions: list[int] = []
    for index, row in enumerate(rows):
        try:
            items.append(ShipmentCreate.model_validate(row))
            positions.append(index)
        except ValidationError as exc:
            errors += [
                {"loc": ["body", index, *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors()
            ]
    with reference_race(), write_transaction(session):
        errors += validate_rows(
            session, principal=principal, items=items, loc_prefix=("body",), positions=positions
        )
        if errors:
            errors.sort(key=lambda e: e["loc"][1])
            failed = len({e["loc"][1] for e in errors})
            raise InvalidInput(
                f"{failed} of {len(rows)} shipments are invalid; none was stored.", errors=errors
            )
        shipments = [add_shipment(session, principal, item) for item in items]
    return shipments


def validate_rows(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[ShipmentCreate],
    loc_prefix: tuple[str | int, ...],
    positions: Sequence[int] | None = None,
) -> ErrorList:
    """Errors that need the database (route, references), located by row index
    (`positions[i]` for `items[i]` when given, else `i`)."""
    errors: ErrorList = []
    seen_refs: dict[str, int] = {}
    indices = positions if positions is not None else range(len(items))
    for index, item in zip(indices, items, strict=True):
        errors += _route_errors(session, item.route, loc=(*loc_prefix, index, "route"))
        if item.reference is None:
            continue
        loc = [*loc_prefix, index, "reference"]
        if item.reference in seen_refs:
            msg = f"reference repeats row {seen_refs[item.reference]}"
            errors.append({"loc": loc, "msg": msg, "type": "duplicate_reference"})
        elif _reference_taken(session, principal, item.reference):
            msg = "your organisation already has a shipment with this reference"
            errors.append({"loc": loc, "msg": msg, "type": "reference_taken"})
        seen_refs.setdefault(item.reference, index)
    return errors


def _route_errors(
    session: Session, route: Sequence[uuid.UUID], loc: tuple[str | int, ...]
) -> ErrorList:
    known = set(session.scalars(select(Checkpoint.id).where(Checkpoint.id.in_(set(route)))))
    return [
        {"loc": [*loc, i], "msg": f"no checkpoint with id {cid}", "type": "unknown_checkpoint"}
        for i, cid in enumerate(route)
        if cid not in known
    ]


@contextmanager
def reference_race() -> Iterator[None]:
    """409, not 500, when a concurrent request took the reference after it was checked
    (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises the writers). Around
    write_transaction, which has rolled back by then."""
    try:
        yield
    except IntegrityError as exc:
        message = str(exc.orig)
        if "uq_shipments_org_reference" in message or "shipments.reference" in message:
            raise Conflict("Your organisation already has a shipment with this reference.") from exc
        raise


def _reference_taken(session: Session, principal: Principal, reference: str) -> bool:
    stmt = select(
        exists().where(
            Shipment.organization_id == principal.organization_id,
            Shipment.reference == reference,
        )
    )
    return bool(session.scalar(stmt))


def add_shipment(session: Session, principal: Principal, data: ShipmentCreate) -> Shipment:
    assert principal.organization_id is not None
    fields = data.model_dump(exclude={"cargo", "route", "distance_km"})
    shipment = Shipment(
        **fields,
        id=uuid.uuid4(),
        organization_id=principal.organization_id,
        created_by=principal.user_id,
        tracking_code=_unused_tracking_code(session),
        status=ShipmentStatus.planned,
        cargo=_cargo_rows(data.cargo),
        route=[RoutePoint(position=i, checkpoint_id=c) for i, c in enumerate(data.route)],
    )
    _set_distance(session, shipment, data.distance_km, data.route)
    session.add(shipment)
    session.flush()
    return shipment


def _cargo_rows(lines: Sequence[CargoLineIn]) -> list[CargoLine]:
    return [
        CargoLine(line_no=i + 1, hs_chapter=line.hs_code[:2], **line.model_dump())
        for i, line in enumerate(lines)
    ]


def _unused_tracking_code(session: Session) -> str:
    # 31^8 ≈ 8.5e11 codes: a clash is rare, but a retry costs nothing.
    for _ in range(10):
        code = new_tracking_code()
        if not session.scalar(select(exists().where(Shipment.tracking_code == code))):
            return code
    raise RuntimeError("could not find an unused tracking code")


def _set_distance(
    session: Session,
    shipment: Shipment,
    given_km: float | None,
    route: Sequence[uuid.UUID],
) -> None:
    if given_km is not None:
        shipment.distance_km, shipment.distance_estimated = given_km, False
        return
    positions = dict(
        (row.id, (row.latitude, row.longitude))
        for row in session.execute(
            select(Checkpoint.id, Checkpoint.latitude, Checkpoint.longitude).where(
                Checkpoint.id.in_(set(route)), Checkpoint.latitude.is_not(None)
            )
        )
    )
    points = [PROVINCE_CAPITALS[Province(shipment.origin_province)]]
    points += [positions[c] for c in route if c in positions]
    points.append(PROVINCE_CAPITALS[Province(shipment.destination_province)])
    shipment.distance_km, shipment.distance_estimated = estimate_road_km(points), True


def list_shipments(
    session: Session,
    *,
    principal: Principal,
    filters: ShipmentFilters,
    limit: int,
    cursor: str | None,
    stopped_at: Callable[[uuid.UUID], ColumnElement[bool]] | None = None,
) -> tuple[list[Shipment], str | None]:
    """Newest first. `stopped_at(checkpoint)`: the shipments that stopped there, which only
    tracking knows (tracking/queries.py passes it), besides those planned through it."""
    stmt = visible_shipments(principal).options(*_WITH_LINES)
    if filters.status is not None:
        stmt = stmt.where(Shipment.status == filters.status)
    if filters.origin_province is not None:
        stmt = stmt.where(Shipment.origin_province == filters.origin_province)
    if filters.destination_province is not None:
        stmt = stmt.where(Shipment.destination_province == filters.destination_province)
    if filters.created_from is not None:
        stmt = stmt.where(Shipment.created_at >= filters.created_from)
    if filters.created_to is not None:
        stmt = stmt.where(Shipment.created_at < filters.created_to)
    if filters.reference is not None:
        stmt = stmt.where(Shipment.reference == filters.reference)
    if filters.tracking_code is not None:
        stmt = stmt.where(Shipment.tracking_code == normalize(filters.tracking_code))
    if filters.checkpoint_id is not None:
        # Planned through it, or actually stopped there (trucks leave their planned routes).
        on_route = exists().where(
            RoutePoint.shipment_id == Shipment.id, RoutePoint.checkpoint_id == filters.checkpoint_id
        )
        if stopped_at is None:
            stmt = stmt.where(on_route)
        else:
            stmt = stmt.where(or_(on_route, stopped_at(filters.checkpoint_id)))
    if filters.current_checkpoint_id is not None:
        stmt = stmt.where(Shipment.current_checkpoint_id == filters.current_checkpoint_id)
    return paginate(
        session,
        stmt,
        created_at=Shipment.created_at,
        row_id=Shipment.id,
        limit=limit,
        cursor=cursor,
    )


def get_shipment(session: Session, *, principal: Principal, shipment_id: uuid.UUID) -> Shipment:
    stmt = visible_shipments(principal).where(Shipment.id == shipment_id).options(*_WITH_LINES)
    shipment = session.scalar(stmt)
    if shipment is None:
        # Not "forbidden": whether someone else's shipment exists is not for you to learn.
        raise NotFound("No such shipment.")
    return shipment


def _lock_for_write(session: Session, principal: Principal, shipment_id: uuid.UUID) -> Shipment:
    return lock_visible_shipment(session, principal, shipment_id, *_WITH_LINES)


def update_shipment(
    session: Session, *, principal: Principal, shipment_id: uuid.UUID, data: ShipmentUpdate
) -> Shipment:
    changes = data.model_dump(exclude_unset=True)
    with reference_race(), write_transaction(session):
        shipment = _lock_for_write(session, principal, shipment_id)
        if shipment.status != ShipmentStatus.planned:
            raise Conflict(
                f"Only a planned shipment can be changed; this one is {shipment.status}."
            )
        _apply_changes(session, principal, shipment, changes, data)
    return shipment


def _apply_changes(
    session: Session,
    principal: Principal,
    shipment: Shipment,
    changes: dict[str, Any],
    data: ShipmentUpdate,
) -> None:
    required = {
        "origin_province",
        "origin_city",
        "destination_province",
        "destination_city",
        "truck_plate",
        "driver_name",
        "driver_phone",
        "planned_departure",
    }
    # `cargo` is replaced, never emptied: null would otherwise be taken for "no change".
    nulls = sorted(f for f in required | {"cargo"} if f in changes and changes[f] is None)
    if nulls:
        raise InvalidInput(
            "These fields cannot be emptied.",
            errors=[
                {"loc": ["body", f], "msg": "may not be null", "type": "value_error"} for f in nulls
            ],
        )
    reference = changes.get("reference")
    if (
        reference
        and reference != shipment.reference
        and _reference_taken(session, principal, reference)
    ):
        raise Conflict(f"Your organisation already has a shipment with reference {reference!r}.")
    for field in required | {"reference"}:
        if field in changes:
            setattr(shipment, field, changes[field])
    if data.route is not None:
        errors = _route_errors(session, data.route, loc=("body", "route"))
        if errors:
            raise InvalidInput("The route names checkpoints that do not exist.", errors=errors)
        # Flush the removal first: the unit of work inserts before it deletes, and the new
        # rows take the old rows' (shipment, position) and (shipment, line_no) keys.
        shipment.route = []
        session.flush()
        shipment.route = [RoutePoint(position=i, checkpoint_id=c) for i, c in enumerate(data.route)]
    if data.cargo is not None:
        shipment.cargo = []
        session.flush()
        shipment.cargo = _cargo_rows(data.cargo)
    route = [p.checkpoint_id for p in shipment.route]
    if "distance_km" in changes or (
        shipment.distance_estimated
        and changes.keys() & {"route", "origin_province", "destination_province"}
    ):
        _set_distance(session, shipment, changes.get("distance_km"), route)
