"""Webhook test helpers: registering through the API, reading the rows as stored."""

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import API, Actor

# example.com's address: public, and an IP literal needs no DNS.
PUBLIC_URL = "https://93.184.215.14/hook"
WEBHOOKS = f"{API}/webhooks"


def register(client: TestClient, by: Actor, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"url": PUBLIC_URL, "event_types": ["shipment.held"]}
    body.update(overrides)
    response = client.post(WEBHOOKS, json=body, headers=by.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def session(app: FastAPI) -> Session:
    return app.state.session_factory()  # type: ignore[no-any-return]


def stored_endpoint(app: FastAPI, endpoint_id: str) -> WebhookEndpoint:
    with session(app) as s:
        endpoint = s.get_one(WebhookEndpoint, uuid.UUID(endpoint_id))
        s.expunge(endpoint)
        return endpoint


def stored_delivery(app: FastAPI, delivery_id: int) -> WebhookDelivery:
    with session(app) as s:
        delivery = s.get_one(WebhookDelivery, delivery_id)
        s.expunge(delivery)
        return delivery


def counts(app: FastAPI) -> tuple[int, int]:
    """(endpoints, deliveries) stored."""
    with session(app) as s:
        endpoints = s.scalar(select(func.count()).select_from(WebhookEndpoint))
        deliveries = s.scalar(select(func.count()).select_from(WebhookDelivery))
        return int(endpoints or 0), int(deliveries or 0)
