"""gzip for every answer worth it: a client that sends `Accept-Encoding: gzip` gets any body
of `MINIMUM_BYTES` or more compressed, with `Vary: Accept-Encoding`, so phones on slow
networks fetch reports, pages and scripts at a fifth to a tenth of their size.

Starlette's GZipMiddleware, pure ASGI, installed inside `RequestMiddleware` (see `install`):
a compressed answer still gets the request id and the security headers, and the access log
and metrics still see its status. A small answer (an event's 201, a 304, most problems) goes
out as it is; what it still pays, reading the request's headers and one wrapper around
`send`, is measured in bench/RESULTS.md, session 10.

Left as they are: bodies already compressed (raster images, PDFs, spreadsheets, Parquet,
archives, fonts, audio, video), answers that set their own Content-Encoding, partial
content (206), and server-sent events (compression would hold a stream's events back).
Every other answer is compressed, streamed ones chunk by chunk (a static file goes out in
64 KiB chunks, each flushed). SVG is text and is compressed like any other.
"""

from fastapi import FastAPI
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

MINIMUM_BYTES = 500  # below this, gzip's 18 bytes of framing and its CPU buy next to nothing
# zlib's own default. Level 9 (Starlette's) took 1.5–3 times the CPU for 0–2% fewer bytes on
# the OpenAPI JSON and the pages' scripts (bench/RESULTS.md, session 10), and this service
# compresses every report it sends.
LEVEL = 6
ALREADY_COMPRESSED = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,  # PNG, JPEG, WebP, GIF, AVIF, zip, gzip, woff, SSE …
    "image/heic",
    "image/jxl",
    "application/pdf",
    "application/octet-stream",
    "application/vnd.apache.parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",  # XLSX: a zip
)


def install(app: FastAPI) -> None:
    """Add gzip to `app`. Call it before adding RequestMiddleware: the middleware added last
    runs outermost, and RequestMiddleware must wrap this one (see the module docstring)."""
    app.add_middleware(
        GZipMiddleware,
        minimum_size=MINIMUM_BYTES,
        compresslevel=LEVEL,
        exclude_content_types=ALREADY_COMPRESSED,
    )
