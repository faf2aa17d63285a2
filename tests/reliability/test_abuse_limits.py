"""Unrestricted resource consumption (OWASP API4): login throttling, body size, page size,
batch sizes, and a slow client that must not stop anyone else from being served."""

import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth.throttle import LoginThrottle
from app.auth.throttle_storage import DatabaseStorage
from app.config import Settings
from app.main import create_app
from app.pagination import MAX_LIMIT
from app.shipments.router import MAX_BATCH
from app.tracking.schemas import MAX_SYNC_EVENTS
from tests.conftest import make_settings
from tests.factories import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    API,
    admin,
    assert_problem,
    make_exporter,
    make_shipment,
    shipment_payload,
)
from tests.live_server import live_server


def sign_in(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post(f"{API}/auth/token", data={"username": email, "password": password})


def test_repeated_failures_for_one_account_get_429_with_retry_after(
    client: TestClient, settings: Settings
) -> None:
    limit = settings.login_max_failures_per_account
    assert 3 <= limit <= 10, "a sane default"
    other = {"email": "other@example.org", "password": "other-password", "role": "advocate"}
    assert client.post(f"{API}/users", json=other, headers=admin(client).headers).is_success
    for _ in range(limit):
        assert_problem(sign_in(client, ADMIN_EMAIL, "wrong-password"), 401)
    # Now even the right password waits: the guesser cannot tell which try was right.
    refused = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    problem = assert_problem(refused, 429)
    assert problem["type"] == "/problems/too-many-requests"
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= settings.login_failure_window_seconds
    # The same account, any capitalisation: one account.
    assert_problem(sign_in(client, ADMIN_EMAIL.upper(), ADMIN_PASSWORD), 429)
    # Other accounts are not locked out by someone guessing at this one.
    assert sign_in(client, other["email"], other["password"]).status_code == 200


def test_failures_spread_over_accounts_from_one_address_get_429(
    client: TestClient, settings: Settings
) -> None:
    limit = settings.login_max_failures_per_address
    assert 10 <= limit <= 100, "a sane default"
    for n in range(limit):
        assert_problem(sign_in(client, f"guess{n}@example.org", "password"), 401)
    refused = sign_in(client, "another@example.org", "password")
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) > 0


def test_successful_sign_ins_are_never_throttled(client: TestClient, settings: Settings) -> None:
    for _ in range(settings.login_max_failures_per_account * 4):
        assert sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200


def test_a_success_clears_the_account_count_but_not_the_address_count(app: FastAPI) -> None:
    now = [1000.0]
    storage = DatabaseStorage(app.state.session_factory, clock=lambda: now[0])
    throttle = LoginThrottle(
        storage, account_limit=3, address_limit=5, window_seconds=60, clock=lambda: now[0]
    )
    for _ in range(2):
        throttle.failed(account="a", address="1.2.3.4")
    throttle.succeeded(account="a")
    throttle.failed(account="a", address="1.2.3.4")
    assert throttle.retry_after(account="a", address="1.2.3.4") is None
    throttle.failed(account="b", address="1.2.3.4")
    throttle.failed(account="c", address="1.2.3.4")
    assert throttle.retry_after(account="z", address="1.2.3.4") == 60  # 5 from this address
    assert throttle.retry_after(account="z", address="5.6.7.8") is None
    now[0] += 30
    assert throttle.retry_after(account="z", address="1.2.3.4") == 30
    now[0] += 30
    assert throttle.retry_after(account="z", address="1.2.3.4") is None  # aged out


def test_limits_come_from_settings(db_url: str) -> None:
    settings = make_settings(db_url, login_max_failures_per_account=2)
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            assert_problem(sign_in(client, ADMIN_EMAIL, "wrong-password"), 401)
        assert_problem(sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD), 429)


def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    exporter = make_exporter(client, admin(client))
    big = shipment_payload(driver_name="x" * (1024 * 1024 + 1))
    response = client.post(f"{API}/shipments", json=big, headers=exporter.headers)
    assert_problem(response, 413)


def test_page_size_is_capped(client: TestClient) -> None:
    boss = admin(client)
    for path in ("/shipments", "/checkpoints", "/users", "/organizations"):
        problem = assert_problem(
            client.get(f"{API}{path}?limit={MAX_LIMIT + 1}", headers=boss.headers), 422
        )
        assert problem["errors"][0]["loc"] == ["query", "limit"], path
        ok = client.get(f"{API}{path}?limit={MAX_LIMIT}", headers=boss.headers)
        assert ok.status_code == 200, path


def test_bulk_requests_are_capped(client: TestClient) -> None:
    exporter = make_exporter(client, admin(client))
    shipment = make_shipment(client, exporter)
    now = datetime.now(UTC).isoformat()
    events = [
        {"event_id": str(uuid.uuid4()), "type": "note", "occurred_at": now, "note": "n"}
        for _ in range(MAX_SYNC_EVENTS + 1)
    ]
    body = {"shipment_id": shipment["id"], "events": events}
    problem = assert_problem(client.post(f"{API}/sync", json=body, headers=exporter.headers), 422)
    assert problem["errors"][0]["loc"][:2] == ["body", "events"]
    rows = [shipment_payload() for _ in range(MAX_BATCH + 1)]
    response = client.post(f"{API}/shipments/batch", json=rows, headers=exporter.headers)
    assert_problem(response, 422)


def _slow_request(port: int, stop: threading.Event, sent: list[int]) -> None:
    """Sends a request a byte at a time, a header and then a body, until told to stop."""
    request = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        + b"u"
        * 100000
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in request:
            if stop.is_set():
                return
            sock.sendall(bytes([byte]))
            sent[0] += 1
            time.sleep(0.01)


@pytest.mark.slow
def test_slow_clients_do_not_stop_others_being_served(settings: Settings) -> None:
    app: FastAPI = create_app(settings)
    with live_server(app) as base:
        port = int(base.rsplit(":", 1)[1])
        stop = threading.Event()
        sent = [0]
        # More slow clients than the server has worker threads (40 in AnyIO's pool).
        slow = [
            threading.Thread(target=_slow_request, args=(port, stop, sent), daemon=True)
            for _ in range(60)
        ]
        for thread in slow:
            thread.start()
        time.sleep(1.0)
        try:
            with httpx.Client(base_url=base, timeout=5) as http:
                started = time.monotonic()
                for _ in range(20):
                    token = http.post(
                        f"{API}/auth/token",
                        data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                    )
                    assert token.status_code == 200, token.text
                    me = http.get(
                        f"{API}/users/me",
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                    )
                    assert me.status_code == 200
                elapsed = time.monotonic() - started
            assert sent[0] > 60 * 50, "the slow clients were really sending"
            assert elapsed < 10, f"20 sign-ins took {elapsed:.1f} s beside the slow clients"
        finally:
            stop.set()
            for thread in slow:
                thread.join(timeout=5)
