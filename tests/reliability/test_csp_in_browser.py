"""The security headers, as a browser applies them: Swagger UI at /docs still works under its
policy, and the web pages break none of theirs (a violation is a console error in Chromium)."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page

from app.config import Settings
from app.main import create_app
from tests.live_server import live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    app: FastAPI = create_app(settings)
    with live_server(app) as base:
        yield base


def violations_on(browser: Browser, url: str) -> tuple[list[str], Page]:
    page = browser.new_page()
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_console)
    page.goto(url, wait_until="networkidle")
    return seen, page


def test_swagger_ui_works_under_its_policy(browser: Browser, base_url: str) -> None:
    seen, page = violations_on(browser, f"{base_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Checkpoint clearance tracker" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() > 20
    assert seen == []


@pytest.mark.parametrize("path", ["/dashboard", "/driver"])
def test_web_pages_break_no_policy(browser: Browser, base_url: str, path: str) -> None:
    seen, _ = violations_on(browser, f"{base_url}{path}")
    assert seen == []
