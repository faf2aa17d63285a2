"""A phone's photo keeps what it proves (when and where it was taken) as fields, and is
stored and served without what identifies the phone (serial number, owner, maker notes,
and the EXIF block as a whole, GPS included)."""

import hashlib
import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from tests.evidence.helpers import (
    MAKER_NOTE,
    OWNER,
    SERIAL,
    Evidence,
    files_under,
    image_bytes,
    jpeg_with_exif,
    upload,
)
from tests.factories import API


def test_exif_capture_time_and_position_become_fields_and_the_rest_is_stripped(
    client: TestClient, evidence: Evidence, store: Path
) -> None:
    data = jpeg_with_exif()
    response = upload(client, evidence.url(), data, "image/jpeg", evidence.trip.driver)
    assert response.status_code == 201, response.text
    body = response.json()
    # 08:15:30 at +03:00 is 05:15:30 UTC; 35°22'48" N 44°21' E.
    assert body["captured_at"] == "2026-11-20T05:15:30Z"
    assert body["captured_lat"] == 35.38
    assert body["captured_lon"] == 44.35
    # The digest of the bytes as received, not of what is stored.
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["stored_sha256"] != body["sha256"]

    served = client.get(f"{API}/attachments/{body['id']}", headers=evidence.trip.exporter.headers)
    assert served.status_code == 200
    (path,) = files_under(store)
    for stored in (served.content, path.read_bytes()):
        for secret in (SERIAL.encode(), OWNER.encode(), MAKER_NOTE, b"PhoneMaker", b"PhoneModel"):
            assert secret not in stored
        assert b"Exif\x00\x00" not in stored
        with Image.open(io.BytesIO(stored)) as image:
            assert not image.getexif()
            assert image.size == (64, 48)
    listed = client.get(evidence.url(), headers=evidence.trip.driver).json()["items"]
    assert listed[0]["captured_at"] == "2026-11-20T05:15:30Z"


def test_a_photo_turned_by_its_exif_orientation_is_stored_upright(
    client: TestClient, evidence: Evidence
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    data = image_bytes("JPEG", size=(64, 48), exif=exif.tobytes())
    response = upload(client, evidence.url(), data, "image/jpeg", evidence.trip.driver)
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (48, 64)


def test_a_capture_time_without_an_offset_is_read_as_iraq_time(
    client: TestClient, evidence: Evidence
) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:11:20 12:00:00"
    data = image_bytes("JPEG", exif=exif.tobytes())
    response = upload(client, evidence.url(), data, "image/jpeg", evidence.trip.driver)
    assert response.status_code == 201, response.text
    assert response.json()["captured_at"] == "2026-11-20T09:00:00Z"
    assert response.json()["captured_lat"] is None


def test_a_malformed_capture_time_or_position_is_left_out_not_refused(
    client: TestClient, evidence: Evidence
) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "yesterday at noon"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (IFDRational(200), IFDRational(0), IFDRational(0))  # past the pole
    gps[3] = "E"
    gps[4] = (IFDRational(44), IFDRational(21))  # no seconds
    data = image_bytes("JPEG", exif=exif.tobytes())
    response = upload(client, evidence.url(), data, "image/jpeg", evidence.trip.driver)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["captured_at"], body["captured_lat"], body["captured_lon"]) == (None, None, None)


def test_png_text_chunks_are_not_kept(client: TestClient, evidence: Evidence) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Karwan Owner-Name")
    info.add_text("Comment", SERIAL)
    data = image_bytes("PNG", pnginfo=info)
    assert SERIAL.encode() in data
    response = upload(client, evidence.url(), data, "image/png", evidence.trip.driver)
    assert response.status_code == 201, response.text
    served = client.get(f"{API}/attachments/{response.json()['id']}", headers=evidence.trip.driver)
    assert SERIAL.encode() not in served.content
    assert OWNER.encode() not in served.content
