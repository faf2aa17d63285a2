"""WeasyPrint is imported at a first PDF and turns Pillow's LOAD_TRUNCATED_IMAGES on as it
loads: a photo decoded meanwhile is decoded again, never trusted (app/imaging.py)."""

import threading

import pytest
from PIL import ImageFile

from app import imaging


def test_a_decode_that_an_import_overlapped_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first decode runs while WeasyPrint's import has the flag on (as it does midway):
    its result is dropped and the decode runs again once the import is over."""
    seen: list[bool] = []
    monkeypatch.setattr(imaging, "_flips", 0)

    def decode() -> str:
        seen.append(ImageFile.LOAD_TRUNCATED_IMAGES)
        if len(seen) == 1:  # an import starts while this photo decodes, and ends
            imaging._flips += 1
            ImageFile.LOAD_TRUNCATED_IMAGES = True
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            imaging._flips += 1
        return f"decode {len(seen)}"

    assert imaging.strictly_decoded(decode) == "decode 2"
    assert seen == [False, False]


def test_a_decode_waits_for_an_import_in_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging, "_flips", 1)  # an import is running, holding the lock
    imaging._importing.acquire()
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(imaging.strictly_decoded(lambda: "ok")))
    try:
        worker.start()
        worker.join(timeout=0.3)
        assert done == []  # still waiting
    finally:  # the import ends, whatever the assertion found: no later test inherits it
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        imaging._flips = 2
        imaging._importing.release()
    worker.join(timeout=5)
    assert done == ["ok"]


def test_a_flag_turned_on_by_anything_else_refuses_to_decode() -> None:
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(RuntimeError, match="must stay False"):
            imaging.strictly_decoded(lambda: "never")
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_printing_imports_weasyprint_once_and_leaves_the_flag_off() -> None:
    first = imaging.weasyprint()
    assert imaging.weasyprint() is first
    assert hasattr(first, "HTML")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert imaging._flips % 2 == 0
