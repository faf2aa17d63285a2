"""The advocates' dashboard in a real browser: its figures are the API's figures."""

import csv
import io
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, expect

from app.demo.generator import DEMO_PASSWORD
from tests.e2e.conftest import ADVOCATE, Site

# How long a redraw may take: six reports at once, on a shared 2-CPU machine where other
# suites run beside this one (5 s, Playwright's default, was missed at load average 12).
LOADED = 20_000


def sign_in(browser: Browser, site: Site) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    page.goto(f"{site.base}/dashboard?lang=en")
    page.fill("#login-email", ADVOCATE)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=20_000)
    return page


def number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def assert_ranking_is(page: Page, report: dict[str, Any]) -> None:
    """Every row of the ranking table, in order, shows the report row's figures."""
    rows = page.locator("#ranking-table tbody tr")
    expect(rows).to_have_count(len(report["items"]))
    shown_ids = rows.evaluate_all("trs => trs.map(tr => tr.dataset.id)")
    assert shown_ids == [item["checkpoint_id"] for item in report["items"]], "worst first"
    for item in report["items"]:
        row = page.locator(f'#ranking-table tr[data-id="{item["checkpoint_id"]}"]')
        cells = row.locator("td[data-field]").evaluate_all(
            "tds => Object.fromEntries(tds.map(td => "
            "[td.dataset.field, {text: td.textContent, value: td.dataset.value}]))"
        )
        assert cells["checkpoint_code"]["text"] == item["checkpoint_code"]
        if item["suppressed"]:
            # Suppressed is shown as such, never as a zero.
            assert "suppressed" in cells["suppressed"]["text"]
            assert not any(
                re.search(r"\d", c["text"])
                for f, c in cells.items()
                if f not in ("checkpoint_code", "checkpoint_name", "suppressed")
            )
            continue
        for field, digits in [
            ("stops", 0),
            ("completed_stops", 0),
            ("p50_dwell_minutes", 1),
            ("p90_dwell_minutes", 1),
            ("mean_dwell_minutes", 1),
            ("total_delay_hours", 1),
        ]:
            api_value = item[field]
            if api_value is None:
                assert cells[field]["text"] == "—"
                continue
            # The exact API number is carried along, and the text is that number rounded.
            assert (
                cells[field]["value"] == repr(api_value)
                or float(cells[field]["value"]) == api_value
            ), field
            assert abs(number(cells[field]["text"]) - api_value) <= 0.5 * 10**-digits + 1e-9
        for field in ("hold_rate", "turn_back_rate", "within_standard_share"):
            if item[field] is not None:
                assert abs(number(cells[field]["text"]) - 100 * item[field]) <= 0.05 + 1e-9


def test_dashboard_shows_the_apis_figures(browser: Browser, site: Site) -> None:
    token = site.token(ADVOCATE)
    page = sign_in(browser, site)
    try:
        report = site.get("/reports/checkpoints", token).json()
        assert len(report["items"]) > 10
        assert any(item["suppressed"] for item in report["items"]), "demo has a suppressed row"
        assert_ranking_is(page, report)
        # The other sections are drawn from their reports too.
        expect(page.locator("#map svg circle.cp")).to_have_count(
            len(site.get("/checkpoints", token, limit=500).json()["items"])
        )
        expect(page.locator("#dwell-chart svg g.row")).to_have_count(len(report["items"]))
        trends = site.get("/reports/trends", token, interval="week").json()
        expect(page.locator("#trend-table tbody tr")).to_have_count(len(trends["items"]))
        for name, table in [
            ("procedures", "#procedure-table"),
            ("commodities", "#commodity-table"),
            ("corridors", "#corridor-table"),
            ("agencies", "#agency-table"),
        ]:
            items = site.get(f"/reports/{name}", token).json()["items"]
            expect(page.locator(f"{table} tbody tr")).to_have_count(len(items))
            suppressed = sum(item["suppressed"] for item in items)
            expect(page.locator(f"{table} tbody tr.suppressed")).to_have_count(suppressed)

        # A filter is the API's filter: the table follows.
        page.select_option("#f-province", "kirkuk")
        page.select_option("#f-sort", "-p90_dwell_minutes")
        page.click("#filters button[type=submit]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        filtered = site.get(
            "/reports/checkpoints", token, province="kirkuk", sort="-p90_dwell_minutes"
        ).json()
        assert 0 < len(filtered["items"]) < len(report["items"])
        assert_ranking_is(page, filtered)

        # The download is the API's own export with the filters on screen.
        with page.expect_download() as download:
            page.click('#ranking .downloads button[data-format="csv"]')
        path = download.value.path()
        got = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        api_csv = site.get(
            "/reports/checkpoints",
            token,
            province="kirkuk",
            sort="-p90_dwell_minutes",
            format="csv",
        ).content.decode("utf-8-sig")
        assert got == list(csv.DictReader(io.StringIO(api_csv)))
        assert download.value.suggested_filename.endswith(".csv")
        with page.expect_download() as xlsx:
            page.click('#ranking .downloads button[data-format="xlsx"]')
        assert xlsx.value.path().read_bytes()[:2] == b"PK"
    finally:
        page.close()


def test_dashboard_asks_for_a_sign_in_and_rejects_a_wrong_password(
    browser: Browser, site: Site
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{site.base}/dashboard")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
        page.fill("#login-email", ADVOCATE)
        page.fill("#login-password", "not-the-password")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
    finally:
        page.close()


def sign_in_on(browser: Browser, site: Site, *, width: int, height: int, lang: str) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height}, locale="en-GB")
    page.goto(f"{site.base}/dashboard?lang={lang}")
    page.fill("#login-email", ADVOCATE)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=20_000)
    return page


