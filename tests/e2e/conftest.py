"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium), headless, against
a real uvicorn server holding the demo world. Chromium missing is a failure, not a skip:
scripts/test installs it."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import expect

from app.demo import generator
from app.main import create_app
from tests.conftest import DatabaseUnderTest, make_settings
from tests.factories import API, shipment_payload
from tests.live_server import live_server

# Every expectation waits up to 15 s (Playwright's default is 5): on a shared 2-CPU machine at
# load 10+ a page's redraw (several reports at once) or a sync round trip missed 5 s now and
# then. A thing that never happens still fails the test, 15 s later.
expect.set_options(timeout=15_000)

DEMO_SHIPMENTS = 300
EXPORTER = "exporter1@demo.example"
ADVOCATE = "advocate@demo.example"
PHONE = {"width": 412, "height": 915}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Site:
    base: str
    app: FastAPI

    def token(self, email: str, password: str = generator.DEMO_PASSWORD) -> str:
        response = httpx.post(
            f"{self.base}{API}/auth/token", data={"username": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(self, path: str, token: str, **params: Any) -> httpx.Response:
        response = httpx.get(
            f"{self.base}{API}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response

    def driver_link(self) -> tuple[dict[str, Any], str]:
        """A new shipment of exporter 1 along three demo checkpoints, and its driver token."""
        exporter = {"Authorization": f"Bearer {self.token(EXPORTER)}"}
        checkpoints = self.get("/checkpoints", self.token(EXPORTER), limit=500).json()["items"]
        route = [c["id"] for c in checkpoints if c["province"] in ("kirkuk", "salahaddin")][:3]
        created = httpx.post(
            f"{self.base}{API}/shipments",
            json=shipment_payload(route=route, planned_departure=datetime.now(UTC).isoformat()),
            headers=exporter,
        )
        assert created.status_code == 201, created.text
        shipment = created.json()
        link = httpx.post(
            f"{self.base}{API}/shipments/{shipment['id']}/driver-token", headers=exporter
        )
        assert link.status_code == 201, link.text
        return shipment, str(link.json()["token"])


@pytest.fixture(scope="module")
def site(
    database: DatabaseUnderTest,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Site]:
    """One server per test module, with the demo world (a few hundred trips) loaded: over
    the demo's six months, or over the module's `DEMO_DAYS` (`DEMO_SHIPMENTS` trips) when it
    sets them: in a few days, most checkpoint-days pass the advocates' thresholds."""
    if database.backend == "postgres":
        url = database.template_url
    else:
        template = database.template_url.removeprefix("sqlite:///")
        target = tmp_path_factory.mktemp("e2e") / "site.db"
        shutil.copyfile(template, target)
        url = f"sqlite:///{target}"
    # Evidence files of the module's own, never in the checkout's ./data.
    attachments = tmp_path_factory.mktemp("attachments")
    app = create_app(make_settings(url, attachments_dir=attachments))
    with app.state.session_factory() as session:
        generator.seed(
            session,
            passwords=app.state.passwords,
            shipments=getattr(request.module, "DEMO_SHIPMENTS", DEMO_SHIPMENTS),
            seed=7,
            now=datetime.now(UTC),
            days=getattr(request.module, "DEMO_DAYS", generator.DAYS),
        )
    try:
        with live_server(app) as base:
            yield Site(base, app)
    finally:
        app.state.engine.dispose()
        database.reset()
