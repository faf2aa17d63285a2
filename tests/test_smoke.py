import gc
from typing import Any

from fastapi.testclient import TestClient

from app.collector import THRESHOLDS
from app.main import create_app
from tests.factories import API, admin, make_checkpoint, make_exporter, make_shipment


def test_exporter_creates_and_lists_a_shipment(client: TestClient) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    exporter = make_exporter(client, boss)
    created = make_shipment(client, exporter, route=[checkpoint["id"]])
    assert created["status"] == "planned"
    assert created["tracking_code"].startswith("KRD-")
    listed = client.get(f"{API}/shipments", headers=exporter.headers).json()
    assert [s["id"] for s in listed["items"]] == [created["id"]]
    assert listed["items"][0]["route"] == [checkpoint["id"]]


def test_a_worker_spaces_out_pythons_full_collections(settings: Any) -> None:
    """create_app (each worker's start) sets the collector's thresholds that keep its full
    collections, which walk the whole heap, out of most reports and group writes."""
    gc.set_threshold(700, 10, 10)  # Python's default, as a fresh worker process has it
    try:
        create_app(settings)
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] >= 10_000
    finally:
        gc.set_threshold(*THRESHOLDS)
