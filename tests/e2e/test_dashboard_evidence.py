"""The dashboard's evidence: the GPS-confirmed share beside each checkpoint is the API's, and
"GPS-confirmed stops only" asks every report with `evidence=confirmed` and redraws every panel.

The demo world of the site fixture gives the taps of most trips a position (app/demo's
`_Phone`): its stops are confirmed, contradicted or without evidence as the event writer
would have computed them."""

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, Request, expect
from sqlalchemy import func, select

from app.tracking.models import Stop
from tests.e2e.conftest import ADVOCATE, Site
from tests.e2e.test_dashboard import LOADED, assert_ranking_is, number, sign_in_on

# Dense enough (as tests/demo's advocate test) that checkpoint-days pass the advocates'
# thresholds, with all stops and with the GPS-confirmed ones only: the figures are shown.
DEMO_SHIPMENTS = 900
DEMO_DAYS = 3
REPORTS = {"checkpoints", "trends", "procedures", "commodities", "corridors", "agencies"}
EVIDENCE = ("gps_confirmed_share", "gps_contradicted_share", "fee_receipt_photo_share")


def report_requests(page: Page) -> list[Request]:
    """Every request the page makes from now on for a report of the figures (kept in the list
    returned); not the cases panel's summary (/reports/cases), which takes no filters."""
    asked: list[Request] = []

    def figures(request: Request) -> None:
        if "/api/v1/reports/" in request.url and "/api/v1/reports/cases" not in request.url:
            asked.append(request)

    page.on("request", figures)
    return asked


def evidence_of(request: Request) -> list[str] | None:
    return parse_qs(urlsplit(request.url).query).get("evidence")


def assert_evidence_cells_are(page: Page, report: dict[str, Any]) -> None:
    """Beside each checkpoint: its GPS-confirmed share (and receipt photos, GPS elsewhere), the
    API's figure carried exactly and shown as a percentage; nothing for a suppressed row."""
    for item in report["items"]:
        row = page.locator(f'#ranking-table tr[data-id="{item["checkpoint_id"]}"]')
        for field in EVIDENCE:
            cell = row.locator(f'td[data-field="{field}"]')
            if item["suppressed"]:  # a dash beside the code (its row says why), or nothing
                assert cell.count() == 0 or cell.inner_text() == "—", field
                continue
            share = item["evidence"][field]
            if share is None:
                expect(cell).to_have_text("—")
                continue
            assert float(cell.get_attribute("data-value") or "nan") == share, field
            assert abs(number(cell.inner_text()) - 100 * share) <= 0.05 + 1e-9, field


def test_the_gps_confirmed_share_beside_each_checkpoint_is_the_apis(
    browser: Browser, site: Site
) -> None:
    with site.app.state.session_factory() as session:
        seeded = dict(
            session.execute(
                select(Stop.position_evidence, func.count()).group_by(Stop.position_evidence)
            ).all()
        )
    assert set(seeded) == {"confirmed", "contradicted", "none"}, seeded
    token = site.token(ADVOCATE)
    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        report = site.get("/reports/checkpoints", token).json()
        shown = [item for item in report["items"] if not item["suppressed"]]
        shares = [item["evidence"]["gps_confirmed_share"] for item in shown]
        # Neither nothing nor everything: the demo's phones confirm most stops, not all.
        assert shown
        assert all(share is not None and 0 <= share <= 1 for share in shares), shares
        assert any(0 < share < 1 for share in shares), shares
        assert_evidence_cells_are(page, report)
        # What the share means: on the column's header, on each cell, and under the ranking.
        header = page.locator("#ranking-table th", has_text="GPS-confirmed")
        expect(header).to_have_attribute("title", re.compile("inside the checkpoint's fence"))
        expect(page.locator("#evidence-note")).to_contain_text("GPS-confirmed: the share of stops")
        first = page.locator('#ranking-table td[data-field="gps_confirmed_share"]').first
        expect(first).to_have_attribute("title", re.compile("fence"))
        # The map's tooltip says it too.
        first_shown = shown[0]
        title = page.locator(f'#map [data-checkpoint-id="{first_shown["checkpoint_id"]}"] title')
        gps = first_shown["evidence"]["gps_confirmed_share"]
        expect(title).to_contain_text(f"GPS-confirmed: {100 * gps:.1f}%")

        page.click('[data-lang="ar"]')
        expect(page.locator("#ranking-table th", has_text="مؤكَّدة بـ GPS")).to_have_count(1)
        expect(page.locator("#evidence-switch")).to_contain_text("التوقفات المؤكَّدة بـ GPS فقط")
    finally:
        page.close()


