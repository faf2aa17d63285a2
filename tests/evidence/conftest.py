from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.evidence.helpers import Evidence, make_evidence


@pytest.fixture
def evidence(client: TestClient) -> Evidence:
    return make_evidence(client)


@pytest.fixture
def store(settings: Settings) -> Path:
    """The test's ATTACHMENTS_DIR (tests/conftest.py puts it in the test's tmp_path)."""
    return settings.attachments_dir
