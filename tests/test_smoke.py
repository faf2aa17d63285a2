from fastapi.testclient import TestClient

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
