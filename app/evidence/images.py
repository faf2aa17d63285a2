"""Accept an upload only once it has decoded as what it says it is; keep what it proves
(capture time and position), drop what identifies the phone. Pure: no session, no disk.

- The type is the declared Content-Type's, and Pillow is told to open only that format:
  a PNG sent as image/jpeg is refused, not guessed.
- The size in pixels is read from the header and refused above MAX_PIXELS before a single
  pixel is decoded: a 30 KB PNG can declare 50 megapixels (a decompression bomb), and
  decoding it would take hundreds of megabytes.
- Every pixel is then decoded (`load`), with Pillow's LOAD_TRUNCATED_IMAGES off, so a
  truncated JPEG is refused instead of stored half grey.
- What is stored and served is a re-encoding of the decoded pixels (turned upright as the
  EXIF orientation says) with no metadata at all but a PNG's transparency and the colour
  profile: no EXIF (serial numbers, owner, maker notes, GPS), no XMP, no comments. The
  capture time and position are read from the EXIF first and kept as fields.
- A PDF must start with `%PDF-`; it is stored as received and only ever served as a
  download (`Content-Disposition: attachment`, `nosniff`), never rendered by this service.
"""

import hashlib
import io
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import InvalidInput
from app.evidence.models import MediaType
from app.imaging import strictly_decoded

MAX_PIXELS = 40_000_000
# Iraq keeps +03:00 all year: a DateTimeOriginal without OffsetTimeOriginal is read as
# local time there (where the phones are), not as UTC.
LOCAL_TIME = timezone(timedelta(hours=3))
JPEG_QUALITY = 90
WEBP_QUALITY = 90
FORMATS = {MediaType.jpeg: "JPEG", MediaType.png: "PNG", MediaType.webp: "WEBP"}
# EXIF tags (CIPA DC-008): the Exif and GPS sub-IFDs, and the entries read from them.
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
# A full decode of a 40-megapixel photo holds ~160 MB: at most this many at once per process.
_decoding = threading.BoundedSemaphore(2)

# Half a JPEG must never be accepted as a whole one (the module docstring; app/imaging.py
# keeps Pillow's LOAD_TRUNCATED_IMAGES off, and says why a decode may be run twice).


@dataclass(frozen=True)
class Prepared:
    """An upload that passed: what to store and what was read from it."""

    received_bytes: int
    stored: bytes
    width: int | None
    height: int | None
    captured_at: datetime | None
    captured_lat: float | None
    captured_lon: float | None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prepare(content_type: MediaType, data: bytes) -> Prepared:
    """The bytes to store for this upload, or InvalidInput (422) saying why not."""
    if not data:
        raise _refused("The body is empty: send the file's bytes as the request body.")
    if content_type == MediaType.pdf:
        if not data.startswith(b"%PDF-"):
            raise _refused("The body is not a PDF: it does not start with `%PDF-`.")
        return Prepared(len(data), data, None, None, None, None, None)
    return _prepare_image(content_type, data)


def _prepare_image(content_type: MediaType, data: bytes) -> Prepared:
    return strictly_decoded(lambda: _decoded(content_type, data))


def _decoded(content_type: MediaType, data: bytes) -> Prepared:
    expected = FORMATS[content_type]
    with _decoding:
        try:
            width, height = _header_size(data, expected)
            if width * height > MAX_PIXELS:
                raise _refused(
                    f"The image is {width}×{height} pixels ({width * height / 1e6:.1f} "
                    f"megapixels); at most {MAX_PIXELS // 1_000_000} megapixels are accepted."
                )
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                if getattr(image, "n_frames", 1) > 1:
                    raise _refused("Animated images are not accepted: send a single photo.")
                image.load()  # every pixel: a truncated or corrupt file fails here
                exif = image.getexif()
                captured_at = _captured_at(exif)
                lat, lon = _position(exif)
                stored, size = _stripped(image, expected)
        except InvalidInput:
            raise
        except Exception as exc:  # whatever a hostile file makes Pillow raise is a 422
            raise _refused(
                f"The body does not decode as {content_type.value}: {_reason(exc)}"
            ) from exc
    return Prepared(
        len(data),
        stored,
        size[0],
        size[1],
        captured_at,
        lat,
        lon,
    )


def _header_size(data: bytes, expected: str) -> tuple[int, int]:
    """The size the header declares, read without decoding a pixel (`Image.open` is lazy);
    `verify` then checks the file's structure (a PNG's chunk checksums) without decoding."""
    with Image.open(io.BytesIO(data), formats=[expected]) as image:
        if image.format != expected:
            raise _refused(f"The body is not {expected}.")
        size = image.size
        if size[0] * size[1] <= MAX_PIXELS:
            image.verify()
    return size


def _stripped(image: Image.Image, format_: str) -> tuple[bytes, tuple[int, int]]:
    """The decoded pixels, upright, re-encoded with no metadata but transparency and the
    colour profile (which describes colours, not the phone)."""
    clean = ImageOps.exif_transpose(image)  # a new image, whether turned or not
    clean.info = {key: clean.info[key] for key in ("transparency",) if key in clean.info}
    icc = image.info.get("icc_profile")
    options: dict[str, Any] = {"exif": b""}
    if icc:
        options["icc_profile"] = icc
    if format_ == "JPEG":
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        options.update(quality=JPEG_QUALITY)
    elif format_ == "WEBP":
        if clean.mode not in ("RGB", "RGBA"):
            clean = clean.convert("RGBA" if "A" in clean.mode else "RGB")
        options.update(quality=WEBP_QUALITY)
    out = io.BytesIO()
    clean.save(out, format=format_, **options)
    return out.getvalue(), clean.size


def _captured_at(exif: Image.Exif) -> datetime | None:
    """DateTimeOriginal (with OffsetTimeOriginal when the phone wrote it), in UTC; None
    when absent or unreadable — a bad date in a photo is not a reason to refuse it."""
    try:
        sub = exif.get_ifd(EXIF_IFD)
        raw = sub.get(DATETIME_ORIGINAL)
        if not isinstance(raw, str):
            return None
        taken = datetime.strptime(raw.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
        offset = sub.get(OFFSET_TIME_ORIGINAL)
        zone: timezone = LOCAL_TIME
        if isinstance(offset, str) and offset.strip("\x00 "):
            parsed = datetime.strptime(offset.strip("\x00 ").strip(), "%z").tzinfo
            if isinstance(parsed, timezone):
                zone = parsed
        if not 1990 <= taken.year <= 2100:
            return None
        return taken.replace(tzinfo=zone).astimezone(UTC)
    except Exception:  # any malformed tag: no capture time
        return None


def _position(exif: Image.Exif) -> tuple[float | None, float | None]:
    """The GPS block's latitude and longitude in degrees; (None, None) when absent or
    out of range."""
    try:
        gps = exif.get_ifd(GPS_IFD)
        if GPS_LAT not in gps or GPS_LON not in gps:
            return None, None
        lat = _degrees(gps[GPS_LAT], gps.get(GPS_LAT_REF), "S")
        lon = _degrees(gps[GPS_LON], gps.get(GPS_LON_REF), "W")
    except Exception:  # any malformed tag: no position
        return None, None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return round(lat, 7), round(lon, 7)


def _degrees(dms: Any, ref: Any, negative: str) -> float:
    degrees, minutes, seconds = (float(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative:
        value = -value
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):  # its message names an in-memory object
        return "not a readable file of that type"
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _refused(detail: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"loc": ["body"], "msg": detail, "type": "value_error"}])
