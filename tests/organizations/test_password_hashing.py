"""Password hashing (argon2, tens of milliseconds at production settings) happens before the
write transaction opens: on SQLite every other writer, the drivers' events included, would
wait for it behind the database's single write lock."""

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.db import WRITE_OPTION
from app.organizations import service
from tests.factories import API, admin, make_user


@pytest.fixture
def journal(app: FastAPI, engine: Engine) -> Iterator[list[str]]:
    """The order of what happens: "hash" (with whether the write lock was free then) and
    "write" for each write transaction that begins."""
    entries: list[str] = []

    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            entries.append("write")

    passwords = app.state.passwords
    original = passwords.hash

    def spying_hash(password: str) -> str:
        entries.append("hash" if _write_lock_is_free(engine) else "hash under the lock")
        return str(original(password))

    event.listen(engine, "begin", on_begin)
    passwords.hash = spying_hash
    yield entries
    passwords.hash = original
    event.remove(engine, "begin", on_begin)


def _write_lock_is_free(engine: Engine) -> bool:
    """SQLite: can another connection take the write lock right now? (PostgreSQL has no
    database-wide write lock; there the journal's order says it.)"""
    if engine.dialect.name != "sqlite" or engine.url.database is None:
        return True
    other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_creating_a_user_hashes_the_password_before_the_write_transaction(
    client: TestClient, journal: list[str]
) -> None:
    boss = admin(client)
    journal.clear()
    make_user(client, boss, "advocate")
    assert journal[:2] == ["hash", "write"], journal


def test_changing_a_password_hashes_it_before_the_write_transaction(
    client: TestClient, journal: list[str]
) -> None:
    boss = admin(client)
    advocate = make_user(client, boss, "advocate")
    journal.clear()
    url = f"{API}/users/{advocate.user['id']}"
    response = client.patch(url, json={"password": "another-password-1"}, headers=boss.headers)
    assert response.status_code == 200, response.text
    assert journal[:2] == ["hash", "write"], journal


def test_an_admin_made_from_the_shell_is_hashed_before_the_write_transaction(
    app: FastAPI, client: TestClient, journal: list[str]
) -> None:
    with app.state.session_factory() as session:
        created = service.create_admin(
            session, passwords=app.state.passwords, email="second@example.org", password="x" * 12
        )
    assert created.email == "second@example.org"
    assert journal[:2] == ["hash", "write"], journal
