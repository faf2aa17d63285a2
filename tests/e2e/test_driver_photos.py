"""The driver's camera button in a real browser: photos of a receipt or a hold notice taken
offline, shrunk on the phone, kept in IndexedDB with their event, sent after it, exactly once,
each showing its own state; a photo the server refuses says why and is not sent again."""

import io
import re
from collections import Counter
from typing import Any

import httpx
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import EXPORTER, PHONE, Site
from tests.e2e.photos import chosen, paper_jpeg
from tests.e2e.test_driver import open_driver, server_events
from tests.factories import API

ATTACHMENTS = "**/api/v1/shipments/*/events/*/attachments*"


def arrive(page: Page) -> None:
    page.click("[data-action=arrived]")
    page.locator("#choices .choice").first.click()


def pay_a_fee(page: Page, amount: str = "25000") -> None:
    page.click("[data-action=fee_paid]")
    page.fill("#fee-amount", amount)
    page.check('input[name=receipt][value="yes"]')
    page.click("#fee-form button[type=submit]")


def get_held(page: Page) -> None:
    page.click("[data-action=held]")
    page.click('#choices [data-value="missing_document"]')


def take_photo(page: Page, data: bytes, **file: str) -> None:
    """The driver taps the offer's camera button and the camera hands back `data`."""
    offer = page.locator("#photo-offer")
    expect(offer).to_be_visible()
    taken = offer.locator("li.photo").count()
    page.set_input_files("#photo-input", files=[chosen(data, **file)])
    expect(offer.locator("li.photo")).to_have_count(taken + 1, timeout=15_000)


def attachments(site: Site, shipment_id: str, event_id: str) -> list[dict[str, Any]]:
    path = f"/shipments/{shipment_id}/events/{event_id}/attachments"
    items: list[dict[str, Any]] = site.get(path, site.token(EXPORTER)).json()["items"]
    return items


def stored_photos(page: Page) -> list[dict[str, Any]]:
    """What the page keeps in IndexedDB: each photo's event, state and bytes still held."""
    result: list[dict[str, Any]] = page.evaluate(
        """() => new Promise((resolve, reject) => {
          const open = indexedDB.open('clearance-driver');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const all = open.result.transaction('photos').objectStore('photos').getAll();
            all.onsuccess = () => resolve(all.result.map(p => ({
              event_id: p.event_id, kind: p.kind, state: p.state, type: p.type,
              width: p.width, height: p.height, held_bytes: p.blob ? p.blob.size : 0})));
          };
        })"""
    )
    return result


