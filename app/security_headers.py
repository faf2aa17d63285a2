"""Security headers on every response (added by observability.RequestMiddleware).

The web pages (`/dashboard`, `/driver`) load only the app's own files, so one strict policy
fits them and every API answer: scripts, styles, images and requests from this origin only,
never framed. Swagger UI at `/docs` starts itself with an inline script; rather than allow
inline scripts there, its pages carry their own policy (`policy_for_inline_scripts`, set by
the routes in main.py): the SHA-256 of exactly the inline scripts each one carries.
"""

import base64
import hashlib
import re

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
