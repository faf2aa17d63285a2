"""Concurrent writers over real HTTP: nobody sees "database is locked", nothing is lost."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from app.shipments.models import Shipment
from tests.conftest import DatabaseUnderTest
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API, shipment_payload
from tests.live_server import live_server

WRITERS = 8
PER_WRITER = 12


def _token(base: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{base}{API}/auth/token", data={"username": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_parallel_shipment_creation_all_lands(app: FastAPI, engine: Engine) -> None:
    with live_server(app) as base:
        boss = _token(base, ADMIN_EMAIL, ADMIN_PASSWORD)
        org = httpx.post(f"{base}{API}/organizations", json={"name": "Parallel Co"}, headers=boss)
        user = {"email": "p@example.org", "password": "password-1", "role": "exporter"}
        created = httpx.post(
            f"{base}{API}/users", json={**user, "organization_id": org.json()["id"]}, headers=boss
        )
        assert created.status_code == 201
        exporter = _token(base, user["email"], user["password"])

        def write(writer: int) -> list[int]:
            with httpx.Client(base_url=base, headers=exporter, timeout=60) as http:
                return [
                    http.post(
                        f"{API}/shipments", json=shipment_payload(reference=f"W{writer}-{i}")
                    ).status_code
                    for i in range(PER_WRITER)
                ]

        with ThreadPoolExecutor(WRITERS) as pool:
            statuses = [s for batch in pool.map(write, range(WRITERS)) for s in batch]

    assert statuses == [201] * (WRITERS * PER_WRITER)
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(Shipment))
    assert stored == WRITERS * PER_WRITER


def test_sqlite_connections_are_configured_for_durability(
    engine: Engine, database: DatabaseUnderTest
) -> None:
    if database.backend != "sqlite":
        pytest.skip("PRAGMAs exist on SQLite only")
    with engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout": 30_000,
    }
