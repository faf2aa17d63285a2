"""The web pages over plain HTTP: served by the app, no third-party assets, no inline code."""

import re

import pytest
from fastapi.testclient import TestClient

from tests.factories import API, admin, assert_problem, make_exporter, make_shipment

PAGES = ["/dashboard", "/driver", "/live", "/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html_with_only_local_assets_and_no_inline_code(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    assert "//cdn" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline script"
    assert re.search(r"\son[a-z]+=", html) is None, "inline event handler"
    assert " style=" not in html, "inline style"
    assert "<style" not in html, "inline style"
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset


def test_html_pages_set_lang_and_dir(client: TestClient) -> None:
    for path in PAGES:
        assert '<html lang="en" dir="ltr">' in client.get(path).text


def test_the_live_board_opens_without_credentials_under_a_policy_that_allows_nothing_external(
    client: TestClient,
) -> None:
    response = client.get("/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src", "connect-src", "font-src"):
        assert directives[directive] == ["'self'"], (directive, policy)
    assert directives["img-src"] == ["'self'", "data:", "blob:"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "http" not in policy
    assert "*" not in policy
    assert "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    # The index page leads there.
    assert 'href="/live"' in client.get("/").text


def test_service_worker_may_control_the_driver_page(client: TestClient) -> None:
    worker = client.get("/driver/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/driver"
    manifest = client.get("/driver/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/driver"
    assert body["scope"] == "/driver"
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200
    # Everything the worker caches exists.
    for path in re.findall(r'"(/[^"]+)"', worker.text.split("];")[0]):
        assert client.get(path).status_code == 200, path


def test_the_driver_link_tells_its_shipment_and_nothing_else(client: TestClient) -> None:
    boss = admin(client)
    exporter = make_exporter(client, boss)
    shipment = make_shipment(client, exporter)
    link = client.post(f"{API}/shipments/{shipment['id']}/driver-token", headers=exporter.headers)
    driver = {"Authorization": f"Bearer {link.json()['token']}"}

    mine = client.get(f"{API}/driver/shipment", headers=driver)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["id"] == shipment["id"]
    assert body["tracking_code"] == shipment["tracking_code"]
    assert all(line["value_usd"] is None for line in body["cargo"])
    assert body["current_stop"] is None
    assert body["timeline"] == []

    assert_problem(client.get(f"{API}/driver/shipment", headers=exporter.headers), 403)
    assert_problem(client.get(f"{API}/driver/shipment"), 401)
    client.delete(f"{API}/shipments/{shipment['id']}/driver-token", headers=exporter.headers)
    assert_problem(client.get(f"{API}/driver/shipment", headers=driver), 401)
