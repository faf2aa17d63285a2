"""A device key travels in the query string (the OsmAnd protocol), where proxies and access
logs like to write it down. Ours never does: the access log writes the path alone, and every
log line is filtered for bearer secrets (trk_, drv_, cct_) whatever logged them."""

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import make_settings
from tests.positions.helpers import KIRKUK, device_key, make_route, osmand


@pytest.fixture
def logging_client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        db_url, attachments_dir=tmp_path / "attachments", log_level="INFO", log_json=True
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_device_key_never_appears_in_a_log_line(logging_client: TestClient) -> None:
    client = logging_client
    # The app's own handler (app/observability.py's configure_logging), written to memory.
    [handler] = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
        and h.formatter is not None
        and "JsonLines" in type(h.formatter).__name__
    ]
    lines = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(lines)
    route = make_route(client)
    key = device_key(client, route)
    at = datetime.now(UTC) - timedelta(hours=1)
    assert osmand(client, key, KIRKUK, at).status_code == 200  # stored
    assert osmand(client, key, KIRKUK, at, method="POST").status_code == 200  # a duplicate
    assert osmand(client, key, (95.0, 44.0), at).status_code == 422  # a bad fix
    client.post("/api/v1/positions/osmand", data={"id": key, "lat": "1", "lon": "2"})
    # Whatever code logs it, by accident or in an error: the line carries no key.
    logging.getLogger("app.anything").warning("device %s sent a fix", key)
    logging.getLogger("app.anything").warning("fix", extra={"url": f"/osmand?id={key}"})
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        logging.getLogger("app.anything").exception("failed")
    client.delete(f"/api/v1/shipments/{route.id}/device-key", headers=route.exporter.headers)
    assert osmand(client, key, KIRKUK, at + timedelta(seconds=1)).status_code == 401
    logged = lines.getvalue()
    assert "/api/v1/positions/osmand" in logged  # the access log wrote those requests
    assert "trk_[redacted]" in logged
    assert key not in logged
    assert key[4:16] not in logged
