"""Nothing attached to an event is ever deleted: an admin withdraws an attachment with a
reason, and it stays on record, on disk and fetchable, marked withdrawn."""

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from app.evidence.models import Attachment
from tests.evidence.helpers import Evidence, attachment_rows, files_under, image_bytes, upload
from tests.factories import API, assert_problem


@pytest.fixture
def photo(evidence: Evidence) -> bytes:
    return image_bytes("JPEG")


@pytest.fixture
def attachment(client: TestClient, evidence: Evidence, photo: bytes) -> dict[str, Any]:
    response = upload(client, evidence.url(), photo, "image/jpeg", evidence.trip.driver)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def withdraw(client: TestClient, attachment_id: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"{API}/attachments/{attachment_id}/withdraw", json=body, headers=headers)


def test_an_admin_withdraws_with_a_reason_and_the_file_stays(
    client: TestClient,
    evidence: Evidence,
    attachment: dict[str, Any],
    photo: bytes,
    engine: Engine,
    store: Path,
) -> None:
    files = files_under(store)
    served_before = client.get(
        f"{API}/attachments/{attachment['id']}", headers=evidence.trip.driver
    )
    response = withdraw(
        client, attachment["id"], evidence.trip.admin.headers, reason="  Another truck's receipt "
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["withdrawn"] is True
    assert body["withdrawn_reason"] == "Another truck's receipt"
    assert body["withdrawn_at"] is not None
    assert {k: v for k, v in body.items() if not k.startswith("withdrawn")} == {
        k: v for k, v in attachment.items() if not k.startswith("withdrawn")
    }
    # Who withdrew it is kept.
    with engine.connect() as connection:
        row = connection.execute(select(Attachment)).one()
    assert str(row.withdrawn_by) == evidence.trip.admin.user["id"]
    # Still on disk, still listed (marked) and served the same.
    assert files_under(store) == files
    assert attachment_rows(engine) == 1
    listed = client.get(evidence.url(), headers=evidence.trip.exporter.headers).json()["items"]
    assert [(item["id"], item["withdrawn"]) for item in listed] == [(attachment["id"], True)]
    served = client.get(f"{API}/attachments/{attachment['id']}", headers=evidence.trip.driver)
    assert served.status_code == 200
    assert served.content == served_before.content
    # The same bytes again: the same (withdrawn) attachment, nothing new.
    again = upload(client, evidence.url(), photo, "image/jpeg", evidence.trip.driver)
    assert again.status_code == 200
    assert again.json() == body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="no-body"),
        pytest.param({}, id="no-reason"),
        pytest.param({"reason": ""}, id="empty"),
        pytest.param({"reason": "   "}, id="blank"),
        pytest.param({"reason": "x" * 1001}, id="too-long"),
        pytest.param({"reason": "ok", "delete": True}, id="unknown-field"),
    ],
)
def test_a_withdrawal_needs_a_reason(
    client: TestClient,
    evidence: Evidence,
    attachment: dict[str, Any],
    body: dict[str, Any] | None,
) -> None:
    response = client.post(
        f"{API}/attachments/{attachment['id']}/withdraw",
        json=body,
        headers=evidence.trip.admin.headers,
    )
    assert_problem(response, 422)
    listed = client.get(evidence.url(), headers=evidence.trip.admin.headers).json()["items"]
    assert listed[0]["withdrawn"] is False


def test_withdrawing_twice_is_a_conflict_and_keeps_the_first_reason(
    client: TestClient, evidence: Evidence, attachment: dict[str, Any]
) -> None:
    admin = evidence.trip.admin.headers
    assert withdraw(client, attachment["id"], admin, reason="first").status_code == 200
    problem = assert_problem(withdraw(client, attachment["id"], admin, reason="second"), 409)
    assert problem["withdrawn_reason"] == "first"


def test_an_unknown_attachment_is_404(client: TestClient, evidence: Evidence) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(withdraw(client, unknown, evidence.trip.admin.headers, reason="x"), 404)
    assert_problem(
        client.get(f"{API}/attachments/{unknown}", headers=evidence.trip.admin.headers), 404
    )


def test_there_is_no_way_to_delete_an_attachment(
    client: TestClient, evidence: Evidence, attachment: dict[str, Any], engine: Engine, store: Path
) -> None:
    admin = evidence.trip.admin.headers
    for url in (f"{API}/attachments/{attachment['id']}", evidence.url()):
        assert_problem(client.delete(url, headers=admin), 405)
    assert attachment_rows(engine) == 1
    assert len(files_under(store)) == 1
