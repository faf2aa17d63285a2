"""Shared pieces of the position tests: checkpoints at known places, a trip over them with a
driver link, fixes at a distance and bearing from a checkpoint, device keys and OsmAnd calls."""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient

from app.tracking.geofence import EARTH_RADIUS_M
from tests.factories import API, Actor, admin, make_checkpoint, make_exporter, make_shipment
from tests.tracking.helpers import driver_headers, post_event

# Kirkuk south entrance and Tuz Khurmatu, about 75 km apart (straight line).
KIRKUK = (35.3910, 44.3720)
TUZ = (34.8870, 44.6300)


def offset(point: tuple[float, float], metres: float, bearing_deg: float) -> tuple[float, float]:
    """The point `metres` away from `point` at this bearing (great circle)."""
    lat1, lon1 = map(math.radians, point)
    bearing = math.radians(bearing_deg)
    d = metres / EARTH_RADIUS_M
    lat2 = math.asin(
        math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(bearing)
    )
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(lat1),
        math.cos(d) - math.sin(lat1) * math.sin(lat2),
    )
    return math.degrees(lat2), math.degrees(lon2)


def location(
    point: tuple[float, float], metres: float = 0, accuracy: float | None = 10, bearing: float = 90
) -> dict[str, Any]:
    lat, lon = offset(point, metres, bearing)
    body: dict[str, Any] = {"lat": lat, "lon": lon}
    if accuracy is not None:
        body["accuracy_m"] = accuracy
    return body


@dataclass
class Route:
    """An exporter's shipment from Kirkuk (checkpoint a) to Tuz (checkpoint b)."""

    client: TestClient
    admin: Actor
    exporter: Actor
    shipment: dict[str, Any]
    a: dict[str, Any]
    b: dict[str, Any]
    driver: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.shipment["id"])

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return post_event(self.client, self.id, body, self.driver)

    def stops(self) -> list[dict[str, Any]]:
        response = self.client.get(f"{API}/shipments/{self.id}/stops", headers=self.driver)
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]


def make_route(client: TestClient, **a_fields: Any) -> Route:
    boss = admin(client)
    a = make_checkpoint(client, boss, latitude=KIRKUK[0], longitude=KIRKUK[1], **a_fields)
    b = make_checkpoint(client, boss, latitude=TUZ[0], longitude=TUZ[1])
    exporter = make_exporter(client, boss)
    shipment = make_shipment(client, exporter, route=[a["id"], b["id"]])
    return Route(client, boss, exporter, shipment, a, b, driver_headers(client, exporter, shipment))


def ev(type_: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "occurred_at": at.isoformat(),
        **fields,
    }


def device_key(client: TestClient, route: Route) -> str:
    response = client.post(f"{API}/shipments/{route.id}/device-key", headers=route.exporter.headers)
    assert response.status_code == 201, response.text
    key = response.json()["key"]
    assert key.startswith("trk_")
    return str(key)


def osmand(
    client: TestClient,
    key: str | None,
    point: tuple[float, float],
    at: datetime,
    *,
    accuracy: float | None = 10,
    method: str = "GET",
    **extra: Any,
) -> httpx.Response:
    params: dict[str, Any] = {
        "lat": f"{point[0]:.7f}",
        "lon": f"{point[1]:.7f}",
        "timestamp": str(int(at.timestamp())),
        "speed": "0",
        **extra,
    }
    if key is not None:
        params["id"] = key
    if accuracy is not None:
        params["accuracy"] = str(accuracy)
    return client.request(method, f"{API}/positions/osmand", params=params)
