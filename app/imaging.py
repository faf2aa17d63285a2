"""Pillow's LOAD_TRUNCATED_IMAGES, which must stay off, and WeasyPrint, which turns it on.

The evidence uploads decode every pixel of a photo with LOAD_TRUNCATED_IMAGES off, so that
half a JPEG never passes for a whole one (app/evidence/images.py). Importing WeasyPrint (the
bulletins' PDFs) turns that process-wide flag on. WeasyPrint is ~21 MB of a worker's memory
and most workers never print a PDF, so it is imported at a first PDF, not at start, and the
flag turned off again at once. A photo decoded while that import ran is not trusted: the
import counts itself in `_flips` (odd while it runs), and a decode that saw the count move
is done again (`strictly_decoded`)."""

import importlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

from PIL import ImageFile

T = TypeVar("T")

ImageFile.LOAD_TRUNCATED_IMAGES = False
_importing = threading.Lock()
_flips = 0  # even: no import running; each import adds 1 when it starts and 1 when it ends
_weasyprint: ModuleType | None = None


def weasyprint() -> ModuleType:
    """WeasyPrint, imported on first use, with LOAD_TRUNCATED_IMAGES off again after it.
    OSError: its system libraries (pango) are missing."""
    global _flips, _weasyprint
    if _weasyprint is not None:
        return _weasyprint
    with _importing:
        if _weasyprint is None:
            _flips += 1
            try:
                importlib.import_module("weasyprint.urls")  # the URL fetcher the PDFs use
                _weasyprint = importlib.import_module("weasyprint")
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = False
                _flips += 1
    return _weasyprint


def strictly_decoded(decode: Callable[[], T]) -> T:
    """`decode()`'s result, known to have run with LOAD_TRUNCATED_IMAGES off throughout: run
    again if WeasyPrint's import started or ended meanwhile. RuntimeError if something else
    turned the flag on (refuse to guess)."""
    while True:
        before = _flips
        if before % 2:  # an import is running: wait for it to end
            with _importing:
                continue
        if ImageFile.LOAD_TRUNCATED_IMAGES:
            raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
        result = decode()
        if _flips == before and not ImageFile.LOAD_TRUNCATED_IMAGES:
            return result
