"""The driver's phone page in a real browser: offline queue, exactly-once sync, languages."""

import json
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from app.geography import PROVINCE_NAMES, Province
from app.tracking.vocabulary import HOLD_REASON_NAMES, Currency, HoldReason
from tests.e2e.conftest import EXPORTER, PHONE, Site


def open_driver(context: BrowserContext, site: Site, token: str, lang: str = "en") -> Page:
    page = context.new_page()
    page.goto(f"{site.base}/driver?lang={lang}#token={token}")
    expect(page.locator("#trip")).to_be_visible()
    return page


def server_events(site: Site, shipment: dict[str, Any]) -> list[dict[str, Any]]:
    token = site.token(EXPORTER)
    items: list[dict[str, Any]] = site.get(f"/shipments/{shipment['id']}/events", token).json()[
        "items"
    ]
    return items


def log_a_stop(page: Page) -> None:
    """Five taps: arrived, inspection started and finished, a fee without receipt, released."""
    page.click("[data-action=arrived]")
    page.locator("#choices .choice").first.click()
    page.click("[data-action=procedure_started]")
    page.click('#choices [data-value="document_check"]')
    page.click("[data-action=procedure_completed]")
    page.click('#choices [data-value="document_check"]')
    page.click("[data-action=fee_paid]")
    page.fill("#fee-amount", "25000")
    page.select_option("#fee-currency", "IQD")
    page.check('input[name=receipt][value="no"]')
    page.click("#fee-form button[type=submit]")
    page.click("[data-action=released]")


def test_offline_events_reach_the_server_exactly_once(browser: Browser, site: Site) -> None:
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    try:
        page = open_driver(context, site, token)
        # The page is installable and its shell is cached by the service worker …
        assert page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.active.scriptURL)"
        ).endswith("/driver/sw.js")
        context.set_offline(True)
        # … so it opens again without a network (the token is kept on the phone).
        page.reload()
        expect(page.locator("#trip")).to_be_visible()
        expect(page.locator("#net")).to_have_class("net offline")

        log_a_stop(page)
        queue = page.locator("#queue-state")
        expect(queue).to_have_attribute("data-pending", "5")
        expect(page.locator("#current-where")).to_have_text("On the road")  # released
        pending = page.locator("#log-list li[data-state=pending]")
        expect(pending).to_have_count(5)
        ids = pending.evaluate_all("lis => lis.map(li => li.dataset.eventId)")
        assert server_events(site, shipment) == []

        context.set_offline(False)
        expect(queue).to_have_attribute("data-pending", "0", timeout=20_000)
        expect(page.locator("#log-list li[data-state=sent]")).to_have_count(5)
        events = server_events(site, shipment)
        assert sorted(e["event_id"] for e in events) == sorted(ids)
        assert [e["type"] for e in events] == [
            "arrived",
            "procedure_started",
            "procedure_completed",
            "fee_paid",
            "released",
        ]
        fee = next(e["fee"] for e in events if e["type"] == "fee_paid")
        assert (fee["amount"], fee["currency"], fee["receipt"]) == (25000, "IQD", False)
        assert all(e["source"] == "driver" for e in events)

        # Coming back later changes nothing: the queue is empty, the server still holds five.
        page.reload()
        expect(queue).to_have_attribute("data-pending", "0")
        assert len(server_events(site, shipment)) == 5
        stops = site.get(f"/shipments/{shipment['id']}/stops", site.token(EXPORTER)).json()
        assert [s["outcome"] for s in stops["items"]] == ["released"]
    finally:
        context.close()


def test_a_lost_answer_is_retried_with_the_same_event_ids(browser: Browser, site: Site) -> None:
    """The server stored the events but the phone never heard back: the retry is answered
    'duplicate', the queue empties, and nothing is stored twice."""
    shipment, token = site.driver_link()
    # Service workers off, so that the test can intercept the page's own requests.
    context = browser.new_context(viewport=PHONE, service_workers="block")
    lost: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        if not lost:
            response = route.fetch()  # the server does receive and store them
            lost.append(response.text())
            route.abort("connectionreset")
        else:
            route.continue_()

    try:
        page = open_driver(context, site, token)
        page.route("**/api/v1/sync", lose_the_first_answer)
        page.click("[data-action=departed]")
        page.click("[data-action=arrived]")
        page.locator("#choices .choice").first.click()
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0", timeout=30_000)
        assert lost
        assert '"created"' in lost[0]
        events = server_events(site, shipment)
        assert [e["type"] for e in events] == ["departed", "arrived"]
    finally:
        context.close()


