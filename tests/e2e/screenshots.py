"""Make the README's screenshots: the dashboard, and the driver's page in English and Arabic.

    .venv/bin/python -m tests.e2e.screenshots        # writes docs/*.png

A throwaway SQLite database with the demo world, a real server, Debian's Chromium.
"""

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from app.cli import alembic_config
from app.demo import generator
from app.main import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import make_settings
from tests.e2e.conftest import ADVOCATE, PHONE, Site
from tests.live_server import live_server

DOCS = Path(__file__).resolve().parents[2] / "docs"


def driver_story(page: Page) -> None:
    """Arrive at the nearest checkpoint, start an inspection, pay a fee, get held."""
    page.click("[data-action=departed]")
    page.click("[data-action=arrived]")
    page.click("#choices .choice >> nth=0")
    page.click("[data-action=procedure_started]")
    page.click('#choices [data-value="physical_inspection"]')
    page.click("[data-action=fee_paid]")
    page.fill("#fee-amount", "25000")
    page.check('input[name=receipt][value="no"]')
    page.click("#fee-form button[type=submit]")
    page.click("[data-action=held]")
    page.click('#choices [data-value="missing_document"]')
    expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0")


def main() -> None:
    from alembic import command

    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/shots.db"
        command.upgrade(alembic_config(url), "head")
        app = create_app(make_settings(url))
        with app.state.session_factory() as session:
            generator.seed(
                session,
                passwords=app.state.passwords,
                shipments=3000,
                seed=1,
                now=datetime.now(UTC),
                # Two weeks: dense enough that checkpoint-days pass the advocates' thresholds.
                days=14,
            )
        with live_server(app) as base, sync_playwright() as playwright:
            site = Site(base, app)
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 2100}, locale="en-GB")
            page.goto(f"{base}/dashboard?lang=en")
            page.fill("#login-email", ADVOCATE)
            page.fill("#login-password", generator.DEMO_PASSWORD)
            page.click("#login-form button[type=submit]")
            expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=60_000)
            page.screenshot(path=str(DOCS / "dashboard.png"))
            page.close()

            checkpoints = httpx.get(
                f"{base}/api/v1/checkpoints",
                params={"limit": 500},
                headers={"Authorization": f"Bearer {site.token('exporter1@demo.example')}"},
            ).json()["items"]
            kirkuk = next(c for c in checkpoints if c["province"] == "kirkuk")
            for lang in ("en", "ar"):
                _, token = site.driver_link()
                context = browser.new_context(
                    viewport=PHONE,
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    geolocation={
                        "latitude": kirkuk["latitude"] + 0.01,
                        "longitude": kirkuk["longitude"],
                    },
                    permissions=["geolocation"],
                )
                phone = context.new_page()
                phone.goto(f"{base}/driver?lang={lang}#token={token}")
                expect(phone.locator("#trip")).to_be_visible()
                driver_story(phone)
                phone.screenshot(path=str(DOCS / f"driver-{lang}.png"), full_page=False)
                context.close()
            browser.close()
    print("wrote", ", ".join(str(p) for p in sorted(DOCS.glob("*.png"))))


if __name__ == "__main__":
    main()
