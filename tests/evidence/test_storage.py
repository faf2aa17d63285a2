"""The file store on its own, and an upload whose row fails to commit: a file is written
whole or not at all, and a failure leaves neither a temporary file nor an orphan."""

import hashlib
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.errors import NotFound
from app.evidence import service
from app.evidence.storage import AttachmentStore
from tests.evidence.helpers import Evidence, attachment_rows, files_under, image_bytes, upload
from tests.factories import assert_problem


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