def test_a_rejected_event_stays_visible_and_is_not_resent(browser: Browser, site: Site) -> None:
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE)
    try:
        page = open_driver(context, site, token)
        page.wait_for_function(  # the page has kept its state once
            "() => Object.keys(localStorage).some(k => k.startsWith('clearance.driver.')"
            " && k !== 'clearance.driver.last')"
        )
        # Revoke nothing, but send an event the server must refuse: a fee in a currency it
        # does not know, planted in the queue as an old version of the page might have. It is
        # planted as the page loads again, before its scripts run: planted into the open page,
        # a save of its own still in flight (the checkpoint list arriving) could write over it.
        context.add_init_script(
            """(() => {
              if (sessionStorage.getItem('planted')) return;
              sessionStorage.setItem('planted', '1');
              const key = Object.keys(localStorage).find(k => k.startsWith('clearance.driver.')
                && k !== 'clearance.driver.last');
              const state = JSON.parse(localStorage.getItem(key));
              state.queue.push({state: 'pending', event: {event_id: crypto.randomUUID(),
                type: 'fee_paid', occurred_at: new Date().toISOString(),
                fee: {amount: 5, currency: 'XXX', receipt: true}}});
              localStorage.setItem(key, JSON.stringify(state));
            })()"""
        )
        page.reload()
        rejected = page.locator("#log-list li[data-state=rejected]")
        expect(rejected).to_have_count(1)
        expect(rejected.locator(".reason")).not_to_be_empty()
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0")
        assert server_events(site, shipment) == []
        rejected.locator("button.dismiss").click()
        expect(rejected).to_have_count(0)
    finally:
        context.close()


def test_the_nearest_checkpoint_comes_first(browser: Browser, site: Site) -> None:
    _, token = site.driver_link()
    checkpoints = site.get("/checkpoints", site.token(EXPORTER), limit=500).json()["items"]
    target = next(c for c in checkpoints if c["province"] == "basra")
    context = browser.new_context(
        viewport=PHONE,
        geolocation={"latitude": target["latitude"] + 0.005, "longitude": target["longitude"]},
        permissions=["geolocation"],
    )
    try:
        page = open_driver(context, site, token)
        page.click("[data-action=arrived]")
        expect(page.locator("#choices .choice").first).to_have_attribute("data-value", target["id"])
        expect(page.locator("#choices .choice").first.locator("small")).to_contain_text("km")
    finally:
        context.close()


def test_a_tap_before_the_checkpoints_arrive_lists_them_when_they_do(
    browser: Browser, site: Site
) -> None:
    """On a slow network the driver may tap "arrived" before the checkpoint list has come:
    the panel fills in when it does, instead of staying empty until it is opened again."""
    _, token = site.driver_link()
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    context.route("**/api/v1/checkpoints?*", hold)
    try:
        page = context.new_page()
        page.goto(f"{site.base}/driver?lang=en#token={token}")
        for _ in range(300):  # the page has asked for the list (its answer is held)
            if held:
                break
            page.wait_for_timeout(50)
        assert held
        page.click("[data-action=arrived]")
        expect(page.locator("#panel")).to_be_visible()
        expect(page.locator("#choices .choice")).to_have_count(0)
        for route in held:
            route.continue_()
        context.unroute("**/api/v1/checkpoints?*")
        expect(page.locator("#choices .choice").first).to_be_visible()
    finally:
        context.close()


def test_arabic_and_kurdish_lay_out_right_to_left(browser: Browser, site: Site) -> None:
    _, token = site.driver_link()
    context = browser.new_context(viewport=PHONE)
    try:
        page = open_driver(context, site, token, lang="en")
        html = page.locator("html")
        expect(html).to_have_attribute("dir", "ltr")
        title, langs = page.locator("#page-title"), page.locator(".topbar .langs")
        assert title.bounding_box()["x"] < langs.bounding_box()["x"]  # type: ignore[index]

        page.click('[data-lang="ar"]')
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "ar")
        expect(title).to_have_text("رحلتي")
        expect(page.locator('[data-action="arrived"]')).to_have_text("وصلت إلى سيطرة")
        assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
        # The title now sits on the right, the language buttons on the left …
        assert title.bounding_box()["x"] > langs.bounding_box()["x"]  # type: ignore[index]
        # … and text starts at the right edge of its box.
        where = page.locator("#current-where")
        box, card = where.bounding_box(), page.locator("#current").bounding_box()
        assert box
        assert card
        text_right = page.evaluate(
            """() => { const r = document.createRange();
                r.selectNodeContents(document.getElementById('current-where'));
                const b = r.getBoundingClientRect(); return [b.left, b.right]; }"""
        )
        assert card["x"] + card["width"] - text_right[1] < 40  # hugs the right edge
        assert text_right[0] - card["x"] > 40  # leaves the left side free

        # The choice is kept: the page opens in Arabic next time.
        page.goto(f"{site.base}/driver")
        expect(html).to_have_attribute("dir", "rtl")

        page.click('[data-lang="ckb"]')
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "ckb")
        expect(title).to_have_text("گەشتەکەم")
        page.click("[data-action=arrived]")
        expect(page.locator("#panel-title")).to_have_text("کام بازگە؟")
    finally:
        context.close()


def test_without_a_link_the_page_says_what_to_do(browser: Browser, site: Site) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{site.base}/driver?lang=en")
        expect(page.locator("#message")).to_contain_text("driver link")
        expect(page.locator("#trip")).to_be_hidden()
        page.close()
        page = browser.new_page()
        page.goto(f"{site.base}/driver?lang=en#token=drv_not-a-real-token")
        expect(page.locator("#message")).to_contain_text("no longer valid")
    finally:
        page.close()


