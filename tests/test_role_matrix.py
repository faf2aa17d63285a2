# ruff: noqa: E501  (MATRIX is a table: one operation per line)
"""Who may call what: every /api/v1 operation × every kind of caller, in one table.

OWASP API Top 10 (2023) is the checklist: object-level (API1) and function-level (API5)
authorization, broken authentication (API2: revoked and expired credentials), and property
exposure (API3: a denied caller learns nothing).

The world: exporter A owns shipments SA (with a driver link; an earlier link was revoked) and
SA2 (with its own driver link); exporter B is another organisation with its own shipment SB;
an advocate; A's API key; a revoked key of A's; an expired sign-in token of A's; nobody
(anonymous). A caller who may not see SA must never get any of SA's or A's details back,
whatever the status; and no refusal (4xx) ever carries anyone's details, B's included.
"""

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    API,
    Actor,
    admin,
    make_checkpoint,
    make_exporter,
    make_shipment,
    make_user,
    shipment_payload,
)

PROBLEM_JSON = "application/problem+json"
# Callers run in this order, so that the owner's writes (revoking the driver link, a key, …)
# come after everyone else has tried.
PRINCIPALS = (
    "anon",
    "revoked",  # A's revoked API key
    "expired",  # A's sign-in token, past its expiry
    "revoked_driver",  # SA's first driver link, replaced by the current one
    "advocate",
    "b",
    "driver2",  # the driver link of A's other shipment, SA2
    "driver",  # SA's driver link
    "admin",
    "key",  # A's API key
    "a",
)
# Callers that may never learn anything about SA; all but SA2's driver know nothing of A either.
OUTSIDERS = {"anon", "revoked", "expired", "revoked_driver", "advocate", "b", "driver2"}
STRANGERS_TO_A = OUTSIDERS - {"driver2"}
# Drivers see their own shipment, but never what its cargo is worth.
DRIVERS = {"driver", "driver2", "revoked_driver"}


def row(
    method: str,
    path: str,
    *,
    anon: int = 401,
    revoked: int = 401,
    expired: int = 401,
    revoked_driver: int = 401,
    **expected: int,
) -> Any:
    """One operation: the expected status per caller. Without credentials, or with a revoked
    or expired one, the answer is 401 unless stated otherwise."""
    cells = {
        "anon": anon,
        "revoked": revoked,
        "expired": expired,
        "revoked_driver": revoked_driver,
        **expected,
    }
    assert set(cells) == set(PRINCIPALS), f"{method} {path}: give every caller a status"
    return pytest.param(method, path, cells, id=f"{method} {path}")


