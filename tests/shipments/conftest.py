import pytest
from fastapi.testclient import TestClient

from tests.factories import Actor, admin, make_exporter


@pytest.fixture
def boss(client: TestClient) -> Actor:
    return admin(client)


@pytest.fixture
def exporter(client: TestClient, boss: Actor) -> Actor:
    return make_exporter(client, boss)
