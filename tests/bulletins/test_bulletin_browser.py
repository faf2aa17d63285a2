"""The bulletin's HTML in headless Chromium (tests/browser.py): a case titled
`<script>alert(1)</script>` is shown as text and never runs, even with the page's
Content-Security-Policy switched off (so that it is the escaping that holds, not the policy);
with the policy on, the page's own style still applies and nothing is refused."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog

from app.main import create_app
from tests.bulletins.world import XSS_TITLE, World
from tests.conftest import make_settings
from tests.factories import API
from tests.live_server import live_server

pytestmark = pytest.mark.e2e  # a browser test, like tests/e2e's


@pytest.fixture(scope="module")
def site(world: World, world_url: str) -> Iterator[str]:
    """A real server over the world's database."""
    app = create_app(make_settings(world_url))
    try:
        with live_server(app) as base:
            yield base
    finally:
        app.state.engine.dispose()


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_case_title_is_shown_and_never_run(
    browser: Browser, world: World, site: str, lang: str
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    context = browser.new_context(bypass_csp=True, extra_http_headers=world.advocate.headers)
    try:
        page = context.new_page()
        page.on("dialog", on_dialog)
        response = page.goto(f"{site}{API}/bulletins/2026-11?format=html&lang={lang}")
        assert response is not None
        assert response.status == 200
        assert page.evaluate("document.scripts.length") == 0
        assert XSS_TITLE in page.locator("#cases td.title").all_inner_texts()
        page.wait_for_timeout(200)  # an alert would have opened by now
    finally:
        context.close()
    assert dialogs == []


def test_the_pages_policy_lets_its_own_style_apply_and_nothing_else(
    browser: Browser, world: World, site: str
) -> None:
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            refused.append(message.text)

    context = browser.new_context(extra_http_headers=world.advocate.headers)
    try:
        page = context.new_page()
        page.on("console", on_console)
        page.goto(f"{site}{API}/bulletins/2026-11?format=html&lang=ckb")
        assert page.locator("html").get_attribute("dir") == "rtl"
        # The style element's hash is in the policy: its rules apply.
        border = page.evaluate(
            "getComputedStyle(document.querySelector('header')).borderBottomStyle"
        )
        assert border == "solid"
    finally:
        context.close()
    assert refused == []