# fmt: off
MATRIX = [
    row("POST", "/auth/token", anon=200, revoked=200, admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200, expired=200, revoked_driver=200),
    row("GET", "/users/me", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/api-keys", admin=403, a=200, b=200, advocate=403, key=403, driver=403, driver2=403),
    row("POST", "/api-keys", admin=403, a=201, b=201, advocate=403, key=403, driver=403, driver2=403),
    row("DELETE", "/api-keys/{key_id}", admin=403, a=204, b=404, advocate=403, key=403, driver=403, driver2=403),
    row("POST", "/organizations", admin=201, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("GET", "/organizations", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("GET", "/organizations/{organization_id}", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("POST", "/users", admin=201, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("GET", "/users", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("GET", "/users/{user_id}", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("PATCH", "/users/{user_id}", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("POST", "/checkpoints", admin=201, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("GET", "/checkpoints", admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    row("GET", "/checkpoints/{checkpoint_id}", admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    row("PATCH", "/checkpoints/{checkpoint_id}", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("PUT", "/checkpoints/{checkpoint_id}/target", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("POST", "/shipments", admin=403, a=201, b=201, advocate=403, key=201, driver=403, driver2=403),
    row("GET", "/shipments", admin=200, a=200, b=200, advocate=403, key=200, driver=403, driver2=403),
    row("POST", "/shipments/batch", admin=403, a=201, b=201, advocate=403, key=201, driver=403, driver2=403),
    row("POST", "/shipments/import", admin=403, a=200, b=200, advocate=403, key=200, driver=403, driver2=403),
    row("GET", "/shipments/{shipment_id}", admin=200, a=200, b=404, advocate=403, key=200, driver=200, driver2=404),
    row("PATCH", "/shipments/{shipment_id}", admin=403, a=200, b=404, advocate=403, key=200, driver=403, driver2=403),
    row("POST", "/shipments/{shipment_id}/cancel", admin=403, a=200, b=404, advocate=403, key=200, driver=403, driver2=403),
    row("POST", "/shipments/{shipment_id}/events", admin=403, a=201, b=404, advocate=403, key=201, driver=201, driver2=404),
    row("GET", "/shipments/{shipment_id}/events", admin=200, a=200, b=404, advocate=403, key=200, driver=200, driver2=404),
    row("GET", "/shipments/{shipment_id}/stops", admin=200, a=200, b=404, advocate=403, key=200, driver=200, driver2=404),
    row("POST", "/sync", admin=403, a=200, b=404, advocate=403, key=200, driver=200, driver2=422),
    row("POST", "/shipments/{shipment_id}/driver-token", admin=403, a=201, b=404, advocate=403, key=201, driver=403, driver2=403),
    row("DELETE", "/shipments/{shipment_id}/driver-token", admin=403, a=204, b=404, advocate=403, key=204, driver=403, driver2=403),
    row("GET", "/reports/checkpoints", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/reports/corridors", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/reports/agencies", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/reports/commodities", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/reports/procedures", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/reports/trends", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/driver/shipment", admin=403, a=403, b=403, advocate=403, key=403, driver=200, driver2=200),
    row("GET", "/checkpoints/status", admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    row("POST", "/shipments/{shipment_id}/events/{event_id}/attachments", admin=201, a=201, b=404, advocate=403, key=201, driver=201, driver2=404),
    row("GET", "/shipments/{shipment_id}/events/{event_id}/attachments", admin=200, a=200, b=404, advocate=403, key=200, driver=200, driver2=404),
    row("GET", "/attachments/{attachment_id}", admin=200, a=200, b=404, advocate=403, key=200, driver=200, driver2=404),
    row("POST", "/attachments/{attachment_id}/withdraw", admin=200, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("POST", "/shipments/{shipment_id}/device-key", admin=403, a=201, b=404, advocate=403, key=201, driver=403, driver2=403),
    row("DELETE", "/shipments/{shipment_id}/device-key", admin=403, a=204, b=404, advocate=403, key=204, driver=403, driver2=403),
    # A tracker authenticates with its device key as `id`, never a bearer credential.
    row("GET", "/positions/osmand", admin=401, a=401, b=401, advocate=401, key=401, driver=401, driver2=401),
    row("POST", "/positions/osmand", admin=401, a=401, b=401, advocate=401, key=401, driver=401, driver2=401),
    # cases, focal points and incidents (issue 16): advocates and admins work cases; a stop's
    # exporter or driver link files incidents; advocates never see who filed one.
    row("POST", "/cases", admin=201, a=403, b=403, advocate=201, key=403, driver=403, driver2=403),
    row("GET", "/cases", admin=200, a=403, b=403, advocate=200, key=403, driver=403, driver2=403),
    row("GET", "/cases/{case_id}", admin=200, a=403, b=403, advocate=200, key=403, driver=403, driver2=403),
    row("POST", "/cases/{case_id}/transitions", admin=200, a=403, b=403, advocate=200, key=403, driver=403, driver2=403),
    # The advocate links the incident (201); the admin's same link is already there (200).
    row("POST", "/cases/{case_id}/incidents", admin=200, a=403, b=403, advocate=201, key=403, driver=403, driver2=403),
    row("GET", "/reports/cases", admin=200, a=403, b=403, advocate=200, key=403, driver=403, driver2=403),
    row("POST", "/focal-points", admin=201, a=403, b=403, advocate=403, key=403, driver=403, driver2=403),
    row("GET", "/focal-points", admin=200, a=403, b=403, advocate=200, key=403, driver=403, driver2=403),
    row("POST", "/incidents", admin=403, a=201, b=404, advocate=403, key=201, driver=404, driver2=201),
    row("GET", "/incidents", admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    # policy changes and effects (issue 16)
    row("POST", "/policy-changes", admin=201, a=403, b=403, advocate=201, key=403, driver=403, driver2=403),
    row("GET", "/policy-changes", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/policy-changes/{policy_change_id}", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    row("GET", "/reports/effects", admin=200, a=200, b=200, advocate=200, key=200, driver=403, driver2=403),
    # the monthly bulletin (issue 16)
    row("GET", "/bulletins/{month}", admin=200, a=403, b=403, advocate=200, key=403, driver=403, driver2=403),
    # the public board (issue 17): anyone, whatever credential comes with the request
    row("GET", "/public/checkpoints", anon=200, revoked=200, expired=200, revoked_driver=200, admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    row("GET", "/public/checkpoints/{code}", anon=200, revoked=200, expired=200, revoked_driver=200, admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    row("GET", "/public/daily", anon=200, revoked=200, expired=200, revoked_driver=200, admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    row("GET", "/public/dictionary", anon=200, revoked=200, expired=200, revoked_driver=200, admin=200, a=200, b=200, advocate=200, key=200, driver=200, driver2=200),
    # webhooks (issue 18): an exporter's own endpoints (B gets 404 for A's), an admin's all;
    # B naming A's organisation to register is a 403; drivers and advocates none.
    row("POST", "/webhooks", admin=201, a=201, b=403, advocate=403, key=201, driver=403, driver2=403),
    row("GET", "/webhooks", admin=200, a=200, b=200, advocate=403, key=200, driver=403, driver2=403),
    row("GET", "/webhooks/{webhook_id}", admin=200, a=200, b=404, advocate=403, key=200, driver=403, driver2=403),
    row("PATCH", "/webhooks/{webhook_id}", admin=200, a=200, b=404, advocate=403, key=200, driver=403, driver2=403),
    row("DELETE", "/webhooks/{webhook_id}", admin=204, a=204, b=404, advocate=403, key=204, driver=403, driver2=403),
    row("POST", "/webhooks/{webhook_id}/rotate-secret", admin=200, a=200, b=404, advocate=403, key=200, driver=403, driver2=403),
    row("POST", "/webhooks/{webhook_id}/test", admin=202, a=202, b=404, advocate=403, key=202, driver=403, driver2=403),
    row("GET", "/webhooks/{webhook_id}/deliveries", admin=200, a=200, b=404, advocate=403, key=200, driver=403, driver2=403),
    row("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", admin=202, a=202, b=404, advocate=403, key=202, driver=403, driver2=403),
]
# fmt: on


@dataclass
class World:
    headers: dict[str, dict[str, str]]  # principal -> request headers
    path_params: dict[str, str]  # route parameter -> the id it stands for
    secrets: list[str]  # what outsiders must never see: SA's id, code, reference, driver
    org_secrets: list[str]  # A's organisation: its id and name
    cargo_value: str  # SA's cargo value, which no driver sees
    others: list[str] = field(default_factory=list)  # B's: never in a refusal either
    client: TestClient | None = None  # for bodies that depend on the state (a case's next step)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_key(client: TestClient, owner: Actor) -> dict[str, Any]:
    response = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def expired_token(user_id: str) -> str:
    past = datetime.now(UTC) - timedelta(hours=2)
    claims = {
        "sub": user_id,
        "iss": "checkpoint-clearance-tracker",
        "iat": past,
        "exp": past + timedelta(hours=1),
        "typ": "access",
    }
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def driver_link(client: TestClient, owner: Actor, shipment: dict[str, Any]) -> str:
    link = client.post(f"{API}/shipments/{shipment['id']}/driver-token", headers=owner.headers)
    assert link.status_code == 201, link.text
    return link.json()["token"]  # type: ignore[no-any-return]


@pytest.fixture
def world(client: TestClient) -> World:
    boss = admin(client)
    a = make_exporter(client, boss)
    org_a = a.organization
    assert org_a is not None
    b = make_exporter(client, boss)
    assert b.organization is not None
    advocate = make_user(client, boss, "advocate")
    checkpoint = make_checkpoint(client, boss)
    cargo = shipment_payload()["cargo"]
    cargo[0]["value_usd"] = 918273.45  # a figure that cannot turn up by chance
    sa = make_shipment(
        client,
        a,
        route=[checkpoint["id"]],
        driver_name="Shwan Rashid Hawrami",
        reference="A-CONFIDENTIAL-0001",
        cargo=cargo,
    )
    sa2 = make_shipment(client, a)
    sb = make_shipment(client, b, reference="B-CONFIDENTIAL-0002", driver_name="Dara Omar Zebari")
    key, spare, revoked = new_key(client, a), new_key(client, a), new_key(client, a)
    assert client.delete(f"{API}/api-keys/{revoked['id']}", headers=a.headers).status_code == 204
    first_link = driver_link(client, a, sa)
    link = driver_link(client, a, sa)  # replaces (revokes) the first
    # An event of SA's with a photo attached (the evidence routes).
    event = note_event()
    assert client.post(
        f"{API}/shipments/{sa['id']}/events", json=event, headers=a.headers
    ).is_success
    change = client.post(
        f"{API}/policy-changes", json=policy_change(checkpoint), headers=boss.headers
    )
    assert change.status_code == 201, change.text
    photo = client.post(
        f"{API}/shipments/{sa['id']}/events/{event['event_id']}/attachments",
        params={"kind": "receipt"},
        content=png(),
        headers={**a.headers, "Content-Type": "image/png"},
    )
    assert photo.status_code == 201, photo.text
    # A stop of SA2's (an arrival at the checkpoint: SA stays planned for the rows that
    # change it), an incident on it, and a case.
    arrived = {**note_event(), "type": "arrived", "checkpoint_id": checkpoint["id"]}
    arrived.pop("note")
    assert client.post(
        f"{API}/shipments/{sa2['id']}/events", json=arrived, headers=a.headers
    ).is_success
    stops = client.get(f"{API}/shipments/{sa2['id']}/stops", headers=a.headers).json()["items"]
    incident = client.post(
        f"{API}/incidents",
        json={"stop_id": stops[0]["id"], "category": "unreceipted_fee", "text": "no receipt"},
        headers=a.headers,
    )
    assert incident.status_code == 201, incident.text
    case = client.post(
        f"{API}/cases",
        json={"title": "Fees", "category": "unreceipted_fee", "checkpoint_ids": [checkpoint["id"]]},
        headers=advocate.headers,
    )
    assert case.status_code == 201, case.text
    # An endpoint of A's (a public IP literal: no DNS, no WEBHOOK_ALLOW_PRIVATE) and the test
    # message queued to it.
    webhook = new_webhook(client, a.headers)
    delivery = client.post(f"{API}/webhooks/{webhook}/test", headers=a.headers)
    assert delivery.status_code == 202, delivery.text
    return World(
        headers={
            "anon": {},
            "revoked": bearer(revoked["key"]),
            "expired": bearer(expired_token(a.user["id"])),
            "revoked_driver": bearer(first_link),
            "advocate": advocate.headers,
            "b": b.headers,
            "driver2": bearer(driver_link(client, a, sa2)),
            "driver": bearer(link),
            "admin": boss.headers,
            "key": bearer(key["key"]),
            "a": a.headers,
        },
        path_params={
            "shipment_id": sa["id"],
            "checkpoint_id": checkpoint["id"],
            "organization_id": org_a["id"],
            "user_id": a.user["id"],
            "key_id": spare["id"],
            "event_id": event["event_id"],
            "attachment_id": photo.json()["id"],
            "case_id": case.json()["id"],
            "stop_id": stops[0]["id"],
            "incident_id": incident.json()["id"],
            "policy_change_id": change.json()["id"],
            "month": "2026-11",  # a finished month (the bulletins)
            "code": checkpoint["code"],  # the public board's checkpoints go by their code
            "webhook_id": webhook,
            "delivery_id": str(delivery.json()["id"]),
        },
        secrets=[
            sa["id"],
            sa["tracking_code"],
            sa["driver_name"],
            "A-CONFIDENTIAL-0001",
            "918273.45",
        ],
        org_secrets=[org_a["id"], org_a["name"]],
        cargo_value="918273.45",
        others=[
            sb["id"],
            sb["tracking_code"],
            "B-CONFIDENTIAL-0002",
            "Dara Omar Zebari",
            b.organization["id"],
            b.organization["name"],
        ],
        client=client,
    )


def new_webhook(client: TestClient, headers: dict[str, str]) -> str:
    body = {"url": "https://93.184.215.14/hook", "event_types": ["shipment.held"]}
    response = client.post(f"{API}/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def policy_change(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "Single inspection",
        "effective_at": "2026-12-01T00:00:00+03:00",
        "checkpoint_ids": [checkpoint["id"]],
        "description": "Agreed with the governorate.",
    }


def note_event() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "note",
        "occurred_at": datetime.now(UTC).isoformat(),
        "note": "waiting for the convoy",
    }


def csv_file() -> str:
    shipment = shipment_payload()
    line = {**{k: v for k, v in shipment.items() if k != "cargo"}, **shipment["cargo"][0]}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(line))
    writer.writeheader()
    writer.writerow(line)
    return out.getvalue()


def png() -> bytes:
    """A small PNG, other bytes each call (a fresh attachment each time)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), tuple(uuid.uuid4().bytes[:3])).save(out, format="PNG")
    return out.getvalue()


def next_step(world: World) -> str:
    """The case's first allowed step now (each caller who may moves it one step on)."""
    assert world.client is not None
    case = world.client.get(
        f"{API}/cases/{world.path_params['case_id']}", headers=world.headers["admin"]
    )
    return str(case.json()["allowed_steps"][0])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# A valid request body for each operation that takes one (fresh each call: unique names, ids).
BODIES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/auth/token"): lambda w: {
        "data": {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    },
    ("POST", "/api-keys"): lambda w: {"json": {"name": "another"}},
    ("POST", "/organizations"): lambda w: {"json": {"name": unique("Org")}},
    ("POST", "/users"): lambda w: {
        "json": {
            "email": f"{unique('u')}@example.org",
            "password": "password-123",
            "role": "advocate",
        }
    },
    ("PATCH", "/users/{user_id}"): lambda w: {"json": {"full_name": "Exporter A"}},
    ("POST", "/checkpoints"): lambda w: {
        "json": {"code": unique("CP"), "name": "Kalar", "province": "erbil", "kind": "internal"}
    },
    ("PATCH", "/checkpoints/{checkpoint_id}"): lambda w: {"json": {"name": "Renamed"}},
    ("PUT", "/checkpoints/{checkpoint_id}/target"): lambda w: {
        "json": {"target_minutes": 45, "target_share": 0.9}
    },
    ("POST", "/shipments"): lambda w: {"json": shipment_payload()},
    ("POST", "/shipments/batch"): lambda w: {"json": [shipment_payload()]},
    ("POST", "/shipments/import"): lambda w: {
        "content": csv_file(),
        "headers": {"Content-Type": "text/csv"},
    },
    ("PATCH", "/shipments/{shipment_id}"): lambda w: {"json": {"origin_city": "Chamchamal"}},
    ("POST", "/shipments/{shipment_id}/events"): lambda w: {"json": note_event()},
    ("POST", "/shipments/{shipment_id}/events/{event_id}/attachments"): lambda w: {
        "content": png(),
        "params": {"kind": "receipt"},
        "headers": {"Content-Type": "image/png"},
    },
    ("POST", "/attachments/{attachment_id}/withdraw"): lambda w: {"json": {"reason": "blurred"}},
    ("GET", "/positions/osmand"): lambda w: {"params": {"lat": "35.4", "lon": "44.3"}},
    ("POST", "/cases"): lambda w: {"json": {"title": unique("Case"), "category": "other"}},
    ("POST", "/cases/{case_id}/transitions"): lambda w: {"json": {"to": next_step(w)}},
    ("POST", "/cases/{case_id}/incidents"): lambda w: {
        "json": {"incident_id": w.path_params["incident_id"]}
    },
    ("POST", "/focal-points"): lambda w: {
        "json": {
            "authority": "police",
            "jurisdiction": "federal",
            "name": "Directorate of traffic",
            "contact": "+964 750 000 0000",
        }
    },
    ("POST", "/incidents"): lambda w: {
        "json": {"stop_id": w.path_params["stop_id"], "category": "other", "text": "held"}
    },
    ("POST", "/positions/osmand"): lambda w: {"params": {"lat": "35.4", "lon": "44.3"}},
    ("POST", "/policy-changes"): lambda w: {
        "json": {**policy_change({"id": w.path_params["checkpoint_id"]}), "title": unique("P")}
    },
    ("GET", "/reports/effects"): lambda w: {
        "params": {"policy_change_id": w.path_params["policy_change_id"], "weeks": "8"}
    },
    ("POST", "/sync"): lambda w: {
        "json": {"shipment_id": w.path_params["shipment_id"], "events": [note_event()]}
    },
    # Every caller names A's organisation: the admin must name one, A may, B may not.
    ("POST", "/webhooks"): lambda w: {
        "json": {
            "url": "https://93.184.215.14/hook",
            "event_types": ["shipment.held"],
            "organization_id": w.path_params["organization_id"],
        }
    },
    ("PATCH", "/webhooks/{webhook_id}"): lambda w: {"json": {"description": unique("ERP")}},
}

# Operations that use up what they act on: each caller gets a fresh one of A's (the path
# parameters to use instead of the world's), so that each is asked about a live object.
FRESH: dict[tuple[str, str], Callable[[World], dict[str, str]]] = {
    ("DELETE", "/webhooks/{webhook_id}"): lambda w: {
        "webhook_id": new_webhook(_client(w), w.headers["a"])
    },
}


def _client(world: World) -> TestClient:
    assert world.client is not None
    return world.client


@pytest.mark.parametrize(("method", "path", "expected"), MATRIX)
def test_role_matrix(
    client: TestClient, world: World, method: str, path: str, expected: dict[str, int]
) -> None:
    for principal in PRINCIPALS:
        params = {**world.path_params, **FRESH.get((method, path), lambda w: {})(world)}
        url = API + path.format(**params)
        kwargs = BODIES.get((method, path), lambda w: {})(world)
        headers = {**kwargs.pop("headers", {}), **world.headers[principal]}
        response = client.request(method, url, headers=headers, **kwargs)
        cell = f"{principal}: {method} {path}"
        assert response.status_code == expected[principal], f"{cell} -> {response.text}"
        if response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM_JSON, cell
            problem = response.json()
            assert problem["status"] == response.status_code, cell
            # `instance` is the path the caller sent; it teaches them nothing new.
            assert problem.pop("instance") == url, cell
            shown = str(problem)
        else:
            shown = response.text
        if principal in OUTSIDERS or response.status_code >= 400:
            leaked = [secret for secret in world.secrets if secret in shown]
            assert not leaked, f"{cell} leaks {leaked}: {shown}"
        if principal in STRANGERS_TO_A or response.status_code >= 400:
            leaked = [secret for secret in world.org_secrets if secret in shown]
            assert not leaked, f"{cell} leaks A's {leaked}: {shown}"
        if response.status_code >= 400:
            leaked = [secret for secret in world.others if secret in shown]
            assert not leaked, f"{cell} leaks B's {leaked}: {shown}"
        if principal in DRIVERS:
            assert world.cargo_value not in shown, f"{cell} shows a driver the cargo value"


def test_matrix_covers_every_api_operation(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'unused.db'}"))
    operations = {
        (method.upper(), path.removeprefix(API))
        for path, methods in app.openapi()["paths"].items()
        if path.startswith(API)
        for method in methods
    }
    assert len(operations) > 20
    in_table = [(param.values[0], param.values[1]) for param in MATRIX]
    assert len(in_table) == len(set(in_table)), "an operation appears twice in MATRIX"
    assert operations - set(in_table) == set(), "add these operations to MATRIX"
    assert set(in_table) - operations == set(), "MATRIX lists operations the API does not have"
