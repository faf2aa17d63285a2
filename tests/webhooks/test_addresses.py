"""Where a webhook may go: a public address, by https in production, without credentials or
a fragment. A refused URL is a 422 on `body.url` that says why, and nothing is stored.
WEBHOOK_ALLOW_PRIVATE lets the tests' own receiver on 127.0.0.1 in."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.errors import InvalidInput
from app.main import create_app
from app.webhooks.addresses import RefusedAddress, allowed_addresses, check_endpoint_url
from tests.conftest import make_settings
from tests.factories import Actor, admin, assert_problem, make_exporter
from tests.webhooks.helpers import PUBLIC_URL, WEBHOOKS, counts, register


@pytest.fixture
def a(client: TestClient) -> Actor:
    return make_exporter(client, admin(client))


def refused(client: TestClient, app: FastAPI, by: Actor, url: str) -> str:
    """The detail of the 422 a registration of `url` gets; checks nothing was stored."""
    response = client.post(
        WEBHOOKS, json={"url": url, "event_types": ["shipment.held"]}, headers=by.headers
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "url"]
    assert counts(app) == (0, 0)
    return str(problem["detail"])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://10.0.0.1/hook", "a private address 10.0.0.1"),
        ("https://192.168.1.20/hook", "a private address 192.168.1.20"),
        ("https://127.0.0.1/hook", "a loopback address 127.0.0.1"),
        ("https://[::1]/hook", "a loopback address ::1"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address 169.254.169.254"),
        ("https://[fd00:ec2::254]/", "a cloud metadata address fd00:ec2::254"),
        ("https://100.100.100.200/", "a cloud metadata address 100.100.100.200"),
        ("https://169.254.10.10/", "a link-local address 169.254.10.10"),
        ("https://100.64.3.4/", "a shared (CGNAT) address 100.64.3.4"),
        ("https://[fd12:3456::1]/", "a private address fd12:3456::1"),
        ("https://[::ffff:127.0.0.1]/", "a loopback address 127.0.0.1"),
        ("https://[::ffff:10.0.0.5]/", "a private address 10.0.0.5"),
        ("https://0.0.0.0/", "an unspecified address 0.0.0.0"),
        ("https://[fec0::1]/", "a site-local address fec0::1"),
        ("https://224.0.0.251/", "a multicast address 224.0.0.251"),
        # A name: looked up, and refused for what it resolves to.
        ("https://localhost/hook", "localhost resolves to a loopback address"),
        # 127.0.0.1 in the forms inet_aton reads (decimal, hex): the resolver's answer counts.
        ("https://2130706433/", "resolves to a loopback address 127.0.0.1"),
        ("https://0x7f.1/", "resolves to a loopback address 127.0.0.1"),
    ],
)
def test_a_url_at_a_non_public_address_is_refused(
    client: TestClient, app: FastAPI, a: Actor, url: str, why: str
) -> None:
    detail = refused(client, app, a, url)
    assert why in detail
    assert "WEBHOOK_ALLOW_PRIVATE" in detail


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pass@93.184.215.14/hook", "credentials"),
        ("https://token@93.184.215.14/hook", "credentials"),
        ("https://93.184.215.14/hook#part", "fragment"),
        ("ftp://93.184.215.14/hook", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https:///hook", "no host"),
        ("https://93.184.215.14:99999/hook", "cannot be parsed"),
        ("https://93.184.215.14/a b", "spaces or control characters"),
        ("https://93.184.215.14/\r\nX-Evil: 1", "spaces or control characters"),
        ("https://93.184.215.14/" + "a" * 2030, "at most 2048"),
    ],
)
def test_a_malformed_url_is_refused(
    client: TestClient, app: FastAPI, a: Actor, url: str, why: str
) -> None:
    assert why in refused(client, app, a, url)


def test_a_url_of_2048_characters_is_accepted(client: TestClient, a: Actor) -> None:
    url = PUBLIC_URL + "/" + "a" * (2048 - len(PUBLIC_URL) - 1)
    assert len(url) == 2048
    assert register(client, a, url=url)["url"] == url


def test_the_url_is_stored_with_scheme_and_host_in_lower_case(client: TestClient, a: Actor) -> None:
    created = register(client, a, url="HTTPS://93.184.215.14:8443/Hook/Path?Q=1")
    assert created["url"] == "https://93.184.215.14:8443/Hook/Path?Q=1"


def test_a_patch_to_a_private_address_is_refused_and_the_url_kept(
    client: TestClient, a: Actor
) -> None:
    endpoint = register(client, a)
    path = f"{WEBHOOKS}/{endpoint['id']}"
    refusal = client.patch(path, json={"url": "https://10.1.2.3/"}, headers=a.headers)
    assert assert_problem(refusal, 422)["errors"][0]["loc"] == ["body", "url"]
    assert client.get(path, headers=a.headers).json()["url"] == PUBLIC_URL


@pytest.fixture
def production(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(db_url, environment="production"))) as client:
        yield client


def test_production_requires_https(production: TestClient) -> None:
    app: Any = production.app
    a = make_exporter(production, admin(production))
    assert "https:// in production" in refused(production, app, a, "http://93.184.215.14/hook")
    assert register(production, a)["url"] == PUBLIC_URL


def test_http_is_accepted_outside_production(client: TestClient, a: Actor) -> None:
    assert register(client, a, url="http://93.184.215.14/hook")["url"].startswith("http://")


@pytest.fixture
def private_allowed(db_url: str) -> Iterator[TestClient]:
    settings = make_settings(db_url, webhook_allow_private=True)
    with TestClient(create_app(settings)) as client:
        yield client


def test_webhook_allow_private_lets_loopback_and_private_addresses_in(
    private_allowed: TestClient,
) -> None:
    a = make_exporter(private_allowed, admin(private_allowed))
    for url in ("http://127.0.0.1:8765/hook", "https://10.0.0.1/hook", "http://localhost:9/"):
        assert register(private_allowed, a, url=url)["url"] == url
    # Still no credentials, whatever the address.
    app: Any = private_allowed.app
    response = private_allowed.post(
        WEBHOOKS,
        json={"url": "http://u:p@127.0.0.1/", "event_types": ["shipment.held"]},
        headers=a.headers,
    )
    assert_problem(response, 422)
    assert counts(app) == (3, 0)


# --- allowed_addresses: what the dispatcher asks before each delivery -------------------------


def test_allowed_addresses_returns_a_public_literal_as_itself() -> None:
    assert allowed_addresses("93.184.215.14", 443, allow_private=False) == ["93.184.215.14"]
    assert allowed_addresses(
        "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]", 443, allow_private=False
    ) == ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


def test_allowed_addresses_refuses_a_name_resolving_to_loopback_unless_allowed() -> None:
    with pytest.raises(RefusedAddress, match="resolves to a loopback address 127.0.0.1"):
        allowed_addresses("localhost", 443, allow_private=False)
    assert "127.0.0.1" in allowed_addresses("localhost", 443, allow_private=True)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: list[str] | None) -> None:
    """DNS answering `answers` for every name (None: the name does not exist)."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in answers
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_one_private_address_among_public_ones_refuses_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, ["93.184.215.14", "10.0.0.5", "93.184.215.14"])
    with pytest.raises(RefusedAddress, match="resolves to a private address 10.0.0.5"):
        allowed_addresses("hooks.example.com", 443, allow_private=False)
    # Allowed: every address, each once, in the resolver's order.
    assert allowed_addresses("hooks.example.com", 443, allow_private=True) == [
        "93.184.215.14",
        "10.0.0.5",
    ]


def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, None)
    with pytest.raises(RefusedAddress, match="does not resolve"):
        allowed_addresses("nowhere.example", 443, allow_private=True)
    with pytest.raises(InvalidInput, match="nowhere.example does not resolve"):
        check_endpoint_url("https://nowhere.example/", allow_private=False, require_https=True)


def test_a_name_resolving_to_public_addresses_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    url = check_endpoint_url(
        "https://Hooks.Example.COM/in", allow_private=False, require_https=True
    )
    assert url == "https://hooks.example.com/in"
