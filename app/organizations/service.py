"""Organisations and users (admin), and the bootstrap of the first admin."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.auth.passwords import Passwords
from app.db import write_transaction
from app.errors import Conflict, InvalidInput, NotFound
from app.organizations.models import Organization
from app.organizations.schemas import OrganizationCreate, UserCreate, UserUpdate
from app.pagination import paginate


def create_organization(session: Session, *, data: OrganizationCreate) -> Organization:
    taken = f"An organisation named {data.name!r} already exists."
    with _conflict_on_race(taken), write_transaction(session):
        if session.scalar(select(Organization.id).where(Organization.name == data.name)):
            raise Conflict(taken)
        org = Organization(name=data.name, province=data.province)
        session.add(org)
    return org


def list_organizations(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[Organization], str | None]:
    return paginate(
        session,
        select(Organization),
        created_at=Organization.created_at,
        row_id=Organization.id,
        limit=limit,
        cursor=cursor,
    )


def get_organization(session: Session, *, organization_id: uuid.UUID) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("No such organisation.")
    return org


def create_user(session: Session, *, passwords: Passwords, data: UserCreate) -> User:
    email = data.email.lower()
    taken = f"A user with email {email} already exists."
    # Before the transaction: argon2 takes tens of milliseconds, and on SQLite every other
    # writer (the drivers' events) would wait for it behind the write lock.
    password_hash = passwords.hash(data.password)
    with _conflict_on_race(taken), write_transaction(session):
        _check_membership(session, data.role, data.organization_id)
        if session.scalar(select(User.id).where(User.email == email)):
            raise Conflict(taken)
        user = User(
            email=email,
            full_name=data.full_name,
            password_hash=password_hash,
            role=data.role,
            organization_id=data.organization_id,
        )
        session.add(user)
    return user


def _check_membership(session: Session, role: Role, organization_id: uuid.UUID | None) -> None:
    if role == Role.exporter and organization_id is None:
        raise _field_error("organization_id", "An exporter must belong to an organisation.")
    if role != Role.exporter and organization_id is not None:
        raise _field_error("organization_id", f"A user with role {role} has no organisation.")
    if organization_id is not None and session.get(Organization, organization_id) is None:
        raise _field_error("organization_id", "No such organisation.")


def _field_error(field: str, msg: str) -> InvalidInput:
    return InvalidInput(msg, errors=[{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def list_users(
    session: Session,
    *,
    role: Role | None,
    organization_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[User], str | None]:
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if organization_id is not None:
        stmt = stmt.where(User.organization_id == organization_id)
    return paginate(
        session, stmt, created_at=User.created_at, row_id=User.id, limit=limit, cursor=cursor
    )


def get_user(session: Session, *, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def update_user(
    session: Session, *, passwords: Passwords, user_id: uuid.UUID, data: UserUpdate
) -> User:
    changes = data.model_dump(exclude_unset=True)
    # Hashed before the transaction, as in create_user.
    password_hash = passwords.hash(changes["password"]) if changes.get("password") else None
    with write_transaction(session):
        user = get_user(session, user_id=user_id)
        if "full_name" in changes:
            user.full_name = changes["full_name"]
        if password_hash is not None:
            user.password_hash = password_hash
        if changes.get("is_active") is not None:
            deactivating = user.is_active and not changes["is_active"]
            if deactivating and user.role == Role.admin and _active_admins(session) <= 1:
                raise Conflict("This is the last active admin; make another admin first.")
            user.is_active = changes["is_active"]
    return user


def _active_admins(session: Session) -> int:
    # FOR UPDATE: two admins deactivating each other at once must not both see "two left"
    # (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises the writers).
    stmt = select(User.id).where(User.role == Role.admin, User.is_active.is_(True))
    return len(session.scalars(stmt.with_for_update()).all())


def create_admin(session: Session, *, passwords: Passwords, email: str, password: str) -> User:
    """An admin from the shell (`clearance create-admin`), whether or not others exist."""
    data = UserCreate(email=email, password=password, role=Role.admin)
    return create_user(session, passwords=passwords, data=data)


def ensure_admin(session: Session, *, passwords: Passwords, email: str, password: str) -> bool:
    """Create an admin with these credentials unless an admin exists. True if created."""
    if _any_admin(session):  # the usual start-up: no hashing, no write lock
        return False
    password_hash = passwords.hash(password)  # before the transaction, as in create_user
    with write_transaction(session):
        if _any_admin(session):  # another worker made one meanwhile
            return False
        if session.scalar(select(User.id).where(User.email == email.lower())):
            raise Conflict(f"{email} already belongs to a user who is not an admin.")
        session.add(User(email=email.lower(), password_hash=password_hash, role=Role.admin))
    return True


def _any_admin(session: Session) -> bool:
    return session.scalar(select(User.id).where(User.role == Role.admin).limit(1)) is not None


@contextmanager
def _conflict_on_race(message: str) -> Iterator[None]:
    # The check before the insert answers the common case clearly; this catches the race
    # (the commit's IntegrityError, after write_transaction rolled back).
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(message) from exc
