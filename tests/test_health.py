from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import assert_problem


def test_readyz_is_503_when_the_database_cannot_be_reached() -> None:
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    app = create_app(make_settings(unreachable, bootstrap_admin_email=None))
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        problem = assert_problem(client.get("/readyz"), 503)
    assert "database" in problem["detail"]
