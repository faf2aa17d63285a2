"""app.db.write_transaction: the one way services write. It commits when the block ends,
rolls back when it raises, and refuses a session that already holds changes instead of
committing them unseen (what begin_write used to do)."""

import sqlite3
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db import PendingChanges, has_pending_changes, write_transaction
from app.organizations.models import Organization


def _count(engine: Engine, name: str) -> int:
    with Session(engine) as session:
        stmt = select(func.count()).where(Organization.name == name)
        return session.scalar(stmt) or 0


def _name() -> str:
    return f"Org {uuid.uuid4().hex[:8]}"


def test_a_block_that_ends_commits(app: FastAPI, engine: Engine) -> None:
    name = _name()
    with app.state.session_factory() as session:
        with write_transaction(session):
            session.add(Organization(name=name))
        assert not session.in_transaction()
        assert not has_pending_changes(session)
    assert _count(engine, name) == 1


def test_a_block_that_raises_rolls_back_and_the_error_goes_on(app: FastAPI, engine: Engine) -> None:
    name = _name()
    with app.state.session_factory() as session:

        def refuse() -> None:
            with write_transaction(session):
                session.add(Organization(name=name))
                session.flush()  # written in the transaction, then rolled back
                raise LookupError("refused")

        with pytest.raises(LookupError):
            refuse()
        assert not session.in_transaction()
        assert not has_pending_changes(session)
    assert _count(engine, name) == 0


def test_a_commit_that_fails_is_rolled_back_and_raised(app: FastAPI, engine: Engine) -> None:
    name = _name()
    with app.state.session_factory() as session:
        with write_transaction(session):
            session.add(Organization(name=name))
        with pytest.raises(Exception, match="(?i)unique"), write_transaction(session):
            session.add(Organization(name=name))  # the unique name fails at the commit's flush
        assert not session.in_transaction()
        # The session is usable again: the next write goes through.
        with write_transaction(session):
            session.add(Organization(name=_name()))
    assert _count(engine, name) == 1


@pytest.mark.parametrize("how", ["added", "flushed", "executed"])
def test_a_session_with_pending_changes_is_refused_and_nothing_is_committed(
    app: FastAPI, engine: Engine, how: str
) -> None:
    name = _name()
    with app.state.session_factory() as session:
        if how == "added":
            session.add(Organization(name=name))
        elif how == "flushed":
            session.add(Organization(name=name))
            session.flush()
        else:
            session.execute(Organization.__table__.insert().values(id=uuid.uuid4(), name=name))
        assert has_pending_changes(session)
        with pytest.raises(PendingChanges), write_transaction(session):
            pytest.fail("the block must not run")
        session.rollback()
        assert not has_pending_changes(session)
    assert _count(engine, name) == 0


def test_write_transactions_do_not_nest(app: FastAPI, engine: Engine) -> None:
    name = _name()
    with app.state.session_factory() as session:

        def nest() -> None:
            with write_transaction(session):
                session.add(Organization(name=name))
                with write_transaction(session):
                    pytest.fail("the inner block must not run")

        with pytest.raises(PendingChanges):
            nest()
    assert _count(engine, name) == 0  # the outer one rolled back: the error went through it


def test_a_read_transaction_open_before_is_ended_and_the_write_takes_the_lock_at_once(
    app: FastAPI, engine: Engine
) -> None:
    """What a request's authentication read leaves open is no pending change; the write
    transaction starts afresh, and on SQLite it holds the write lock from its first
    statement (BEGIN IMMEDIATE), so a read-then-write never meets SQLITE_BUSY."""
    with app.state.session_factory() as session:
        session.scalar(select(func.count()).select_from(Organization))
        assert session.in_transaction()
        assert not has_pending_changes(session)
        with write_transaction(session):
            session.scalar(select(func.count()).select_from(Organization))  # a read first
            if engine.dialect.name == "sqlite":
                database = engine.url.database
                assert database is not None
                other = sqlite3.connect(database, timeout=0.05, isolation_level=None)
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
                other.close()
            session.add(Organization(name=_name()))
