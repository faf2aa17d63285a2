"""auth.service.authenticate_many: the batch lookup in front of the event writer answers for
every kind of credential exactly as a lookup of each on its own does."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth.passwords import new_secret
from app.auth.service import (
    API_KEY_PREFIX,
    DRIVER_TOKEN_PREFIX,
    authenticate_bearer,
    authenticate_many,
)
from tests.factories import API, admin, make_exporter, make_shipment, make_user


def test_a_mixed_batch_gets_what_each_credential_gets_alone(
    client: TestClient, app: FastAPI
) -> None:
    boss = admin(client)
    exporter = make_exporter(client, boss)
    advocate = make_user(client, boss, "advocate")
    key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=exporter.headers)
    shipment = make_shipment(client, exporter)
    link = client.post(f"{API}/shipments/{shipment['id']}/driver-token", headers=exporter.headers)
    revoked = client.post(f"{API}/api-keys", json={"name": "old"}, headers=exporter.headers)
    url = f"{API}/api-keys/{revoked.json()['id']}"
    assert client.delete(url, headers=exporter.headers).status_code == 204
    inactive = make_user(client, boss, "advocate")
    url = f"{API}/users/{inactive.user['id']}"
    assert client.patch(url, json={"is_active": False}, headers=boss.headers).status_code == 200

    def token(headers: dict[str, str]) -> str:
        return headers["Authorization"].split()[1]

    tokens = [
        token(exporter.headers),
        token(advocate.headers),
        token(exporter.headers),  # twice in one batch
        key.json()["key"],
        link.json()["token"],
        revoked.json()["key"],
        token(inactive.headers),
        new_secret(DRIVER_TOKEN_PREFIX),
        new_secret(API_KEY_PREFIX),
        "not-a-token",
    ]
    settings = app.state.settings
    with app.state.session_factory() as session:
        together = authenticate_many(session, settings=settings, tokens=tokens)
        alone = {t: authenticate_bearer(session, settings=settings, token=t) for t in tokens}

    assert together == alone
    kinds = [p.kind if p else None for p in (together[t] for t in tokens)]
    assert kinds == ["user", "user", "user", "api_key", "driver", None, None, None, None, None]
    link_principal = together[link.json()["token"]]
    assert link_principal is not None
    assert str(link_principal.shipment_id) == shipment["id"]