def test_confirmed_only_asks_every_report_with_evidence_confirmed_and_redraws(
    browser: Browser, site: Site
) -> None:
    token = site.token(ADVOCATE)
    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        everything = site.get("/reports/checkpoints", token).json()
        assert_ranking_is(page, everything)
        expect(page.locator("#evidence-switch input[value=all]")).to_be_checked()
        asked = report_requests(page)

        page.check("#evidence-switch input[value=confirmed]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        assert {urlsplit(r.url).path.rsplit("/", 1)[-1] for r in asked} == REPORTS
        assert all(evidence_of(r) == ["confirmed"] for r in asked), [r.url for r in asked]
        confirmed = site.get("/reports/checkpoints", token, evidence="confirmed").json()
        assert_ranking_is(page, confirmed)
        assert_evidence_cells_are(page, confirmed)
        # Fewer stops count: the figures on screen changed with the API's.
        stops = {i["checkpoint_id"]: i["stops"] for i in everything["items"] if i["stops"]}
        fewer = [
            i
            for i in confirmed["items"]
            if i["stops"] and i["stops"] < stops.get(i["checkpoint_id"], 0)
        ]
        assert fewer, "confirmed-only counts fewer stops"
        expect(page.locator("#status")).to_contain_text("Only GPS-confirmed stops are counted.")
        for name, table in [("trends", "#trend-table"), ("agencies", "#agency-table")]:
            params = {"interval": "week"} if name == "trends" else {}
            items = site.get(f"/reports/{name}", token, evidence="confirmed", **params).json()
            expect(page.locator(f"{table} tbody tr")).to_have_count(len(items["items"]))

        # A download is the export of what is on screen: confirmed stops only.
        with page.expect_request("**/api/v1/reports/agencies?*format=csv*") as download:
            page.click('#agencies .downloads button[data-format="csv"]')
        assert evidence_of(download.value) == ["confirmed"]

        # Remembered: in the address (a link shows the same figures) and after a reload.
        assert parse_qs(urlsplit(page.url).query).get("evidence") == ["confirmed"]
        asked.clear()
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        expect(page.locator("#evidence-switch input[value=confirmed]")).to_be_checked()
        assert len(asked) == len(REPORTS)
        assert all(evidence_of(r) == ["confirmed"] for r in asked)
        assert_ranking_is(page, confirmed)

        # And back: all stops, no evidence parameter, the first figures again.
        asked.clear()
        page.check("#evidence-switch input[value=all]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        assert len(asked) == len(REPORTS)
        assert all(evidence_of(r) is None for r in asked)
        assert "evidence" not in parse_qs(urlsplit(page.url).query)
        assert_ranking_is(page, everything)
    finally:
        page.close()


def test_the_choice_is_kept_for_the_next_visit(browser: Browser, site: Site) -> None:
    """Chosen once, the choice holds in a new tab of the same browser (localStorage) with an
    address that does not say it; an address that says it wins."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    try:
        page = context.new_page()
        page.goto(f"{site.base}/dashboard?lang=en&evidence=confirmed")
        expect(page.locator("#evidence-switch input[value=confirmed]")).to_be_checked()
        page.close()
        again = context.new_page()
        again.goto(f"{site.base}/dashboard?lang=en")
        expect(again.locator("#evidence-switch input[value=confirmed]")).to_be_checked()
        again.goto(f"{site.base}/dashboard?lang=en&evidence=all")
        expect(again.locator("#evidence-switch input[value=all]")).to_be_checked()
        again.goto(f"{site.base}/dashboard?lang=en")
        expect(again.locator("#evidence-switch input[value=all]")).to_be_checked()
    finally:
        context.close()