def test_two_photos_taken_offline_reach_the_server_once_after_their_events(
    browser: Browser, site: Site
) -> None:
    """The issue's test: offline, a fee paid and a hold, each with a photo; back online, the
    server holds both events and both photos exactly once, and the page shows them sent."""
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    try:
        page = open_driver(context, site, token)
        assert page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.active.scriptURL)"
        ).endswith("/driver/sw.js")
        arrive(page)
        queue = page.locator("#queue-state")
        expect(queue).to_have_attribute("data-pending", "0", timeout=20_000)

        context.set_offline(True)
        pay_a_fee(page)
        expect(page.locator("#photo-take-text")).to_have_text("Photo of the receipt")
        take_photo(page, paper_jpeg((3000, 2000), "RECEIPT"))
        get_held(page)
        expect(page.locator("#photo-take-text")).to_have_text("Photo of the hold notice")
        take_photo(page, paper_jpeg((2000, 3000), "NOTICE"))

        expect(queue).to_have_attribute("data-pending", "2")
        expect(page.locator("#photo-state")).to_have_attribute("data-waiting", "2")
        expect(page.locator("#photo-state")).to_have_text("· Photos waiting: 2")
        expect(page.locator("#log-list li.photo[data-state=waiting]")).to_have_count(2)
        kept = stored_photos(page)
        assert sorted((p["kind"], p["state"], p["type"]) for p in kept) == [
            ("notice", "waiting", "image/jpeg"),
            ("receipt", "waiting", "image/jpeg"),
        ]
        # Shrunk on the phone: 1600 px on the long side, a few hundred KB at most.
        assert sorted((p["width"], p["height"]) for p in kept) == [(1067, 1600), (1600, 1067)]
        assert all(0 < p["held_bytes"] < 600_000 for p in kept), kept
        assert [e["type"] for e in server_events(site, shipment)] == ["arrived"]

        # The page opens again with no network (its shell from the service worker, the
        # photos from IndexedDB), still waiting.
        page.reload()
        expect(page.locator("#trip")).to_be_visible()
        expect(page.locator("#log-list li.photo[data-state=waiting]")).to_have_count(2)
        expect(page.locator("#photo-state")).to_have_attribute("data-waiting", "2")

        context.set_offline(False)
        expect(queue).to_have_attribute("data-pending", "0", timeout=20_000)
        expect(page.locator("#photo-state")).to_have_attribute("data-waiting", "0", timeout=20_000)
        expect(page.locator("#photo-state")).to_be_hidden()
        expect(page.locator("#log-list li.photo[data-state=sent]")).to_have_count(2)
        expect(page.locator("#log-list li.photo .state.sent").first).to_have_text("photo sent")

        events = server_events(site, shipment)
        assert [e["type"] for e in events] == ["arrived", "fee_paid", "held"]
        fee, held = events[1]["event_id"], events[2]["event_id"]
        receipt = attachments(site, shipment["id"], fee)
        notice = attachments(site, shipment["id"], held)
        assert [(a["kind"], a["content_type"]) for a in receipt] == [("receipt", "image/jpeg")]
        assert [(a["kind"], a["content_type"]) for a in notice] == [("notice", "image/jpeg")]
        assert (receipt[0]["width"], receipt[0]["height"]) == (1600, 1067)
        assert (notice[0]["width"], notice[0]["height"]) == (1067, 1600)
        served = httpx.get(
            f"{site.base}{API}/attachments/{receipt[0]['id']}",
            headers={"Authorization": f"Bearer {site.token(EXPORTER)}"},
        )
        assert served.status_code == 200
        assert Image.open(io.BytesIO(served.content)).size == (1600, 1067)
        # Sent: the phone no longer holds the photos' bytes, only their state and thumbnail.
        assert all(p["state"] == "sent" and p["held_bytes"] == 0 for p in stored_photos(page))

        # Opening the page again sends nothing more.
        page.reload()
        expect(page.locator("#log-list li.photo[data-state=sent]")).to_have_count(2)
        page.wait_for_timeout(1_500)
        assert len(attachments(site, shipment["id"], fee)) == 1
        assert len(attachments(site, shipment["id"], held)) == 1
        assert len(server_events(site, shipment)) == 3
    finally:
        context.close()


def test_five_photos_taken_offline_arrive_exactly_once(browser: Browser, site: Site) -> None:
    """Five photos on three events, and the answer to the first upload lost on the way back:
    the retry is answered 200 (the same bytes), and the server holds five attachments."""
    shipment, token = site.driver_link()
    # Service workers off, so that the test can intercept the page's own requests.
    context = browser.new_context(viewport=PHONE, service_workers="block")
    answers: list[int] = []
    lost: list[int] = []

    def lose_the_first_answer(route: Any) -> None:
        response = route.fetch()  # the server does receive and store it
        answers.append(response.status)
        if not lost:
            lost.append(response.status)
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    try:
        page = open_driver(context, site, token)
        page.route(ATTACHMENTS, lose_the_first_answer)
        arrive(page)
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0", timeout=20_000)
        context.set_offline(True)
        pay_a_fee(page)
        take_photo(page, paper_jpeg((1200, 1600)))
        expect(page.locator("#photo-take-text")).to_have_text("Another photo")
        take_photo(page, paper_jpeg((1200, 1600)))
        get_held(page)
        take_photo(page, paper_jpeg((1600, 1200), "NOTICE"))
        take_photo(page, paper_jpeg((1600, 1200), "NOTICE"))
        pay_a_fee(page, "5000")
        take_photo(page, paper_jpeg((800, 600)))
        expect(page.locator("#photo-state")).to_have_attribute("data-waiting", "5")
        assert answers == []

        context.set_offline(False)
        expect(page.locator("#photo-state")).to_have_attribute("data-waiting", "0", timeout=60_000)
        expect(page.locator("#log-list li.photo[data-state=sent]")).to_have_count(5)
        assert lost == [201]
        assert sorted(answers) == [200, 201, 201, 201, 201, 201], answers

        events = server_events(site, shipment)
        assert [e["type"] for e in events] == ["arrived", "fee_paid", "held", "fee_paid"]
        per_event = [len(attachments(site, shipment["id"], e["event_id"])) for e in events]
        assert per_event == [0, 2, 2, 1]
        held = attachments(site, shipment["id"], events[2]["event_id"])
        assert Counter(a["kind"] for a in held) == {"notice": 2}
        page.wait_for_timeout(2_000)
        assert len(answers) == 6  # nothing more was sent
    finally:
        context.close()


