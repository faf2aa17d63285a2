"""gzip for every answer worth it: a client that sends `Accept-Encoding: gzip` gets any body
of `MINIMUM_BYTES` or more compressed, with `Vary: Accept-Encoding`, so phones on slow
networks fetch reports, pages and scripts at a fifth to a tenth of their size.

One pure ASGI middleware, installed inside `RequestMiddleware` (see `install`): a compressed
answer still gets the request id and the security headers, and the access log and metrics
still see its status. It does Starlette's GZipMiddleware's job for a fifth of its cost on
the answers that stay small (an event's 201, a 304, most problems): that one parses the
request's headers, builds a responder, normalises its list of media types and parses the
answer's headers for every request (5.5 µs of CPU alone, ~15 on the event path as measured),
where this one reads no header of a small answer (1.2 µs; bench/RESULTS.md, session 10). A
client that does not accept gzip costs one scan of the request's headers.

Left as they are: bodies already compressed (raster images, PDFs, spreadsheets, Parquet,
archives, fonts, audio, video), answers that set their own Content-Encoding, partial
content (206), answers with trailers, and server-sent events (compression would hold a
stream's events back). Every other answer is compressed, streamed ones chunk by chunk (a
static file goes out in 64 KiB chunks), each chunk flushed so that none waits for the next.
SVG is text and is compressed like any other. ETags are left as they are (strong): every
comparison here is the weak one (If-None-Match), and the bytes behind an ETag are the same
once decoded.
"""

import zlib

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_BYTES = 500  # below this, gzip's 18 bytes of framing and its CPU buy next to nothing
# zlib's own default. Level 9 (Starlette's) took 1.5–3 times the CPU for 0–2% fewer bytes on
# the OpenAPI JSON and the pages' scripts (bench/RESULTS.md, session 10), and this service
# compresses every report it sends.
LEVEL = 6
# A chunk this large is compressed on a worker thread (~12 µs a KiB at level 6), not on the
# event loop that every other request waits for.
THREAD_BYTES = 128 * 1024
ALREADY_COMPRESSED = frozenset(
    {
        "image/*",  # but SVG, below
        "audio/*",
        "video/*",
        "font/woff",
        "font/woff2",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/octet-stream",
        "application/vnd.apache.parquet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",  # XLSX: a zip
        "text/event-stream",
    }
)
TEXT_IMAGES = frozenset({"image/svg+xml"})
_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # zlib writes the gzip header and trailer


class GzipMiddleware:
    """Compresses an answer's body when the request accepts gzip and the body is worth it:
    the start of the answer is held until its first body part says how large it is."""

    def __init__(self, app: ASGIApp, *, minimum: int = MINIMUM_BYTES, level: int = LEVEL) -> None:
        self.app, self.minimum, self.level = app, minimum, level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _accepts_gzip(scope["headers"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        compressor = None

        async def compressing(message: Message) -> None:
            nonlocal held, compressor
            if message["type"] == "http.response.start":
                held = message  # until the first body part says whether to compress
                return
            if held is not None:
                start, held = held, None
                if message["type"] == "http.response.body" and self._worth_it(start, message):
                    compressor = zlib.compressobj(self.level, zlib.DEFLATED, _GZIP_WINDOW)
                    await _compress(compressor, message)
                    _mark_compressed(start, message)
                await send(start)
            elif compressor is not None and message["type"] == "http.response.body":
                await _compress(compressor, message)
            await send(message)

        await self.app(scope, receive, compressing)

    def _worth_it(self, start: Message, first: Message) -> bool:
        more = first.get("more_body", False)
        if not more and len(first.get("body", b"")) < self.minimum:
            return False  # the small answers, most of them: no header is read
        if start["status"] == 206 or start.get("trailers", False):
            return False
        media_type = b""
        for name, value in start.get("headers", ()):
            lowered = name.lower()
            if lowered == b"content-encoding":
                return False
            if lowered == b"content-type":
                media_type = value.partition(b";")[0].strip().lower()
        kind = media_type.decode("latin-1")
        if kind in TEXT_IMAGES:
            return True
        return not (
            kind in ALREADY_COMPRESSED or kind.partition("/")[0] + "/*" in ALREADY_COMPRESSED
        )


def _accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"accept-encoding":  # ASGI servers give header names in lower case
            return b"gzip" in value
    return False


async def _compress(compressor: "zlib._Compress", message: Message) -> None:
    """The body part, compressed in place; the last one closes the gzip stream."""
    body, more = message.get("body", b""), message.get("more_body", False)
    ending = zlib.Z_SYNC_FLUSH if more else zlib.Z_FINISH

    def work() -> bytes:
        return compressor.compress(body) + compressor.flush(ending)

    message["body"] = await anyio.to_thread.run_sync(work) if len(body) >= THREAD_BYTES else work()


def _mark_compressed(start: Message, first: Message) -> None:
    """The answer's headers for its compressed body: Content-Encoding, Vary, and the new
    Content-Length when the body is whole (a streamed one goes out chunked)."""
    headers = []
    vary = b""
    for name, value in start.get("headers", ()):
        lowered = name.lower()
        if lowered == b"content-length":
            continue
        if lowered == b"vary":
            vary = value if not vary else vary + b", " + value
            continue
        headers.append((name, value))
    if b"accept-encoding" not in vary.lower():
        vary = vary + b", Accept-Encoding" if vary else b"Accept-Encoding"
    headers += [(b"content-encoding", b"gzip"), (b"vary", vary)]
    if not first.get("more_body", False):
        headers.append((b"content-length", str(len(first["body"])).encode()))
    start["headers"] = headers


def install(app: FastAPI) -> None:
    """Add gzip to `app`. Call it before adding RequestMiddleware: the middleware added last
    runs outermost, and RequestMiddleware must wrap this one (see the module docstring)."""
    app.add_middleware(GzipMiddleware)
