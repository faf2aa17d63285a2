"""Registering, reading, changing, disabling, deleting an endpoint and rotating its secret:
the secret is shown at registration and rotation only, stored encrypted, and an endpoint of
another organisation is a 404 whatever is asked of it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import write_transaction
from app.webhooks import secrets
from app.webhooks.models import WebhookEndpoint
from tests.conftest import TEST_SECRET
from tests.factories import API, Actor, admin, assert_problem, make_exporter, make_user
from tests.webhooks.helpers import (
    PUBLIC_URL,
    WEBHOOKS,
    counts,
    register,
    session,
    stored_endpoint,
)

READ_FIELDS = {
    "id",
    "organization_id",
    "url",
    "description",
    "event_types",
    "held_minutes",
    "silent_minutes",
    "enabled",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
}


@pytest.fixture
def boss(client: TestClient) -> Actor:
    return admin(client)


@pytest.fixture
def a(client: TestClient, boss: Actor) -> Actor:
    return make_exporter(client, boss)


@pytest.fixture
def b(client: TestClient, boss: Actor) -> Actor:
    return make_exporter(client, boss)


def test_registering_shows_the_secret_once_and_stores_it_encrypted(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    created = register(
        client,
        a,
        event_types=["shipment.held", "shipment.released", "shipment.held"],
        description="ERP",
    )
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert set(created) == READ_FIELDS
    assert created["organization_id"] == a.organization_id
    assert created["url"] == PUBLIC_URL
    assert created["event_types"] == ["shipment.held", "shipment.released"]  # each once
    assert (created["held_minutes"], created["silent_minutes"]) == (180, 360)
    assert created["enabled"] is True
    assert created["previous_secret_expires_at"] is None
    # Never again: not in the read, not in the list.
    one = client.get(f"{WEBHOOKS}/{created['id']}", headers=a.headers)
    assert one.status_code == 200
    assert one.json() == created
    listed = client.get(WEBHOOKS, headers=a.headers)
    assert listed.json() == {"items": [created], "next_cursor": None}
    assert secret not in one.text + listed.text
    # Stored encrypted under SECRET_KEY: the column is not the secret, and decrypts to it.
    stored = stored_endpoint(app, created["id"])
    assert secret not in stored.secret_encrypted
    assert secrets.decrypt(stored.secret_encrypted, TEST_SECRET) == secret
    assert stored.created_by is not None


def test_an_api_key_registers_for_its_organisation(client: TestClient, a: Actor) -> None:
    key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=a.headers)
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    created = client.post(
        WEBHOOKS,
        json={"url": PUBLIC_URL, "event_types": ["shipment.delivered"], "held_minutes": 60},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["organization_id"] == a.organization_id
    assert created.json()["held_minutes"] == 60


def test_an_admin_registers_for_the_organisation_it_names(
    client: TestClient, app: FastAPI, boss: Actor, a: Actor
) -> None:
    missing = client.post(
        WEBHOOKS, json={"url": PUBLIC_URL, "event_types": ["shipment.held"]}, headers=boss.headers
    )
    assert assert_problem(missing, 422)["errors"][0]["loc"] == ["body", "organization_id"]
    unknown = client.post(
        WEBHOOKS,
        json={
            "url": PUBLIC_URL,
            "event_types": ["shipment.held"],
            "organization_id": "00000000-0000-4000-8000-000000000000",
        },
        headers=boss.headers,
    )
    assert assert_problem(unknown, 422)["errors"][0]["loc"] == ["body", "organization_id"]
    assert counts(app) == (0, 0)
    created = register(client, boss, organization_id=a.organization_id)
    assert created["organization_id"] == a.organization_id
    # The exporter sees it as its own.
    mine = client.get(WEBHOOKS, headers=a.headers).json()["items"]
    assert [e["id"] for e in mine] == [created["id"]]


def test_an_exporter_registers_for_its_own_organisation_only(
    client: TestClient, app: FastAPI, a: Actor, b: Actor
) -> None:
    refused = client.post(
        WEBHOOKS,
        json={
            "url": PUBLIC_URL,
            "event_types": ["shipment.held"],
            "organization_id": b.organization_id,
        },
        headers=a.headers,
    )
    problem = assert_problem(refused, 403)
    assert b.organization_id not in str(problem)
    assert counts(app) == (0, 0)
    own = register(client, a, organization_id=a.organization_id)
    assert own["organization_id"] == a.organization_id


def test_advocates_and_anonymous_callers_have_no_webhooks(client: TestClient, boss: Actor) -> None:
    advocate = make_user(client, boss, "advocate")
    assert_problem(client.get(WEBHOOKS, headers=advocate.headers), 403)
    assert_problem(
        client.post(
            WEBHOOKS,
            json={"url": PUBLIC_URL, "event_types": ["shipment.held"]},
            headers=advocate.headers,
        ),
        403,
    )
    assert_problem(client.get(WEBHOOKS), 401)


def test_lists_are_scoped_newest_first_and_paginated(
    client: TestClient, boss: Actor, a: Actor, b: Actor
) -> None:
    mine = [register(client, a, description=f"A{i}")["id"] for i in range(3)]
    theirs = register(client, b)["id"]
    first = client.get(WEBHOOKS, params={"limit": 2}, headers=a.headers).json()
    assert [e["id"] for e in first["items"]] == mine[::-1][:2]
    rest = client.get(
        WEBHOOKS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=a.headers
    ).json()
    assert [e["id"] for e in rest["items"]] == mine[:1]
    assert rest["next_cursor"] is None
    assert [e["id"] for e in client.get(WEBHOOKS, headers=b.headers).json()["items"]] == [theirs]
    everyone = client.get(WEBHOOKS, headers=boss.headers).json()["items"]
    assert {e["id"] for e in everyone} == {*mine, theirs}
    only_a = client.get(
        WEBHOOKS, params={"organization_id": a.organization_id}, headers=boss.headers
    ).json()["items"]
    assert {e["id"] for e in only_a} == set(mine)
    # An exporter's filter cannot reach past its own organisation.
    peek = client.get(WEBHOOKS, params={"organization_id": a.organization_id}, headers=b.headers)
    assert peek.json()["items"] == []
    assert_problem(client.get(WEBHOOKS, params={"cursor": "nonsense"}, headers=a.headers), 422)


def test_another_organisations_endpoint_is_404_whatever_is_asked(
    client: TestClient, app: FastAPI, a: Actor, b: Actor
) -> None:
    endpoint = register(client, a)
    path = f"{WEBHOOKS}/{endpoint['id']}"
    asks: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", path, {}),
        ("PATCH", path, {"json": {"enabled": False}}),
        ("DELETE", path, {}),
        ("POST", f"{path}/rotate-secret", {}),
        ("POST", f"{path}/test", {}),
        ("GET", f"{path}/deliveries", {}),
        ("POST", f"{path}/deliveries/1/retry", {}),
    ]
    before = stored_endpoint(app, endpoint["id"])
    for method, url, kwargs in asks:
        problem = assert_problem(client.request(method, url, headers=b.headers, **kwargs), 404)
        assert a.organization_id not in str(problem)
    after = stored_endpoint(app, endpoint["id"])
    assert (after.enabled, after.secret_encrypted) == (True, before.secret_encrypted)
    assert counts(app) == (1, 0)
    assert_problem(
        client.get(f"{WEBHOOKS}/00000000-0000-4000-8000-000000000000", headers=a.headers), 404
    )
    assert_problem(client.get(f"{WEBHOOKS}/not-a-uuid", headers=a.headers), 422)


def test_patch_changes_only_the_fields_sent(client: TestClient, a: Actor) -> None:
    endpoint = register(client, a, description="ERP")
    path = f"{WEBHOOKS}/{endpoint['id']}"
    changed = client.patch(
        path,
        json={
            "url": "https://93.184.215.14:8443/other?x=1",
            "event_types": ["shipment.delivered", "shipment.silent"],
            "held_minutes": 90,
            "silent_minutes": 720,
        },
        headers=a.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["url"] == "https://93.184.215.14:8443/other?x=1"
    assert body["event_types"] == ["shipment.delivered", "shipment.silent"]
    assert (body["held_minutes"], body["silent_minutes"]) == (90, 720)
    assert body["description"] == "ERP"  # not sent: kept
    assert body["updated_at"] > endpoint["updated_at"]
    cleared = client.patch(path, json={"description": None}, headers=a.headers).json()
    assert cleared["description"] is None
    for bad in (
        {"url": None},
        {"enabled": None},
        {"event_types": []},
        {"event_types": ["shipment.exploded"]},
        {"held_minutes": 0},
        {"silent_minutes": 10081},
        {"secret": "whsec_mine"},
    ):
        assert_problem(client.patch(path, json=bad, headers=a.headers), 422)
    assert client.get(path, headers=a.headers).json() == cleared


def test_disabling_says_who_and_enabling_clears_the_failure(
    client: TestClient, app: FastAPI, boss: Actor, a: Actor
) -> None:
    endpoint = register(client, a)
    path = f"{WEBHOOKS}/{endpoint['id']}"
    off = client.patch(path, json={"enabled": False}, headers=a.headers).json()
    assert off["enabled"] is False
    assert off["disabled_reason"] == "disabled by its owner"
    assert off["disabled_at"] is not None
    # As the dispatcher leaves an endpoint it gave up on: failing for days, disabled.
    with session(app) as s, write_transaction(s):
        stored = s.get_one(WebhookEndpoint, stored_endpoint(app, endpoint["id"]).id)
        stored.failing_since = datetime.now(UTC) - timedelta(days=3)
        stored.disabled_reason = "failing since 3 days"
    on = client.patch(path, json={"enabled": True}, headers=a.headers).json()
    assert on["enabled"] is True
    assert (on["disabled_reason"], on["disabled_at"], on["failing_since"]) == (None, None, None)
    by_admin = client.patch(path, json={"enabled": False}, headers=boss.headers).json()
    assert by_admin["disabled_reason"] == "disabled by an administrator"


def test_deleting_removes_the_endpoint_and_its_deliveries(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a)
    kept = register(client, a)
    path = f"{WEBHOOKS}/{endpoint['id']}"
    assert client.post(f"{path}/test", headers=a.headers).status_code == 202
    assert client.post(f"{WEBHOOKS}/{kept['id']}/test", headers=a.headers).status_code == 202
    assert counts(app) == (2, 2)
    deleted = client.delete(path, headers=a.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert counts(app) == (1, 1)
    assert_problem(client.get(path, headers=a.headers), 404)
    assert_problem(client.delete(path, headers=a.headers), 404)


def test_rotation_shows_the_new_secret_once_and_the_old_one_signs_24_hours_more(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    endpoint = register(client, a)
    old = endpoint["secret"]
    path = f"{WEBHOOKS}/{endpoint['id']}"
    before = datetime.now(UTC)
    rotated = client.post(f"{path}/rotate-secret", headers=a.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert before + timedelta(hours=24) <= expires <= datetime.now(UTC) + timedelta(hours=24)
    read = client.get(path, headers=a.headers)
    assert "secret" not in read.json()
    assert new not in read.text
    assert old not in read.text
    stored = stored_endpoint(app, endpoint["id"])
    assert stored.previous_secret_expires_at == expires
    signing = secrets.signing_secrets
    assert signing(stored, TEST_SECRET, expires - timedelta(minutes=1)) == [new, old]
    assert signing(stored, TEST_SECRET, expires + timedelta(seconds=1)) == [new]
    # A second rotation: the secret of the first becomes the previous one; the first is gone.
    newest = client.post(f"{path}/rotate-secret", headers=a.headers).json()["secret"]
    stored = stored_endpoint(app, endpoint["id"])
    assert signing(stored, TEST_SECRET, datetime.now(UTC)) == [newest, new]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"event_types": []}, "event_types"),
        ({"event_types": "shipment.held"}, "event_types"),
        ({"event_types": [{"type": "shipment.held"}]}, "event_types"),  # was a 500 (fuzzer)
        ({"event_types": [["shipment.held"]]}, "event_types"),
        ({"held_minutes": 0}, "held_minutes"),
        ({"held_minutes": 10081}, "held_minutes"),
        ({"silent_minutes": -5}, "silent_minutes"),
        ({"description": "x" * 501}, "description"),
        ({"colour": "blue"}, "colour"),
        ({"url": 12}, "url"),
    ],
)
def test_registration_refuses_bad_fields_and_stores_nothing(
    client: TestClient, app: FastAPI, a: Actor, change: dict[str, Any], where: str
) -> None:
    body = {"url": PUBLIC_URL, "event_types": ["shipment.held"], **change}
    problem = assert_problem(client.post(WEBHOOKS, json=body, headers=a.headers), 422)
    assert problem["errors"][0]["loc"][:2] == ["body", where]
    assert counts(app) == (0, 0)


def test_an_unknown_event_type_is_named_and_webhook_test_is_not_subscribable(
    client: TestClient, app: FastAPI, a: Actor
) -> None:
    unknown = client.post(
        WEBHOOKS,
        json={"url": PUBLIC_URL, "event_types": ["shipment.held", "shipment.exploded"]},
        headers=a.headers,
    )
    problem = assert_problem(unknown, 422)
    assert "shipment.exploded" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "event_types"]
    test_type = client.post(
        WEBHOOKS, json={"url": PUBLIC_URL, "event_types": ["webhook.test"]}, headers=a.headers
    )
    assert "webhook.test" in assert_problem(test_type, 422)["detail"]
    assert counts(app) == (0, 0)
