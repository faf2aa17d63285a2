"""The driver's page attaches the phone's position to each tap, in a real browser: with the
position allowed, every event reaches the server (offline first, queued) with its fix and
accuracy, and the stop is corroborated; with it refused, the taps go without, unhindered."""

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import EXPORTER, Site
from tests.e2e.test_driver import log_a_stop, open_driver, server_events

PHONE_390 = {"width": 390, "height": 844}


def first_checkpoint(site: Site, shipment: dict[str, Any]) -> dict[str, Any]:
    token = site.token(EXPORTER)
    checkpoint: dict[str, Any] = site.get(f"/checkpoints/{shipment['route'][0]}", token).json()
    return checkpoint


def test_each_tap_carries_the_phones_position_offline_too(
    browser: Browser, site: Site, tmp_path: Path
) -> None:
    shipment, token = site.driver_link()
    here = first_checkpoint(site, shipment)
    context = browser.new_context(
        viewport=PHONE_390,
        locale="en-GB",
        permissions=["geolocation"],
        # 60 m north of the checkpoint, as a phone in a truck would see it: ±25 m.
        geolocation={
            "latitude": here["latitude"] + 0.00054,
            "longitude": here["longitude"],
            "accuracy": 25,
        },
    )
    try:
        page = open_driver(context, site, token)
        gps = page.locator("#gps-state")
        expect(gps).to_have_attribute("data-state", "fix", timeout=10_000)
        expect(gps).to_have_text("· Position ±25 m")
        context.set_offline(True)
        log_a_stop(page)  # the nearest checkpoint is listed first: this one
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "5")
        queued = page.evaluate(
            "Object.keys(localStorage).filter(k => k.startsWith('clearance.driver.') "
            "&& k !== 'clearance.driver.last').map(k => JSON.parse(localStorage[k]).queue)[0]"
        )
        assert [q["event"]["location"]["accuracy_m"] for q in queued] == [25] * 5
        page.screenshot(path=str(tmp_path / "driver-position-390.png"), full_page=True)
        context.set_offline(False)
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0", timeout=20_000)
        events = server_events(site, shipment)
        assert len(events) == 5
        for event in events:
            location = event["location"]
            assert location["accuracy_m"] == 25
            assert abs(location["lat"] - (here["latitude"] + 0.00054)) < 1e-6
            assert abs(location["lon"] - here["longitude"]) < 1e-6
        stops = site.get(f"/shipments/{shipment['id']}/stops", site.token(EXPORTER)).json()
        [stop] = stops["items"]
        assert stop["checkpoint"]["id"] == here["id"]
        assert stop["position_evidence"] == "confirmed"
        assert stop["anomalies"] == []
    finally:
        context.close()


def test_a_refused_position_never_holds_a_tap_back(browser: Browser, site: Site) -> None:
    shipment, token = site.driver_link()
    context = browser.new_context(viewport=PHONE_390, locale="en-GB")  # no permission
    try:
        page = open_driver(context, site, token)
        log_a_stop(page)
        expect(page.locator("#queue-state")).to_have_attribute("data-pending", "0", timeout=20_000)
        events = server_events(site, shipment)
        assert len(events) == 5
        assert all(e["location"] is None for e in events)
        [stop] = site.get(f"/shipments/{shipment['id']}/stops", site.token(EXPORTER)).json()[
            "items"
        ]
        assert stop["position_evidence"] == "none"
    finally:
        context.close()
