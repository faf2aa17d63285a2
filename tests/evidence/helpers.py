"""Shared pieces of the evidence tests: files made with Pillow, a trip with events to attach
to, and what is on disk and in the database."""

import io
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.evidence.models import Attachment
from tests.factories import API
from tests.tracking.helpers import FEE, Trip, event, make_trip, post_event

SERIAL = "SERIAL-4F7A-99812"
OWNER = "Karwan Owner-Name"
MAKER_NOTE = b"MAKERNOTE-SECRET-0xDEADBEEF"
# A minimal PDF that runs JavaScript when opened in a reader that allows it.
PDF_WITH_JS = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"3 0 obj << /S /JavaScript /JS (app.alert('pwned')) >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def image_bytes(format_: str, size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A small photo-like image (random pixels: every call gives other bytes)."""
    rng = random.Random()
    image = Image.new("RGB", size)
    image.putdata([(rng.randrange(256), rng.randrange(256), 90) for _ in range(size[0] * size[1])])
    out = io.BytesIO()
    image.save(out, format=format_, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A JPEG as a phone writes it: maker, model, body serial number, owner, maker note,
    DateTimeOriginal 2026-11-20 08:15:30 +03:00 and a GPS fix near Kirkuk."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "PhoneModel X"
    sub = exif.get_ifd(0x8769)
    sub[0xA431] = SERIAL  # BodySerialNumber
    sub[0xA430] = OWNER  # CameraOwnerName
    sub[0x927C] = MAKER_NOTE  # MakerNote
    sub[0x9003] = "2026:11:20 08:15:30"  # DateTimeOriginal
    sub[0x9011] = "+03:00"  # OffsetTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (IFDRational(35), IFDRational(22), IFDRational(48))
    gps[3] = "E"
    gps[4] = (IFDRational(44), IFDRational(21), IFDRational(0))
    data = image_bytes("JPEG", exif=exif.tobytes())
    for secret in (SERIAL.encode(), OWNER.encode(), MAKER_NOTE):
        assert secret in data
    return data


def png_bomb() -> bytes:
    """50 megapixels of one colour: a few tens of kilobytes that would decode to 50 MB."""
    out = io.BytesIO()
    Image.new("L", (10_000, 5_000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@dataclass
class Evidence:
    """A trip with a fee_paid event (a receipt to photograph) and a held one."""

    trip: Trip
    fee_event: str
    held_event: str

    @property
    def shipment_id(self) -> str:
        return self.trip.id

    def url(self, event_id: str | None = None, shipment_id: str | None = None) -> str:
        shipment = shipment_id or self.shipment_id
        return f"{API}/shipments/{shipment}/events/{event_id or self.fee_event}/attachments"


def make_evidence(client: TestClient) -> Evidence:
    trip = make_trip(client)
    events = [
        event("departed", 0),
        event("arrived", 60, checkpoint_id=trip.a),
        event("fee_paid", 85, fee=FEE),
        event("held", 90, hold_reason="missing_document"),
    ]
    for body in events:
        response = post_event(client, trip.id, body, trip.driver)
        assert response.status_code == 201, response.text
    return Evidence(trip, events[2]["event_id"], events[3]["event_id"])


def upload(
    client: TestClient,
    url: str,
    data: bytes,
    content_type: str,
    headers: dict[str, str],
    kind: str = "receipt",
    **extra_headers: str,
) -> httpx.Response:
    return client.post(
        url,
        params={"kind": kind},
        content=data,
        headers={**headers, "Content-Type": content_type, **extra_headers},
    )


def files_under(root: Path) -> set[Path]:
    """Every file below `root`, hidden temporary files included."""
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def attachment_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Attachment)) or 0)


def random_event_id() -> str:
    return str(uuid.uuid4())