def test_a_photo_the_server_refuses_says_why_and_is_not_sent_again(
    browser: Browser, site: Site
) -> None:
    """Bytes that are not a photo the phone can read go as they are, and the server refuses
    them (422): the driver reads "refused" with the server's reason, the page does not send
    them again, and a good photo after it still goes."""
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE, service_workers="block")
    sent: list[int] = []
    try:
        page = open_driver(context, site, token)
        page.on(
            "response",
            lambda r: sent.append(r.status) if "/attachments" in r.url else None,
        )
        arrive(page)
        pay_a_fee(page)
        take_photo(page, b"\xff\xd8\xff\xe0 this is not a photo at all", name="broken.jpg")
        refused = page.locator("#photo-offer li.photo[data-state=refused]")
        expect(refused).to_have_count(1, timeout=20_000)
        expect(refused.locator(".state")).to_have_text("photo refused")
        expect(refused.locator(".reason")).to_contain_text("HTTP 422")
        expect(refused.locator(".reason")).to_contain_text("Invalid input")
        expect(page.locator("#photo-state")).to_have_attribute("data-waiting", "0")

        # Not retried: not when the network "returns", nor on the next rounds.
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        page.wait_for_timeout(3_000)
        assert sent == [422], sent

        take_photo(page, paper_jpeg((900, 1200)))
        expect(page.locator("#photo-offer li.photo[data-state=sent]")).to_have_count(
            1, timeout=20_000
        )
        assert sent == [422, 201], sent
        fee = next(e for e in server_events(site, shipment) if e["type"] == "fee_paid")
        assert len(attachments(site, shipment["id"], fee["event_id"])) == 1

        # In Arabic the state is Arabic; the server's reason stays as it said it.
        page.click('[data-lang="ar"]')
        expect(refused.locator(".state")).to_have_text("رُفضت الصورة")
        expect(refused.locator(".reason")).to_contain_text("422")
        # The driver takes it away.
        refused.locator("button.dismiss").click()
        expect(refused).to_have_count(0)
    finally:
        context.close()


def test_the_page_asks_once_that_unsent_photos_are_not_evicted(
    browser: Browser, site: Site
) -> None:
    _, token = site.driver_link()
    context = browser.new_context(viewport=PHONE)
    try:
        page = open_driver(context, site, token)
        page.evaluate(
            """() => { window.persistAsked = 0; const ask = navigator.storage.persist.bind(
                 navigator.storage); navigator.storage.persist = () => {
                 window.persistAsked += 1; return ask(); }; }"""
        )
        arrive(page)
        pay_a_fee(page)
        take_photo(page, paper_jpeg((640, 480)))
        take_photo(page, paper_jpeg((640, 480)))
        expect(page.locator("body")).to_have_attribute(
            "data-storage-persisted", re.compile("^(true|false)$")
        )
        asked_at = page.evaluate("localStorage.getItem('clearance.driver.persistAsked')")
        assert asked_at
        assert page.evaluate("window.persistAsked") <= 1
    finally:
        context.close()


def test_a_photo_whose_event_the_server_rejects_is_never_sent(browser: Browser, site: Site) -> None:
    """The fee event reaches the server in a form it rejects (an unknown currency, put in the
    request on its way): its photo is not uploaded and shows why."""
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE, service_workers="block")
    uploads: list[str] = []

    def unknown_currency(route: Any) -> None:
        body = (route.request.post_data or "").replace('"currency":"IQD"', '"currency":"XXX"')
        route.continue_(post_data=body)

    try:
        page = open_driver(context, site, token)
        page.on("request", lambda r: uploads.append(r.url) if "/attachments" in r.url else None)
        arrive(page)
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0", timeout=20_000)
        page.route("**/api/v1/sync", unknown_currency)
        context.set_offline(True)
        pay_a_fee(page)
        take_photo(page, paper_jpeg((1200, 900)))
        context.set_offline(False)

        expect(page.locator("#log-list li[data-state=rejected]")).to_have_count(1, timeout=20_000)
        refused = page.locator("#log-list li.photo[data-state=refused]")
        expect(refused).to_have_count(1, timeout=20_000)
        expect(refused.locator(".reason")).to_have_text(
            "Its tap was not accepted, so the photo was not sent."
        )
        expect(page.locator("#photo-offer")).to_be_hidden()
        page.wait_for_timeout(1_500)
        assert uploads == []
        assert [e["type"] for e in server_events(site, shipment)] == ["arrived"]
        # Removing the rejected tap takes its photo off the phone too.
        page.locator("#log-list li[data-state=rejected] > button.dismiss").click()
        expect(refused).to_have_count(0)
        assert stored_photos(page) == []
    finally:
        context.close()
