"""What the dispatcher's tests share: an app whose dispatcher they drive themselves (with a
clock of their own), an exporter's trip, and endpoints written straight to the database."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import create_app
from app.webhooks import secrets
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from tests.conftest import make_settings
from tests.tracking.helpers import Trip, make_trip

ALL_TYPES = [str(t) for t in WebhookEventType]


class Clock:
    """The dispatcher's clock, moved by the test."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    client: TestClient
    app: FastAPI
    settings: Settings
    trip: Trip

    def session(self) -> Session:
        return self.app.state.session_factory()  # type: ignore[no-any-return]

    def dispatcher(self, clock: Clock | None = None, **settings: Any) -> Dispatcher:
        chosen = self.settings.model_copy(update=settings) if settings else self.settings
        return Dispatcher(self.app.state.session_factory, chosen, clock=clock or Clock())

    def endpoint(
        self,
        url: str,
        types: list[str] | None = None,
        organization_id: str | None = None,
        **fields: Any,
    ) -> tuple[uuid.UUID, str]:
        """An endpoint of the trip's exporter (or another organisation); its id and secret."""
        secret = secrets.new_secret()
        endpoint = WebhookEndpoint(
            organization_id=uuid.UUID(organization_id or self.trip.exporter.organization_id),
            url=url,
            event_types=types or ALL_TYPES,
            secret_encrypted=secrets.encrypt(secret, self.settings.secret_key),
            **fields,
        )
        with self.session() as session:
            session.add(endpoint)
            session.commit()
            return endpoint.id, secret

    def deliveries(self, endpoint_id: uuid.UUID | None = None) -> list[WebhookDelivery]:
        with self.session() as session:
            stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
            if endpoint_id is not None:
                stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
            return list(session.scalars(stmt))

    def endpoint_row(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        with self.session() as session:
            return session.get_one(WebhookEndpoint, endpoint_id)


def webhook_world(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[World]:
    values: dict[str, Any] = {
        "attachments_dir": tmp_path / "attachments",
        # The tests drive their own dispatchers, with their own clocks.
        "webhook_dispatcher": "external",
        "webhook_allow_private": True,  # the receivers listen on 127.0.0.1
        "webhook_timeout_seconds": 2.0,
    }
    values.update(overrides)
    settings = make_settings(db_url, **values)
    app = create_app(settings)
    with TestClient(app) as client:
        yield World(client, app, settings, make_trip(client))


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from webhook_world(db_url, tmp_path)
