"""Make the README's screenshots: the dashboard, and the driver's page in English and Arabic.

    .venv/bin/python -m tests.e2e.screenshots                 # writes docs/*.png
    .venv/bin/python -m tests.e2e.screenshots driver-photos   # only docs/driver-photos-*.png
    .venv/bin/python -m tests.e2e.screenshots dashboard       # only docs/dashboard*.png

A throwaway SQLite database with the demo world, a real server, Debian's Chromium.
"""

import sys
import tempfile
from datetime import UTC, datetime, timedelta
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
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD
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


def dashboard_story(site: Site) -> None:
    """What the dashboard's cases panel, policy markers and off-target badges show: cases
    opened (one resolved, one waiting, one draft) and a policy change recorded by the advocate,
    and service standards set by the admin, one of which the worst checkpoint misses."""
    advocate = {"Authorization": f"Bearer {site.token(ADVOCATE)}"}
    admin = {"Authorization": f"Bearer {site.token(ADMIN_EMAIL, ADMIN_PASSWORD)}"}
    api = f"{site.base}/api/v1"
    ranking = httpx.get(f"{api}/reports/checkpoints", headers=advocate, timeout=60).json()["items"]
    shown = [r["checkpoint_id"] for r in ranking if not r["suppressed"]]
    for checkpoint_id, minutes, share in ((shown[0], 60, 0.9), (shown[1], 240, 0.8)):
        answer = httpx.put(
            f"{api}/checkpoints/{checkpoint_id}/target",
            json={"target_minutes": minutes, "target_share": share},
            headers=admin,
        )
        answer.raise_for_status()
    answer = httpx.post(
        f"{api}/policy-changes",
        json={
            "title": "Single joint inspection at the governorate line",
            "effective_at": (datetime.now(UTC) - timedelta(days=9)).isoformat(),
            "checkpoint_ids": shown[:2],
            "description": "Customs and the security forces inspect once, together.",
        },
        headers=advocate,
    )
    answer.raise_for_status()
    for title, category, checkpoints, steps in (
        (
            "Unreceipted 'road fee' at the first checkpoint",
            "unreceipted_fee",
            shown[:1],
            ["submitted", "acknowledged", "in_progress", "resolved"],
        ),
        (
            "Trucks of construction steel held for a permit",
            "permit_demanded",
            shown[1:3],
            ["submitted", "acknowledged"],
        ),
        ("Second inspection after the joint one", "excessive_inspection", shown[:1], []),
    ):
        case = httpx.post(
            f"{api}/cases",
            json={"title": title, "category": category, "checkpoint_ids": checkpoints},
            headers=advocate,
        )
        case.raise_for_status()
        for step in steps:
            httpx.post(
                f"{api}/cases/{case.json()['id']}/transitions", json={"to": step}, headers=advocate
            ).raise_for_status()


def dashboard(browser: Browser, base: str) -> None:
    """The dashboard: on a desktop in English (all stops) and Arabic (GPS-confirmed stops
    only), the whole page; on a phone 390 px wide, the ranking (GPS-confirmed share, off-target
    badge), the trends with a policy marker, and the cases panel."""
    shots = [
        ("dashboard.png", "en", "all", {"width": 1400, "height": 1000}, None),
        ("dashboard-ar.png", "ar", "confirmed", {"width": 1400, "height": 1000}, None),
        ("dashboard-phone-en.png", "en", "all", {"width": 390, "height": 844}, "#evidence-switch"),
        (
            "dashboard-phone-ar.png",
            "ar",
            "confirmed",
            {"width": 390, "height": 844},
            "#evidence-switch",
        ),
        ("dashboard-phone-trends-en.png", "en", "all", {"width": 390, "height": 844}, "#trends"),
        ("dashboard-phone-trends-ar.png", "ar", "all", {"width": 390, "height": 844}, "#trends"),
        ("dashboard-phone-cases-en.png", "en", "all", {"width": 390, "height": 844}, "#cases"),
        ("dashboard-phone-cases-ar.png", "ar", "all", {"width": 390, "height": 844}, "#cases"),
    ]
    for name, lang, evidence, viewport, scroll in shots:
        phone = scroll is not None
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
        if scroll:  # a panel's top, as a reader scrolls to it
            page.evaluate("at => document.querySelector(at).scrollIntoView()", scroll)
        if phone:
            page.screenshot(path=str(DOCS / name), full_page=False)
        else:  # the page down to the cases panel (the long corridor table after it is left out)
            box = page.locator("#cases").bounding_box()
            assert box
            clip = {
                "x": 0,
                "y": 0,
                "width": viewport["width"],
                "height": box["y"] + box["height"] + 16,
            }
            page.screenshot(path=str(DOCS / name), full_page=True, clip=clip)
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
            dashboard_story(site)
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
