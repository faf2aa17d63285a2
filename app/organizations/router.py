import uuid

from fastapi import APIRouter, status

from app.auth.dependencies import AdminDep, PasswordsDep, PrincipalDep, SessionDep
from app.auth.models import Role
from app.errors import Forbidden, problem_responses
from app.organizations import service
from app.organizations.schemas import (
    OrganizationCreate,
    OrganizationRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from app.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(tags=["organisations and users"])


@router.post(
    "/organizations",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganizationRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_organization(
    body: OrganizationCreate, _: AdminDep, session: SessionDep
) -> OrganizationRead:
    return OrganizationRead.model_validate(service.create_organization(session, data=body))


@router.get(
    "/organizations",
    response_model=Page[OrganizationRead],
    responses=problem_responses(401, 403, 422),
)
def list_organizations(
    _: AdminDep, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[OrganizationRead]:
    rows, next_cursor = service.list_organizations(session, limit=limit, cursor=cursor)
    return Page(items=[OrganizationRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/organizations/{organization_id}",
    response_model=OrganizationRead,
    responses=problem_responses(401, 403, 404, 422),
)
def get_organization(
    organization_id: uuid.UUID, _: AdminDep, session: SessionDep
) -> OrganizationRead:
    org = service.get_organization(session, organization_id=organization_id)
    return OrganizationRead.model_validate(org)


@router.get("/users/me", response_model=UserRead, responses=problem_responses(401, 403))
def who_am_i(principal: PrincipalDep, session: SessionDep) -> UserRead:
    """The signed-in user (also for API keys: the user the key belongs to)."""
    if principal.user_id is None:
        raise Forbidden("A driver token belongs to a shipment, not to a user.")
    return UserRead.model_validate(service.get_user(session, user_id=principal.user_id))


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_user(
    body: UserCreate, _: AdminDep, session: SessionDep, passwords: PasswordsDep
) -> UserRead:
    return UserRead.model_validate(service.create_user(session, passwords=passwords, data=body))


@router.get("/users", response_model=Page[UserRead], responses=problem_responses(401, 403, 422))
def list_users(
    _: AdminDep,
    session: SessionDep,
    role: Role | None = None,
    organization_id: uuid.UUID | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[UserRead]:
    rows, next_cursor = service.list_users(
        session, role=role, organization_id=organization_id, limit=limit, cursor=cursor
    )
    return Page(items=[UserRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/users/{user_id}", response_model=UserRead, responses=problem_responses(401, 403, 404, 422)
)
def get_user(user_id: uuid.UUID, _: AdminDep, session: SessionDep) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id=user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_user(
    user_id: uuid.UUID, body: UserUpdate, _: AdminDep, session: SessionDep, passwords: PasswordsDep
) -> UserRead:
    """Rename, reset the password, or deactivate (its tokens and keys stop working at once)."""
    user = service.update_user(session, passwords=passwords, user_id=user_id, data=body)
    return UserRead.model_validate(user)
