import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.dependencies import AdminDep, PrincipalDep, SessionDep
from app.checkpoints import service
from app.checkpoints.models import CheckpointKind
from app.checkpoints.schemas import (
    CheckpointCreate,
    CheckpointRead,
    CheckpointUpdate,
    TargetUpdate,
)
from app.errors import problem_responses
from app.geography import Province
from app.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(tags=["checkpoints"])


@router.post(
    "/checkpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckpointRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_checkpoint(body: CheckpointCreate, _: AdminDep, session: SessionDep) -> CheckpointRead:
    return CheckpointRead.model_validate(service.create_checkpoint(session, data=body))


@router.get(
    "/checkpoints", response_model=Page[CheckpointRead], responses=problem_responses(401, 422)
)
def list_checkpoints(
    _: PrincipalDep,
    session: SessionDep,
    province: Province | None = None,
    kind: CheckpointKind | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CheckpointRead]:
    """Every signed-in caller may read the registry. `q` searches code and the three names."""
    rows, next_cursor = service.list_checkpoints(
        session, province=province, kind=kind, active=active, q=q, limit=limit, cursor=cursor
    )
    return Page(items=[CheckpointRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointRead,
    responses=problem_responses(401, 404, 422),
)
def get_checkpoint(
    checkpoint_id: uuid.UUID, _: PrincipalDep, session: SessionDep
) -> CheckpointRead:
    return CheckpointRead.model_validate(
        service.get_checkpoint(session, checkpoint_id=checkpoint_id)
    )


@router.put(
    "/checkpoints/{checkpoint_id}/target",
    response_model=CheckpointRead,
    responses=problem_responses(401, 403, 404, 422),
)
def set_target(
    checkpoint_id: uuid.UUID, body: TargetUpdate, _: AdminDep, session: SessionDep
) -> CheckpointRead:
    """The checkpoint's service standard, which its report rows are held to
    (`within_target_share`, `meets_target`)."""
    checkpoint = service.set_target(session, checkpoint_id=checkpoint_id, target=body)
    return CheckpointRead.model_validate(checkpoint)


@router.patch(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointRead,
    responses=problem_responses(401, 403, 404, 422),
)
def update_checkpoint(
    checkpoint_id: uuid.UUID, body: CheckpointUpdate, _: AdminDep, session: SessionDep
) -> CheckpointRead:
    checkpoint = service.update_checkpoint(session, checkpoint_id=checkpoint_id, data=body)
    return CheckpointRead.model_validate(checkpoint)
