"""Content-addressed files under ATTACHMENTS_DIR: a file's path is made from its SHA-256
alone (`ab/cd/abcd…`), never from anything a client sent, so no upload can name a path.

A file is durable before `put` returns: written to a temporary file in its final folder,
fsynced, renamed over its final name (atomic on POSIX), and the folder fsynced so the
rename survives a power cut. A reader therefore sees a whole file or none, and the same
bytes uploaded twice (or at once by two requests) are one file. A failed write leaves no
temporary file behind.

Files are shared: identical stored bytes attached to two events are one file. So an upload
holds its digest's lock (`locked`) from `put` until its row is committed or, if the row
failed, its file removed; `put` then says truthfully whether the file is new, and a file
that was new to a failed upload has no committed row pointing at it (another upload of
the same bytes waits for the lock, then writes the file again). The lock is an flock on
the digest's folder: no lock files to clean up, and it holds across worker processes.
"""

import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")


class AttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    @contextmanager
    def locked(self, sha256: str) -> Iterator[None]:
        """Hold the lock of the file named `sha256` (blocks while another upload holds it)."""
        folder = self.path_for(sha256).parent
        self._make_folders(folder)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store `data` under its SHA-256; returns the digest and whether the file is new."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        if path.is_file() and path.stat().st_size == len(data):
            return sha256, False
        self._make_folders(path.parent)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_folder(path.parent)
        return sha256, True

    def remove(self, sha256: str) -> None:
        """Undo a new file's `put` whose row was never committed, under `locked`."""
        self.path_for(sha256).unlink(missing_ok=True)

    def _make_folders(self, folder: Path) -> None:
        """Create the folders down to `folder`, each new one fsynced into its parent."""
        missing = []
        current = folder
        while not current.exists():
            missing.append(current)
            if current == current.parent:
                break
            current = current.parent
        for new in reversed(missing):
            new.mkdir(exist_ok=True)
            _fsync_folder(new.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
