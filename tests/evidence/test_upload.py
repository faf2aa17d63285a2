"""Uploading evidence: each accepted type, idempotency by content, the answer's fields, the
file on disk (named by SHA-256 alone, durable before the 201), listing and downloading."""

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.engine import Engine

from tests.evidence.helpers import (
    PDF_WITH_JS,
    Evidence,
    attachment_rows,
    files_under,
    image_bytes,
    upload,
)
from tests.factories import API

TYPES = [
    pytest.param("JPEG", "image/jpeg", id="jpeg"),
    pytest.param("PNG", "image/png", id="png"),
    pytest.param("WEBP", "image/webp", id="webp"),
]


@pytest.mark.parametrize(("format_", "content_type"), TYPES)
def test_a_photo_is_accepted_decoded_and_stored_under_its_digest(
    client: TestClient,
    evidence: Evidence,
    engine: Engine,
    store: Path,
    format_: str,
    content_type: str,
) -> None:
    data = image_bytes(format_, size=(80, 60))
    response = upload(client, evidence.url(), data, content_type, evidence.trip.driver)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["event_id"] == evidence.fee_event
    assert body["kind"] == "receipt"
    assert body["content_type"] == content_type
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["bytes"] == len(data)
    assert (body["width"], body["height"]) == (80, 60)
    assert body["captured_at"] is None  # no EXIF in this one
    assert body["withdrawn"] is False
    assert set(body) >= {"id", "created_at"}
    # One file, named by the SHA-256 of its own bytes, in ab/cd/<sha256>.
    (path,) = files_under(store)
    digest = body["stored_sha256"]
    assert path == store.resolve() / digest[:2] / digest[2:4] / digest
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert attachment_rows(engine) == 1
    # Served as stored, with its type, as a download.
    served = client.get(f"{API}/attachments/{body['id']}", headers=evidence.trip.exporter.headers)
    assert served.status_code == 200, served.text
    assert served.content == path.read_bytes()
    assert served.headers["content-type"] == content_type
    assert served.headers["content-disposition"].startswith("attachment")
    assert served.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.format == format_
        assert image.size == (80, 60)


def test_a_pdf_is_stored_as_received_and_served_only_as_a_download(
    client: TestClient, evidence: Evidence, store: Path
) -> None:
    url = evidence.url(evidence.held_event)
    response = upload(client, url, PDF_WITH_JS, "application/pdf", evidence.trip.driver, "notice")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "notice"
    assert body["sha256"] == body["stored_sha256"] == hashlib.sha256(PDF_WITH_JS).hexdigest()
    assert (body["width"], body["height"]) == (None, None)
    (path,) = files_under(store)
    assert path.read_bytes() == PDF_WITH_JS  # inert bytes: never parsed, never changed
    served = client.get(f"{API}/attachments/{body['id']}", headers=evidence.trip.driver)
    assert served.status_code == 200
    assert served.content == PDF_WITH_JS
    assert served.headers["content-type"] == "application/pdf"
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"attachment-{body['id']}.pdf" in disposition
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]


def test_the_same_bytes_to_the_same_event_are_one_attachment(
    client: TestClient, evidence: Evidence, engine: Engine, store: Path
) -> None:
    data = image_bytes("JPEG")
    first = upload(client, evidence.url(), data, "image/jpeg", evidence.trip.driver)
    assert first.status_code == 201, first.text
    files = files_under(store)
    # The retry (the phone never saw the 201), even by the exporter and with another kind.
    for headers, kind in (
        (evidence.trip.driver, "receipt"),
        (evidence.trip.exporter.headers, "other"),
    ):
        again = upload(client, evidence.url(), data, "image/jpeg", headers, kind)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    assert attachment_rows(engine) == 1
    assert files_under(store) == files
    listed = client.get(evidence.url(), headers=evidence.trip.driver).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]


def test_the_same_photo_on_two_events_is_two_attachments_and_one_file(
    client: TestClient, evidence: Evidence, engine: Engine, store: Path
) -> None:
    data = image_bytes("PNG")
    one = upload(client, evidence.url(), data, "image/png", evidence.trip.driver)
    two = upload(client, evidence.url(evidence.held_event), data, "image/png", evidence.trip.driver)
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["id"] != two.json()["id"]
    assert one.json()["stored_sha256"] == two.json()["stored_sha256"]
    assert attachment_rows(engine) == 2
    assert len(files_under(store)) == 1


def test_the_list_holds_the_events_attachments_oldest_first(
    client: TestClient, evidence: Evidence
) -> None:
    ids = []
    for format_, content_type in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        response = upload(
            client, evidence.url(), image_bytes(format_), content_type, evidence.trip.driver
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    other = upload(
        client,
        evidence.url(evidence.held_event),
        image_bytes("PNG"),
        "image/png",
        evidence.trip.driver,
    )
    assert other.status_code == 201
    response = client.get(evidence.url(), headers=evidence.trip.exporter.headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["id"] for item in page["items"]] == ids
    assert page["next_cursor"] is None


def test_a_content_type_with_parameters_is_read_by_its_media_type(
    client: TestClient, evidence: Evidence
) -> None:
    response = upload(
        client,
        evidence.url(),
        image_bytes("PNG"),
        "Image/PNG; charset=binary",
        evidence.trip.driver,
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"


def test_a_file_up_to_the_limit_is_accepted(
    client: TestClient, evidence: Evidence, settings: object
) -> None:
    # A PDF padded to exactly MAX_ATTACHMENT_BYTES (8 MiB by default).
    limit = 8 * 1024 * 1024
    data = PDF_WITH_JS + b"%" + b"x" * (limit - len(PDF_WITH_JS) - 1)
    assert len(data) == limit
    response = upload(client, evidence.url(), data, "application/pdf", evidence.trip.driver)
    assert response.status_code == 201, response.text
    assert response.json()["bytes"] == limit


def test_the_same_upload_sent_at_once_from_several_threads_is_one_attachment(
    client: TestClient, evidence: Evidence, engine: Engine, store: Path
) -> None:
    data = image_bytes("JPEG", size=(320, 240))

    def send(_: int) -> tuple[int, str]:
        response = upload(client, evidence.url(), data, "image/jpeg", evidence.trip.driver)
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(send, range(4)))
    assert sorted(status for status, _ in results) == [200, 200, 200, 201]
    assert len({attachment_id for _, attachment_id in results}) == 1
    assert attachment_rows(engine) == 1
    assert len(files_under(store)) == 1  # and no temporary file
