"""Every page works on a closed network under a strict Content-Security-Policy: nothing is
asked from anywhere but the app itself, and no inline script or style is needed."""

from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Request, Route, expect

from app.demo.generator import DEMO_PASSWORD
from tests.e2e.conftest import ADVOCATE, PHONE, Site

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def test_pages_ask_only_their_own_origin_and_obey_a_strict_csp(
    browser: Browser, site: Site
) -> None:
    requests: list[str] = []
    violations: list[str] = []
    # Service workers off: a request the worker answers would bypass the route below.
    context = browser.new_context(viewport=PHONE, service_workers="block")

    def with_csp(route: Route) -> None:
        response = route.fetch()
        headers: dict[str, Any] = {**response.headers, "content-security-policy": STRICT_CSP}
        route.fulfill(response=response, headers=headers)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            violations.append(message.text)

    def on_request(request: Request) -> None:
        requests.append(request.url)

    context.on("request", on_request)
    context.route("**/dashboard*", with_csp)
    context.route("**/driver?*", with_csp)
    try:
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: violations.append(str(error)))
        page.goto(f"{site.base}/dashboard?lang=en")
        page.fill("#login-email", ADVOCATE)
        page.fill("#login-password", DEMO_PASSWORD)
        page.click("#login-form button[type=submit]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=20_000)
        page.click('[data-lang="ar"]')
        expect(page.locator("html")).to_have_attribute("dir", "rtl")

        _, token = site.driver_link()
        page.goto(f"{site.base}/driver?lang=en#token={token}")
        expect(page.locator("#trip")).to_be_visible()
        page.click("[data-action=arrived]")
        page.locator("#choices .choice").first.click()
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0")
    finally:
        context.close()

    assert requests, "the pages made requests"
    outside = [url for url in requests if not url.startswith(site.base + "/")]
    assert outside == [], f"requests outside the app: {outside}"
    assert violations == [], violations
