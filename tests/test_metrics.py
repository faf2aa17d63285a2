from fastapi.testclient import TestClient

from tests.factories import API, admin, make_exporter, make_shipment


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    exporter = make_exporter(client, admin(client))
    shipment = make_shipment(client, exporter)
    client.get(f"{API}/shipments/{shipment['id']}", headers=exporter.headers)
    client.get(f"{API}/shipments/{shipment['id']}")  # 401

    text = client.get("/metrics").text

    route = "/api/v1/shipments/{shipment_id}"
    assert f'http_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in text
    assert f'http_requests_total{{method="GET",route="{route}",status="401"}} 1.0' in text
    assert shipment["id"] not in text  # templates, never raw paths
    assert "http_request_duration_seconds_bucket" in text