REFUSED = (
    '{"type": "/problems/validation-error", "title": "Invalid input", "status": 422,'
    ' "detail": "events: a list of at most 1000 items"}'
)


def test_a_whole_batch_refused_stays_on_the_phone_and_the_driver_is_told(
    browser: Browser, site: Site
) -> None:
    """A 4xx for the whole /sync request is not retried for ever in silence: the events stay
    queued, the driver reads why in their language, and "Try again" sends them."""
    shipment, token = site.driver_link()
    # Service workers off, so that the test can intercept the page's own requests.
    context = browser.new_context(viewport=PHONE, service_workers="block")
    asked: list[str] = []

    def refuse(route: Any) -> None:
        asked.append(route.request.post_data or "")
        route.fulfill(status=422, content_type="application/problem+json", body=REFUSED)

    try:
        page = open_driver(context, site, token, lang="ar")
        page.route("**/api/v1/sync", refuse)
        page.click("[data-action=departed]")
        stuck = page.locator("#stuck")
        expect(stuck).to_be_visible()
        expect(stuck).to_have_attribute("data-status", "422")
        expect(page.locator("#stuck-text")).to_contain_text("تعذّر إرسال ضغطاتك")
        expect(page.locator("#stuck-detail")).to_contain_text("422")
        expect(page.locator("#stuck-detail")).to_contain_text("at most 1000")
        page.click("[data-action=arrived]")
        page.locator("#choices .choice").first.click()

        # Kept: both taps wait on the phone, shown as waiting.
        queue = page.locator("#queue-state")
        expect(queue).to_have_attribute("data-pending", "2")
        expect(page.locator("#log-list li[data-state=pending]")).to_have_count(2)
        # Not retried: not on a new tap, not when the network "returns", not after the backoff.
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        page.wait_for_timeout(4_500)
        assert len(asked) == 1, f"{len(asked)} requests for one refused batch"
        assert server_events(site, shipment) == []

        # The driver tries again (the server has been fixed): everything goes, exactly once.
        page.unroute("**/api/v1/sync", refuse)
        page.click("#stuck-retry")
        expect(queue).to_have_attribute("data-pending", "0", timeout=20_000)
        expect(stuck).to_be_hidden()
        assert [e["type"] for e in server_events(site, shipment)] == ["departed", "arrived"]
    finally:
        context.close()


def test_a_batch_too_large_goes_in_halves(browser: Browser, site: Site) -> None:
    """413 for a batch of several events: the same events again, fewer at a time."""
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE, service_workers="block")
    sizes: list[int] = []

    def at_most_one(route: Any) -> None:
        size = len(json.loads(route.request.post_data or "{}")["events"])
        sizes.append(size)
        if size > 1:
            route.fulfill(
                status=413,
                content_type="application/problem+json",
                body='{"type": "about:blank", "title": "Too large", "status": 413,'
                ' "detail": "The body is larger than allowed."}',
            )
        else:
            route.continue_()

    try:
        page = open_driver(context, site, token)
        page.route("**/api/v1/sync", at_most_one)
        context.set_offline(True)
        page.click("[data-action=departed]")
        page.click("[data-action=arrived]")
        page.locator("#choices .choice").first.click()
        page.click("[data-action=procedure_started]")
        page.click('#choices [data-value="document_check"]')
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "3")
        context.set_offline(False)
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0", timeout=20_000)
        expect(page.locator("#stuck")).to_be_hidden()
        assert sizes[0] == 3, sizes
        assert sizes[-3:] == [1, 1, 1]
        events = server_events(site, shipment)
        assert [e["type"] for e in events] == ["departed", "arrived", "procedure_started"]
    finally:
        context.close()


def test_the_shared_names_come_from_python_and_work_offline(browser: Browser, site: Site) -> None:
    """Province and hold-reason names are the Python definitions, and the page still has them
    with no network (the service worker keeps words.js)."""
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE)
    try:
        page = open_driver(context, site, token, lang="ckb")
        assert page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.active.scriptURL)"
        ).endswith("/driver/sw.js")
        context.set_offline(True)
        page.reload()
        expect(page.locator("#trip")).to_be_visible()
        origin = PROVINCE_NAMES[Province(shipment["origin_province"])].ckb
        destination = PROVINCE_NAMES[Province(shipment["destination_province"])].ckb
        expect(page.locator("#trip-route")).to_have_text(f"{origin} ← {destination}")
        page.click("[data-action=arrived]")
        page.locator("#choices .choice").first.click()
        page.click("[data-action=held]")
        for reason in HoldReason:
            expect(page.locator(f'#choices [data-value="{reason}"]')).to_have_text(
                HOLD_REASON_NAMES[reason].ckb
            )
        currencies = page.locator("#fee-currency option").evaluate_all(
            "options => options.map(o => o.value)"
        )
        assert currencies == [c.value for c in Currency]
    finally:
        context.close()