def test_dashboard_fits_a_phone_390_px_wide(browser: Browser, site: Site) -> None:
    """No sideways scrolling of the page on a phone, in any language: wide tables scroll
    inside their own card."""
    for lang in ("en", "ar", "ckb"):
        page = sign_in_on(browser, site, width=390, height=844, lang=lang)
        try:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (lang, width)
            for selector in ("#filters", "#ranking", "#map-card", "#corridors", "#agencies"):
                box = page.locator(selector).bounding_box()
                assert box
                assert box["x"] >= 0, (lang, selector)
                assert box["x"] + box["width"] <= 390 + 0.5, (lang, selector)
            # The ranking is wider than the phone: it scrolls in its card, all its columns there.
            wrap = page.locator("#ranking .table-wrap")
            assert wrap.evaluate("el => el.scrollWidth > el.clientWidth"), lang
            assert wrap.evaluate("el => getComputedStyle(el).overflowX") == "auto"
        finally:
            page.close()


def test_dashboard_speaks_arabic_and_sorani_throughout(browser: Browser, site: Site) -> None:
    """Column headers, notes, legends and agency names are translated, not English."""
    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:

        def words_on_screen() -> list[str]:
            texts: list[str] = page.evaluate(
                """() => [...document.querySelectorAll(
                    '#app th, #app h2, #app label > span, #map-legend > span, #suppressed-note,'
                    + ' #agency-table td[data-field=authority],'
                    + ' #agency-table td[data-field=jurisdiction]'
                  )].map(e => e.textContent.trim()).filter(Boolean)"""
            )
            return texts

        english = words_on_screen()
        assert "Army" in english or "Police" in english or "Customs" in english
        missing = [text for text in english if re.fullmatch(r"[a-z]+\.[A-Za-z.]+", text)]
        assert missing == [], f"keys without a string: {missing}"
        for lang in ("ar", "ckb"):
            page.click(f'[data-lang="{lang}"]')
            expect(page.locator("html")).to_have_attribute("lang", lang)
            shown = words_on_screen()
            assert len(shown) == len(english)
            untranslated = [
                en
                for en, local in zip(english, shown, strict=True)
                if en == local and re.search(r"[A-Za-z]{3,}", en) and en != "HS"
            ]
            assert untranslated == [], (lang, untranslated)
            assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    finally:
        page.close()


def test_dashboard_tells_how_many_stops_privacy_left_out(browser: Browser, site: Site) -> None:
    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    note = page.locator("#excluded-note")
    try:
        report = site.get("/reports/checkpoints", site.token(ADVOCATE)).json()
        excluded = report.get("excluded_stops") or 0
        if excluded > 0:
            expect(note).to_be_visible()
            expect(note).to_contain_text(f"{excluded:,} stops left out to protect")
        else:
            expect(note).to_be_hidden()

        # Whatever the API says: present and positive, zero, or absent (an older server).
        def answer_with(value: int | None) -> Any:
            def handle(route: Any) -> None:
                response = route.fetch()
                body = response.json()
                body.pop("excluded_stops", None)
                if value is not None:
                    body["excluded_stops"] = value
                route.fulfill(response=response, json=body)

            return handle

        for value, shown in [(1234, "1,234 stops left out"), (1, "1 stop left out"), (0, None)]:
            page.unroute("**/api/v1/reports/checkpoints*")
            page.route("**/api/v1/reports/checkpoints*", answer_with(value))
            page.click("#filters button[type=submit]")
            expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
            if shown:
                expect(note).to_have_text(re.compile(shown))
            else:
                expect(note).to_be_hidden()
        page.unroute("**/api/v1/reports/checkpoints*")
        page.route("**/api/v1/reports/checkpoints*", answer_with(None))
        page.click("#filters button[type=submit]")
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        expect(note).to_be_hidden()
        expect(page.locator("#ranking-table tbody tr")).to_have_count(len(report["items"]))

        page.unroute("**/api/v1/reports/checkpoints*")
        page.route("**/api/v1/reports/checkpoints*", answer_with(5))
        page.click("#filters button[type=submit]")
        expect(note).to_have_text(re.compile("5 stops left out"), timeout=LOADED)
        page.click('[data-lang="ar"]')
        expect(note).to_contain_text("خصوصية المصدّرين")
        page.click('[data-lang="ckb"]')
        expect(note).to_contain_text("هەناردەکاران")
    finally:
        page.close()


def test_date_filters_send_whole_utc_days(browser: Browser, site: Site) -> None:
    """`from` is the chosen day's midnight UTC; `to` the midnight after the last chosen day."""
    page = sign_in_on(browser, site, width=1400, height=1000, lang="en")
    try:
        page.fill("#f-from", "2026-11-01")
        page.fill("#f-to", "2026-11-30")
        with page.expect_request("**/api/v1/reports/checkpoints*") as asked:
            page.click("#filters button[type=submit]")
        query = parse_qs(urlsplit(asked.value.url).query)
        assert query["from"] == ["2026-11-01T00:00:00Z"]
        assert query["to"] == ["2026-12-01T00:00:00Z"]
        expect(page.locator("body")).to_have_attribute("data-loaded", "true", timeout=LOADED)
        expect(page.locator("#error")).to_be_hidden()
    finally:
        page.close()
