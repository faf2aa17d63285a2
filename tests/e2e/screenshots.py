"""Make the README's screenshots: the dashboard, and the driver's page in English and Arabic.

    .venv/bin/python -m tests.e2e.screenshots                 # writes docs/*.png
    .venv/bin/python -m tests.e2e.screenshots driver-photos   # only docs/driver-photos-*.png
    .venv/bin/python -m tests.e2e.screenshots dashboard       # only docs/dashboard*.png

A throwaway SQLite database with the demo world, a real server, Debian's Chromium.
"""

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from app.cli import alembic_config
from app.demo import generator
from app.main import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import make_settings
from tests.e2e.conftest import ADVOCATE, PHONE, Site
from tests.e2e.photos import chosen, paper_jpeg
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


def driver_photos(browser: Browser, site: Site) -> None:
    """A phone 390 px wide with photos in their three states: a receipt sent, a file the
    server refused, and (offline) a hold notice waiting for its tap to go first."""
    for lang in ("en", "ar", "ckb"):
        _, token = site.driver_link()
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        phone = context.new_page()
        phone.goto(f"{site.base}/driver?lang={lang}#token={token}")
        expect(phone.locator("#trip")).to_be_visible()
        phone.click("[data-action=arrived]")
        phone.click("#choices .choice >> nth=0")
        offer = phone.locator("#photo-offer")
        for receipt, photo, state in (
            ("yes", chosen(paper_jpeg((3000, 2000))), "sent"),
            ("no", chosen(b"not a photo", name="scan.jpg"), "refused"),
        ):
            phone.click("[data-action=fee_paid]")
            phone.fill("#fee-amount", "25000")
            phone.check(f'input[name=receipt][value="{receipt}"]')
            phone.click("#fee-form button[type=submit]")
            phone.set_input_files("#photo-input", files=[photo])
            expect(offer.locator(f"li.photo[data-state={state}]")).to_have_count(1, timeout=20_000)
        context.set_offline(True)
        phone.click("[data-action=held]")
        phone.click('#choices [data-value="missing_document"]')
        phone.set_input_files("#photo-input", files=[chosen(paper_jpeg((2000, 3000), "NOTICE"))])
        expect(offer.locator("li.photo[data-state=waiting]")).to_have_count(1, timeout=20_000)
        phone.screenshot(path=str(DOCS / f"driver-photos-{lang}.png"), full_page=True)
        context.close()


def dashboard(browser: Browser, base: str) -> None:
    """The dashboard with the GPS-confirmed share beside each checkpoint: on a desktop in
    English (all stops) and Arabic (GPS-confirmed stops only), and on a phone 390 px wide."""
    shots = [
        ("dashboard.png", "en", "all", {"width": 1400, "height": 2100}, False),
        ("dashboard-ar.png", "ar", "confirmed", {"width": 1400, "height": 2100}, False),
        ("dashboard-phone-en.png", "en", "all", {"width": 390, "height": 844}, True),
        ("dashboard-phone-ar.png", "ar", "confirmed", {"width": 390, "height": 844}, True),
    ]
    for name, lang, evidence, viewport, phone in shots:
        context = browser.new_context(
            viewport=viewport,
            locale="en-GB",
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
        )
        page = context.new_page()
        page.goto(f"{base}/dashboard?lang={lang}&evidence={evidence}")
        page.fill("#login-email", ADVOCATE)
        page.fill("#login-password", generator.DEMO_PASSWORD)
        page.click("#login-form button[type=submit]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=60_000)
        if phone:  # the switch and the ranking's first rows, as a reader scrolls to them
            page.evaluate("document.querySelector('#evidence-switch').scrollIntoView()")
        page.screenshot(path=str(DOCS / name), full_page=False)
        context.close()


def main() -> None:
    from alembic import command

    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/shots.db"
        command.upgrade(alembic_config(url), "head")
        only_photos = sys.argv[1:] == ["driver-photos"]
        only_dashboard = sys.argv[1:] == ["dashboard"]
        app = create_app(make_settings(url, attachments_dir=Path(tmp) / "attachments"))
        with app.state.session_factory() as session:
            generator.seed(
                session,
                passwords=app.state.passwords,
                shipments=100 if only_photos else 3000,
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
            if not only_dashboard:
                driver_photos(browser, site)
            if only_photos:
                browser.close()
                print("wrote", ", ".join(str(p) for p in sorted(DOCS.glob("driver-photos-*"))))
                return
            dashboard(browser, base)
            if only_dashboard:
                browser.close()
                print("wrote", ", ".join(str(p) for p in sorted(DOCS.glob("dashboard*"))))
                return

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
