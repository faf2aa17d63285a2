"""Photos for the driver page's camera button: JPEGs that look like a paper receipt or notice,
made with Pillow (each one different), and what the page's file input is given."""

import io
import itertools
from typing import Any

from PIL import Image, ImageDraw

_serial = itertools.count(1)


def paper_jpeg(size: tuple[int, int] = (3000, 2000), label: str = "RECEIPT") -> bytes:
    """A photo as a phone camera takes it: a sheet of paper with lines of print on a dark
    desk, numbered so that no two are the same bytes."""
    number = next(_serial)
    width, height = size
    image = Image.new("RGB", size, (58, 52, 46))
    draw = ImageDraw.Draw(image)
    margin_x, margin_y = width // 6, height // 10
    draw.rectangle((margin_x, margin_y, width - margin_x, height - margin_y), fill=(246, 244, 236))
    line = max(8, height // 30)
    draw.rectangle(
        (margin_x + line, margin_y + line, width - margin_x - line, margin_y + 3 * line),
        fill=(40, 60, 120),
    )
    y = margin_y + 5 * line
    for row in range(12):
        length = (width - 2 * margin_x - 2 * line) * (0.45 + 0.5 * ((row * 7 + number) % 10) / 10)
        draw.rectangle(
            (margin_x + line, y, margin_x + line + int(length), y + line // 2), fill=(70, 70, 70)
        )
        y += line
    draw.text((margin_x + line, height - margin_y - 2 * line), f"{label} {number}", fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def chosen(data: bytes, name: str = "photo.jpg", mime: str = "image/jpeg") -> dict[str, Any]:
    """What Playwright's set_input_files gives the page's file input, as the camera would."""
    return {"name": name, "mimeType": mime, "buffer": data}
