"""The checkpoint registry: admins write it, every signed-in caller reads it."""

import uuid

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.checkpoints.models import Checkpoint, CheckpointKind
from app.checkpoints.schemas import (
    HALF_A_POSITION,
    CheckpointCreate,
    CheckpointUpdate,
    TargetUpdate,
)
from app.db import write_transaction
from app.errors import Conflict, InvalidInput, NotFound
from app.geography import Province
from app.pagination import paginate


def create_checkpoint(session: Session, *, data: CheckpointCreate) -> Checkpoint:
    taken = f"A checkpoint with code {data.code} already exists."
    try:
        with write_transaction(session):
            if session.scalar(select(Checkpoint.id).where(Checkpoint.code == data.code)):
                raise Conflict(taken)
            checkpoint = Checkpoint(**data.model_dump())
            session.add(checkpoint)
    except IntegrityError as exc:  # a concurrent insert won the race (PostgreSQL)
        raise Conflict(taken) from exc
    return checkpoint


def list_checkpoints(
    session: Session,
    *,
    province: Province | None,
    kind: CheckpointKind | None,
    active: bool | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Checkpoint], str | None]:
    stmt = select(Checkpoint)
    if province is not None:
        stmt = stmt.where(Checkpoint.province == province)
    if kind is not None:
        stmt = stmt.where(Checkpoint.kind == kind)
    if active is not None:
        stmt = stmt.where(Checkpoint.active.is_(active))
    if q:
        # autoescape: a `%` or `_` in q is searched for, not a LIKE wildcard.
        stmt = stmt.where(
            or_(
                *(
                    column.icontains(q, autoescape=True)
                    for column in (
                        Checkpoint.code,
                        Checkpoint.name,
                        Checkpoint.name_ar,
                        Checkpoint.name_ckb,
                    )
                )
            )
        )
    return paginate(
        session,
        stmt,
        created_at=Checkpoint.created_at,
        row_id=Checkpoint.id,
        limit=limit,
        cursor=cursor,
    )


def get_checkpoint(session: Session, *, checkpoint_id: uuid.UUID) -> Checkpoint:
    checkpoint = session.get(Checkpoint, checkpoint_id)
    if checkpoint is None:
        raise NotFound("No such checkpoint.")
    return checkpoint


def set_target(session: Session, *, checkpoint_id: uuid.UUID, target: TargetUpdate) -> Checkpoint:
    with write_transaction(session):
        checkpoint = get_checkpoint(session, checkpoint_id=checkpoint_id)
        checkpoint.target_minutes = target.target_minutes
        checkpoint.target_share = target.target_share
    return checkpoint


def update_checkpoint(
    session: Session, *, checkpoint_id: uuid.UUID, data: CheckpointUpdate
) -> Checkpoint:
    with write_transaction(session):
        checkpoint = get_checkpoint(session, checkpoint_id=checkpoint_id)
        for field, value in data.model_dump(exclude_unset=True).items():
            if value is None and field not in {"name_ar", "name_ckb", "latitude", "longitude"}:
                continue  # null means "leave as is" for fields that cannot be empty
            setattr(checkpoint, field, value)
        if (checkpoint.latitude is None) != (checkpoint.longitude is None):
            # Raised inside the transaction: it rolls back, the change is discarded.
            raise InvalidInput(
                "The checkpoint would have only half a position: give latitude and longitude "
                "together, or clear both.",
                errors=[{"loc": ["body"], "msg": HALF_A_POSITION, "type": "value_error"}],
            )
    return checkpoint
