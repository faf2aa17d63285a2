"""Every refusal is a 4xx problem+json and leaves nothing behind: no row, no file, no
temporary file (the whole test folder is compared, so nothing lands outside
ATTACHMENTS_DIR either)."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import ImageFile
from sqlalchemy.engine import Engine

from app.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.evidence.helpers import (
    Evidence,
    attachment_rows,
    files_under,
    image_bytes,
    make_evidence,
    png_bomb,
    random_event_id,
    upload,
)
from tests.factories import assert_problem
from tests.tracking.helpers import make_trip


@pytest.fixture
def nothing_left(engine: Engine, tmp_path: Path) -> Iterator[None]:
    """The test's folder (ATTACHMENTS_DIR and beside it) and the attachments table are the
    same after the test as before it (the SQLite database files aside)."""

    def snapshot() -> set[Path]:
        return {p for p in files_under(tmp_path) if not p.name.startswith("test.db")}

    before = snapshot()
    rows = attachment_rows(engine)
    yield
    assert snapshot() == before
    assert attachment_rows(engine) == rows


def refused(response: httpx.Response, status: int) -> dict[str, object]:
    return assert_problem(response, status)


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize(
    "content_type",
    ["image/gif", "text/html", "application/octet-stream", "image/svg+xml", "image/jpg", ""],
)
def test_another_content_type_is_415(
    client: TestClient, evidence: Evidence, content_type: str
) -> None:
    response = upload(
        client, evidence.url(), image_bytes("PNG"), content_type, evidence.trip.driver
    )
    problem = refused(response, 415)
    assert "image/jpeg" in str(problem["detail"])


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        pytest.param("image/jpeg", b"this is not a photo at all", id="text-as-jpeg"),
        pytest.param("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, id="png-signature-only"),
        pytest.param("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 garbage", id="broken-webp"),
        pytest.param("image/jpeg", image_bytes("PNG"), id="png-sent-as-jpeg"),
        pytest.param("image/png", image_bytes("JPEG"), id="jpeg-sent-as-png"),
        pytest.param("application/pdf", image_bytes("PNG"), id="png-sent-as-pdf"),
        pytest.param("application/pdf", b"<html><script>alert(1)</script>", id="html-as-pdf"),
        pytest.param("image/png", b"", id="empty"),
    ],
)
def test_bytes_that_are_not_what_the_type_says_are_422(
    client: TestClient, evidence: Evidence, content_type: str, data: bytes
) -> None:
    response = upload(client, evidence.url(), data, content_type, evidence.trip.driver)
    problem = refused(response, 422)
    assert "object at 0x" not in str(problem["detail"])  # no internals in the message


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize(
    ("format_", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")]
)
def test_a_truncated_image_is_422(
    client: TestClient, evidence: Evidence, format_: str, content_type: str
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    whole = image_bytes(format_, size=(200, 150))
    response = upload(
        client, evidence.url(), whole[: len(whole) * 2 // 3], content_type, evidence.trip.driver
    )
    problem = refused(response, 422)
    assert "does not decode" in str(problem["detail"])


@pytest.mark.usefixtures("nothing_left")
def test_a_50_megapixel_png_bomb_is_422_before_it_is_decoded(
    client: TestClient, evidence: Evidence
) -> None:
    bomb = png_bomb()
    assert len(bomb) < 100_000  # tens of kilobytes that declare 50 megapixels
    response = upload(client, evidence.url(), bomb, "image/png", evidence.trip.driver)
    problem = refused(response, 422)
    assert "50.0 megapixels" in str(problem["detail"])


@pytest.mark.usefixtures("nothing_left")
def test_a_body_over_the_limit_is_413_by_its_content_length(
    client: TestClient, evidence: Evidence
) -> None:
    data = b"%PDF-1.4\n" + b"x" * (8 * 1024 * 1024)
    response = upload(client, evidence.url(), data, "application/pdf", evidence.trip.driver)
    refused(response, 413)


@pytest.mark.usefixtures("nothing_left")
def test_a_streamed_body_over_the_limit_is_413_as_it_arrives(
    client: TestClient, evidence: Evidence
) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        nonlocal sent
        yield b"%PDF-1.4\n"
        for _ in range(100):
            sent += 1
            yield b"x" * (256 * 1024)

    response = client.post(
        evidence.url(),
        params={"kind": "document"},
        content=chunks(),
        headers={**evidence.trip.driver, "Content-Type": "application/pdf"},
    )
    refused(response, 413)


@pytest.fixture
def small_limit_app(db_url: str, tmp_path: Path) -> FastAPI:
    settings: Settings = make_settings(
        db_url, attachments_dir=tmp_path / "attachments", max_attachment_bytes=4096
    )
    return create_app(settings)


def test_max_attachment_bytes_is_a_setting(small_limit_app: FastAPI, tmp_path: Path) -> None:
    with TestClient(small_limit_app) as client:
        evidence = make_evidence(client)
        small = upload(
            client, evidence.url(), image_bytes("PNG", (8, 8)), "image/png", evidence.trip.driver
        )
        assert small.status_code == 201, small.text
        before = files_under(tmp_path / "attachments")
        big = upload(
            client,
            evidence.url(),
            image_bytes("PNG", (200, 200)),
            "image/png",
            evidence.trip.driver,
        )
        problem = refused(big, 413)
        assert "4096" in str(problem["detail"])
        assert files_under(tmp_path / "attachments") == before


@pytest.mark.usefixtures("nothing_left")
def test_a_photo_for_an_event_of_another_shipment_is_404(
    client: TestClient, evidence: Evidence
) -> None:
    # The exporter's second shipment, and an event id that exists only on the first.
    other = make_trip(client)
    for shipment, event_id, headers in (
        (other.id, evidence.fee_event, other.driver),  # other's driver, this trip's event
        (other.id, evidence.fee_event, evidence.trip.admin.headers),  # even for an admin
        (evidence.shipment_id, random_event_id(), evidence.trip.driver),  # no such event
    ):
        url = evidence.url(event_id, shipment_id=shipment)
        refused(upload(client, url, image_bytes("JPEG"), "image/jpeg", headers), 404)


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize("kind", ["../../x", "..%2F..%2Fx", "receipt/../../x", "/etc/passwd", ""])
def test_a_path_in_the_kind_is_422(client: TestClient, evidence: Evidence, kind: str) -> None:
    response = upload(
        client, evidence.url(), image_bytes("PNG"), "image/png", evidence.trip.driver, kind
    )
    refused(response, 422)


def test_a_client_file_name_never_names_a_path(
    client: TestClient, evidence: Evidence, store: Path, tmp_path: Path
) -> None:
    outside = {p for p in files_under(tmp_path.parent) if store not in p.parents}
    response = upload(
        client,
        evidence.url(),
        image_bytes("PNG"),
        "image/png",
        evidence.trip.driver,
        **{
            "Content-Disposition": 'attachment; filename="../../../evil.png"',
            "X-File-Name": "../../../evil.png",
            "Slug": "../../evil",
        },
    )
    assert response.status_code == 201, response.text
    digest = response.json()["stored_sha256"]
    assert files_under(store) == {store.resolve() / digest[:2] / digest[2:4] / digest}
    now_outside = {p for p in files_under(tmp_path.parent) if store not in p.parents}
    assert {p for p in now_outside - outside if not p.name.startswith("test.db")} == set()
    assert not list(tmp_path.parent.rglob("evil*"))


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize(
    ("event_id", "status"),
    [("not-a-uuid", 422), ("..", 404), ("..%2F..%2Fetc", 404), ("%2E%2E%2F%2E%2E", 404)],
)
def test_a_path_in_the_event_id_matches_nothing(
    client: TestClient, evidence: Evidence, event_id: str, status: int
) -> None:
    url = evidence.url(event_id)
    refused(upload(client, url, image_bytes("PNG"), "image/png", evidence.trip.driver), status)
