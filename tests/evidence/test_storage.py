"""The file store on its own, and an upload whose row fails to commit: a file is written
whole or not at all, and a failure leaves neither a temporary file nor an orphan, nor takes
away a file that another event's attachment uses. A file missing on disk is a clear 410."""

import hashlib
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app.errors import NotFound
from app.evidence import service
from app.evidence.models import Attachment
from app.evidence.storage import AttachmentStore
from tests.evidence.helpers import Evidence, attachment_rows, files_under, image_bytes, upload
from tests.factories import API, assert_problem


def test_a_file_is_named_by_its_digest_and_written_once(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "files")
    digest, new = store.put(b"evidence")
    assert digest == hashlib.sha256(b"evidence").hexdigest()
    assert new is True
    path = tmp_path / "files" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == b"evidence"
    assert store.put(b"evidence") == (digest, False)
    assert files_under(tmp_path) == {path}


@pytest.mark.parametrize("name", ["../../etc/passwd", "AB" * 32, "a" * 63, "", "a" * 64 + "/x"])
def test_only_a_sha256_hex_digest_names_a_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        AttachmentStore(tmp_path).path_for(name)


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AttachmentStore(tmp_path / "files")

    real_fsync = os.fsync
    temporary: list[str] = []

    def disk_full(fd: int) -> None:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return real_fsync(fd)  # the folders: fine
        temporary.extend(p.name for p in files_under(tmp_path))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put(b"evidence")
    assert temporary  # it was there when the write failed …
    assert files_under(tmp_path) == set()  # … and is gone


def test_a_file_whose_row_fails_to_commit_is_removed(
    client: TestClient,
    evidence: Evidence,
    engine: Engine,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = upload(client, evidence.url(), image_bytes("PNG"), "image/png", evidence.trip.driver)
    assert kept.status_code == 201
    files = files_under(store)

    def vanished(*args: object, **kwargs: object) -> None:
        # As if the shipment could no longer be seen once the write transaction began.
        raise NotFound("No such shipment.")

    monkeypatch.setattr(service, "lock_visible_shipment", vanished)
    response = upload(client, evidence.url(), image_bytes("PNG"), "image/png", evidence.trip.driver)
    assert_problem(response, 404)
    assert files_under(store) == files
    assert attachment_rows(engine) == 1


def test_a_failed_upload_leaves_the_file_another_events_upload_of_the_same_bytes_uses(
    client: TestClient,
    evidence: Evidence,
    engine: Engine,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upload A (to the fee event) has written the file and its write transaction is open
    when upload B of the same bytes (to the held event) starts; A's write then fails. B's
    row must not point at a file that A's clean-up took away."""
    data = image_bytes("PNG")
    real_lock = service.lock_visible_shipment
    calls = 0
    second: dict[str, httpx.Response] = {}

    def send_second() -> None:
        second["response"] = upload(
            client, evidence.url(evidence.held_event), data, "image/png", evidence.trip.driver
        )

    def first_fails_while_second_runs(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:  # the second upload's own call: the real thing
            return real_lock(*args, **kwargs)
        thread = threading.Thread(target=send_second)
        thread.start()
        # Long enough for B to store its file (or, as it must, to wait for the file's lock).
        thread.join(timeout=1.0)
        second["thread"] = thread  # type: ignore[assignment]
        raise OperationalError("INSERT INTO attachments", {}, Exception("disk I/O error"))

    monkeypatch.setattr(service, "lock_visible_shipment", first_fails_while_second_runs)
    failed = upload(
        client, evidence.url(evidence.fee_event), data, "image/png", evidence.trip.driver
    )
    assert_problem(failed, 500)
    thread = second["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(timeout=30)
    assert not thread.is_alive()

    response = second["response"]
    assert response.status_code == 201, response.text
    assert attachment_rows(engine) == 1
    body = response.json()
    assert body["event_id"] == evidence.held_event
    path = AttachmentStore(store).path_for(_stored(engine))
    assert path.is_file()
    served = client.get(f"{API}/attachments/{body['id']}", headers=evidence.trip.driver)
    assert served.status_code == 200, served.text
    assert served.content == path.read_bytes()
    assert files_under(store) == {path}


def test_a_download_whose_file_is_missing_is_a_410_problem_and_an_error_in_the_log(
    client: TestClient,
    evidence: Evidence,
    engine: Engine,
    store: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = upload(client, evidence.url(), image_bytes("PNG"), "image/png", evidence.trip.driver)
    assert response.status_code == 201
    attachment_id = response.json()["id"]
    path = AttachmentStore(store).path_for(_stored(engine))
    path.unlink()

    with caplog.at_level(logging.ERROR, logger="app.evidence.service"):
        served = client.get(f"{API}/attachments/{attachment_id}", headers=evidence.trip.driver)
    problem = assert_problem(served, 410)
    assert problem["title"] == "The stored file is missing"
    assert problem["attachment_id"] == attachment_id
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(attachment_id in r.getMessage() for r in errors)
    # The record is untouched: still listed, still there to be found and restored.
    listed = client.get(evidence.url(), headers=evidence.trip.driver)
    assert [a["id"] for a in listed.json()["items"]] == [attachment_id]


def _stored(engine: Engine) -> str:
    """The stored digest of the one attachment."""
    with engine.connect() as connection:
        return str(connection.scalar(select(Attachment.stored_sha256)))
