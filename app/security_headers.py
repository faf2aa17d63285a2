"""Security headers on every response (pure ASGI middleware).

The web pages (`/dashboard`, `/driver`) load only the app's own files, so one strict policy
fits them and every API answer: scripts, styles, images and requests from this origin only,
never framed. Swagger UI at `/docs` starts itself with an inline script; rather than allow
inline scripts there, its answer gets the SHA-256 of exactly the inline scripts it carries.
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The driver's page may attach the phone's position to an event; nothing else is needed.
PERMISSIONS_POLICY = (
    "geolocation=(self), camera=(), microphone=(), payment=(), usb=(), "
    "accelerometer=(), gyroscope=(), magnetometer=(), interest-cohort=()"
)
HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"permissions-policy": PERMISSIONS_POLICY.encode(),
    b"cross-origin-opener-policy": b"same-origin",
}
INLINE_SCRIPT_PAGES = frozenset({"/docs", "/docs/oauth2-redirect"})
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def policy_for_inline_scripts(html: bytes) -> str:
    """The strict policy, plus the hash of each inline script in this page (and inline
    styles, which Swagger UI sets on its elements)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return CONTENT_SECURITY_POLICY.replace(
        "script-src 'self'", f"script-src 'self' {hashes}".rstrip()
    ).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in INLINE_SCRIPT_PAGES:
            await self._hashed_page(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_headers(message.get("headers", []), HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _hashed_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A small HTML page: hold it whole, hash its inline scripts, then send it.
        start: Message | None = None
        body = bytearray()

        async def buffering_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                policy = policy_for_inline_scripts(bytes(body))
                headers = {**HEADERS, b"content-security-policy": policy.encode()}
                start["headers"] = _with_headers(start.get("headers", []), headers)
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, buffering_send)


def _with_headers(
    existing: list[tuple[bytes, bytes]], wanted: dict[bytes, bytes]
) -> list[tuple[bytes, bytes]]:
    """Adds each header the response does not set itself (a route may choose its own)."""
    present = {name.lower() for name, _ in existing}
    return [*existing, *((k, v) for k, v in wanted.items() if k not in present)]
