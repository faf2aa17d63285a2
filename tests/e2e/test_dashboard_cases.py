"""The dashboard's cases panel, policy markers and service standards, against the real API:
cases opened and moved through the API are listed (their titles as text), the Tripartite
summary is GET /reports/cases', a recorded policy change is a marker on the trend chart, and a
checkpoint whose target an admin set so that it fails is marked off target."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from app.demo.generator import DEMO_PASSWORD
from tests.e2e.conftest import ADVOCATE, EXPORTER, Site
from tests.e2e.test_dashboard import LOADED, number, sign_in_on
from tests.factories import ADMIN_EMAIL, ADMIN_PASSWORD, API

# Dense enough (as the evidence test) that checkpoint rows pass the advocates' thresholds and
# so carry a verdict against their target.
DEMO_SHIPMENTS = 900
DEMO_DAYS = 3
XSS = "<img src=x onerror=window.__xss=1>"


def post(site: Site, token: str, path: str, body: dict[str, Any], expected: int = 201) -> Any:
    response = httpx.post(
        f"{site.base}{API}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == expected, response.text
    return response.json()


def put_target(site: Site, checkpoint_id: str, minutes: int, share: float) -> None:
    response = httpx.put(
        f"{site.base}{API}/checkpoints/{checkpoint_id}/target",
        json={"target_minutes": minutes, "target_share": share},
        headers={"Authorization": f"Bearer {site.token(ADMIN_EMAIL, ADMIN_PASSWORD)}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def open_case(site: Site, token: str, title: str, checkpoint_ids: list[str], *steps: str) -> Any:
    case = post(
        site,
        token,
        "/cases",
        {"title": title, "category": "unreceipted_fee", "checkpoint_ids": checkpoint_ids},
    )
    for step in steps:
        case = post(site, token, f"/cases/{case['id']}/transitions", {"to": step}, 200)
    return case


def reload(page: Page) -> None:
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)


def test_cases_panel_lists_the_apis_cases_with_titles_as_text(browser: Browser, site: Site) -> None:
    token = site.token(ADVOCATE)
    checkpoints = site.get("/checkpoints", token, limit=500).json()["items"]
    first, second = checkpoints[0], checkpoints[1]
    hostile = open_case(site, token, f"Fees at {first['code']} {XSS}", [first["id"]])
    resolved = open_case(
        site,
        token,
        "Turned back for a permit",
        [first["id"], second["id"]],
        "submitted",
        "acknowledged",
        "in_progress",
        "resolved",
    )
    waiting = open_case(site, token, "Inspection twice", [second["id"]], "submitted")

    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        expect(page.locator("#cases")).to_be_visible()
        expect(page.locator("#cases")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        listed = site.get("/cases", token).json()["items"]
        rows = page.locator("#case-table tbody tr")
        expect(rows).to_have_count(len(listed))
        # Newest first, as the API lists them.
        ids = rows.evaluate_all("trs => trs.map(tr => tr.dataset.id)")
        assert ids == [c["id"] for c in listed]
        assert ids[:3] == [waiting["id"], resolved["id"], hostile["id"]]

        # The title holding markup is shown as those very characters, and nothing ran.
        row = page.locator(f'#case-table tr[data-id="{hostile["id"]}"]')
        expect(row.locator('td[data-field="title"]')).to_have_text(hostile["title"])
        assert page.locator("#cases img").count() == 0
        assert page.evaluate("typeof window.__xss") == "undefined"
        expect(row.locator('td[data-field="reference"]')).to_have_text(hostile["reference"])
        expect(row.locator('td[data-field="status"]')).to_have_text("Draft")
        expect(row.locator('td[data-field="category"]')).to_have_text("Fee without receipt")
        expect(row.locator('td[data-field="submitted_at"]')).to_have_text("not yet")
        both = page.locator(f'#case-table tr[data-id="{resolved["id"]}"]')
        expect(both.locator('td[data-field="checkpoint_ids"]')).to_have_text(
            f"{first['code']}, {second['code']}"
        )
        for field in ("incident_count", "exporter_count"):
            expect(both.locator(f'td[data-field="{field}"]')).to_have_text(str(resolved[field]))

        # The status filter asks the API for that status only.
        with page.expect_request("**/api/v1/cases?*status=resolved*"):
            page.select_option("#case-status", "resolved")
        expect(page.locator("#cases")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        expect(rows).to_have_count(
            len(site.get("/cases", token, status="resolved").json()["items"])
        )
        expect(page.locator('#case-table td[data-field="status"]').first).to_have_text("Resolved")
        assert resolved["id"] in rows.evaluate_all("trs => trs.map(tr => tr.dataset.id)")
        page.select_option("#case-status", "draft")
        expect(page.locator(f'#case-table tr[data-id="{hostile["id"]}"]')).to_have_count(1)
        expect(page.locator(f'#case-table tr[data-id="{resolved["id"]}"]')).to_have_count(0)

        # The Tripartite summary: every row and figure is GET /reports/cases'.
        summary = site.get("/reports/cases", token).json()["items"]
        assert any(item["resolved"] for item in summary), summary
        table = page.locator("#case-report-table tbody tr")
        expect(table).to_have_count(len(summary))
        shown = table.evaluate_all(
            "trs => trs.map(tr => Object.fromEntries([...tr.querySelectorAll('td')]"
            ".map(td => [td.dataset.field, td.textContent])))"
        )
        for item, cells in zip(summary, shown, strict=True):
            assert number(cells["opened"]) == item["opened"]
            assert number(cells["resolved"]) == item["resolved"]
            for field, scale, digits in (
                ("resolution_rate", 100, 1),
                ("median_days_to_resolve", 1, 1),
                ("oldest_open_days", 1, 1),
            ):
                if item[field] is None:
                    assert cells[field] == "—", field
                else:
                    assert (
                        abs(number(cells[field]) - scale * item[field]) <= 0.5 * 10**-digits + 1e-9
                    )

        # In Arabic, the panel's words change with the page; the title stays as written.
        page.click('[data-lang="ar"]')
        expect(page.locator("#cases h2")).to_have_text("القضايا")
        expect(
            page.locator(f'#case-table tr[data-id="{hostile["id"]}"] td[data-field="title"]')
        ).to_have_text(hostile["title"])
    finally:
        page.close()


def test_a_policy_change_is_a_marker_on_the_trend_chart(browser: Browser, site: Site) -> None:
    token = site.token(ADVOCATE)
    checkpoints = site.get("/checkpoints", token, limit=500).json()["items"]
    title = f"Single inspection <b>{XSS}</b>"
    change = post(
        site,
        token,
        "/policy-changes",
        {
            "title": title,
            "effective_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "checkpoint_ids": [checkpoints[0]["id"]],
            "description": "One joint inspection instead of three.",
        },
    )
    trends = site.get("/reports/trends", token, interval="week").json()
    assert [p["id"] for p in trends["policy_changes"]] == [change["id"]]

    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        marker = page.locator(f'#trend-chart .marker[data-id="{change["id"]}"]')
        expect(marker).to_have_count(1)
        expect(marker.locator("title")).to_contain_text(title)
        expect(marker).to_have_attribute("aria-label", f"{_when(page, change)}: {title}")
        expect(marker).to_have_attribute("tabindex", "0")
        # Inside the plot, and listed under the chart, the title as text.
        line = marker.locator("line").first
        x = float(line.get_attribute("x1") or "nan")
        width = float(page.locator("#trend-chart svg").get_attribute("viewBox").split()[2])  # type: ignore[union-attr]
        assert 0 < x < width
        item = page.locator(f'#policy-list li[data-id="{change["id"]}"]')
        expect(item).to_contain_text(title)
        assert page.locator("#trends img, #trends b").count() == 0
        assert page.evaluate("typeof window.__xss") == "undefined"
    finally:
        page.close()


def _when(page: Page, change: dict[str, Any]) -> str:
    """The change's time as the page writes it (its own locale's format)."""
    return str(page.evaluate("at => I18N.dateTime(new Date(at))", change["effective_at"]))


def test_a_checkpoint_that_misses_its_target_is_marked_off_target(
    browser: Browser, site: Site
) -> None:
    token = site.token(ADVOCATE)
    rows = [
        r
        for r in site.get("/reports/checkpoints", token).json()["items"]
        if not r["suppressed"] and r["within_target_share"] not in (None, 0, 1)
    ]
    assert len(rows) >= 2, "two checkpoints with a verdict"
    failing, meeting = rows[0], rows[1]
    put_target(site, failing["checkpoint_id"], 1, 1.0)  # every truck within a minute
    put_target(site, meeting["checkpoint_id"], 7 * 24 * 60, 0.05)  # 5% within a week
    report = {
        r["checkpoint_id"]: r for r in site.get("/reports/checkpoints", token).json()["items"]
    }
    assert report[failing["checkpoint_id"]]["meets_target"] is False
    assert report[meeting["checkpoint_id"]]["meets_target"] is True

    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        off = page.locator(f'#ranking-table tr[data-id="{failing["checkpoint_id"]}"]')
        expect(off).to_have_class("off-target")
        cell = off.locator('td[data-field="meets_target"]')
        expect(cell.locator(".badge.off-target")).to_be_visible()
        row = report[failing["checkpoint_id"]]
        said = f"{100 * row['within_target_share']:.1f}% within 1 min, target 100%"
        expect(cell).to_have_text(f"Off target: {said}")  # the badge, then words for readers
        expect(cell).to_have_attribute("title", said)
        on = page.locator(f'#ranking-table tr[data-id="{meeting["checkpoint_id"]}"]')
        expect(on).not_to_have_class("off-target")
        expect(on.locator(".badge")).to_have_count(0)
        expect(on.locator('td[data-field="meets_target"]')).to_contain_text("On target")
        # Every row's verdict is the API's.
        verdicts = page.locator('#ranking-table td[data-field="meets_target"]').evaluate_all(
            "tds => tds.map(td => [td.closest('tr').dataset.id, td.dataset.meetsTarget ?? null])"
        )
        for checkpoint_id, shown in verdicts:
            wanted = report[checkpoint_id]["meets_target"]
            assert shown == (None if wanted is None else str(wanted).lower()), checkpoint_id
        expect(page.locator("#target-note")).to_contain_text("Off target")
        page.click('[data-lang="ckb"]')
        expect(cell.locator(".badge")).to_have_text("لە دەرەوەی ئامانج")
    finally:
        page.close()


def test_exporters_see_no_cases_panel(browser: Browser, site: Site) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/cases" in r.url else None)
    try:
        page.goto(f"{site.base}/dashboard?lang=en")
        page.fill("#login-email", EXPORTER)
        page.fill("#login-password", DEMO_PASSWORD)
        page.click("#login-form button[type=submit]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        expect(page.locator("#cases")).to_be_hidden()
        expect(page.locator("#error")).to_be_hidden()
        assert asked == []  # not even asked: /cases would answer an exporter 403
    finally:
        page.close()


def test_cases_and_markers_fit_a_phone_390_px_wide(browser: Browser, site: Site) -> None:
    """On a phone, in each language, the cases panel and the trends with a marker stay within
    the page (a long title wraps; wide tables scroll inside their card)."""
    token = site.token(ADVOCATE)
    checkpoint = site.get("/checkpoints", token, limit=500).json()["items"][0]
    open_case(site, token, "A long title " + "without-any-space-" * 8, [checkpoint["id"]])
    post(
        site,
        token,
        "/policy-changes",
        {
            "title": "Joint inspection " * 6,
            "effective_at": (datetime.now(UTC) - timedelta(hours=30)).isoformat(),
            "checkpoint_ids": [checkpoint["id"]],
            "description": "A long title on a phone.",
        },
    )
    for lang in ("en", "ar", "ckb"):
        page = sign_in_on(browser, site, width=390, height=844, lang=lang)
        try:
            expect(page.locator("#cases")).to_have_attribute("data-loaded", "true")
            expect(page.locator("#trend-chart .marker").first).to_be_attached()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, lang
            wraps = ("#cases .table-wrap >> nth=0", "#cases .table-wrap >> nth=1")
            for selector in ("#cases", "#trends", "#policy-list", *wraps):
                box = page.locator(selector).bounding_box()
                assert box, selector
                assert box["x"] >= 0, (lang, selector)
                assert box["x"] + box["width"] <= 390 + 0.5, (lang, selector)
        finally:
            page.close()


def test_a_case_opened_from_the_filters_on_screen(browser: Browser, site: Site) -> None:
    """The small form opens a draft with the dashboard's filters and chosen checkpoint; the
    new case heads the list, its title as text."""
    token = site.token(ADVOCATE)
    checkpoint = site.get("/checkpoints", token, limit=500).json()["items"][2]
    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        page.select_option("#f-province", checkpoint["province"])
        page.select_option("#f-checkpoint", checkpoint["id"])
        page.check("#evidence-switch input[value=confirmed]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        title = f"Held at {checkpoint['code']} <script>window.__xss=1</script>"
        page.fill("#case-title", title)
        page.select_option("#case-category", "missing_document_hold")
        with page.expect_response("**/api/v1/cases") as answer:
            page.click("#case-form button[type=submit]")
        assert answer.value.status == 201
        made = answer.value.json()
        expect(page.locator("#case-form-status")).to_have_text(
            f"Case {made['reference']} opened as a draft."
        )
        stored = site.get(f"/cases/{made['id']}", token).json()
        assert stored["title"] == title
        assert stored["category"] == "missing_document_hold"
        assert stored["checkpoint_ids"] == [checkpoint["id"]]
        assert stored["filters"]["province"] == checkpoint["province"]
        assert stored["filters"]["checkpoint_id"] == checkpoint["id"]
        assert stored["filters"]["evidence"] == "confirmed"
        first = page.locator("#case-table tbody tr").first
        expect(first).to_have_attribute("data-id", made["id"], timeout=LOADED)
        expect(first.locator('td[data-field="title"]')).to_have_text(title)
        assert page.evaluate("typeof window.__xss") == "undefined"
    finally:
        page.close()
