"""One attempt to deliver one message: a signed POST, within a time limit, to an address
checked at that moment.

The endpoint's host is resolved before every attempt and the connection goes to an address
that check returned (addresses.allowed_addresses), with the name kept for the Host header and
TLS: a DNS answer that turned private after registration (DNS rebinding) is refused, not
followed. Redirects are never followed either (a 3xx is a failed attempt): a public endpoint
could otherwise send us to a private one. The answer is read up to a limit and no further,
so a receiver answering with 100 MB costs us 64 KiB."""

import ipaddress
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook

from app.webhooks.addresses import RefusedAddress, allowed_addresses

USER_AGENT = "checkpoint-clearance-tracker-webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to: `status_code` None when no answer was had at all."""

    succeeded: bool
    status_code: int | None
    error: str | None

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver says the endpoint no longer exists."""
        return self.status_code == 410


def signature_headers(
    message_id: str, body: str, secrets: list[str], at: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers: one signature per secret (during a rotation, the new
    secret's and the old one's), signed by the `standardwebhooks` library."""
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


class Sender:
    """Makes attempts; one per thread at a time is fine (httpx clients are thread-safe)."""

    def __init__(self, *, timeout: float, max_response_bytes: int, allow_private: bool) -> None:
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._allow_private = allow_private
        self._client: httpx.Client | None = None  # made at the first attempt (its TLS setup)
        self._making = threading.Lock()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _http(self) -> httpx.Client:
        with self._making:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self._timeout),
                    follow_redirects=False,
                    headers={"user-agent": USER_AGENT},
                    # No proxy from the environment between us and the address check.
                    trust_env=False,
                )
            return self._client

    def post(self, url: str, headers: dict[str, str], body: str) -> Attempt:
        try:
            target, host = self._pinned(url)
        except RefusedAddress as exc:
            return Attempt(False, None, f"refused: {exc}")
        request_headers = {**headers, "content-type": "application/json", "host": host}
        parts = urlsplit(url)
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        started = time.monotonic()
        try:
            with self._http().stream(
                "POST",
                target,
                content=body.encode(),
                headers=request_headers,
                extensions=extensions,
            ) as response:
                self._drain(response, started)
                return self._outcome(response)
        except httpx.TimeoutException:
            return Attempt(False, None, f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500])

    def _pinned(self, url: str) -> tuple[str, str]:
        """The URL with its host replaced by an allowed address of it, and the Host header."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = allowed_addresses(host, port, allow_private=self._allow_private)[0]
        shown = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        header = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), header

    def _drain(self, response: httpx.Response, started: float) -> None:
        """Reads the answer up to the byte limit and the attempt's time limit, and no more."""
        read = 0
        for chunk in response.iter_raw():
            read += len(chunk)
            if read >= self._max_bytes or time.monotonic() - started > self._timeout:
                break

    @staticmethod
    def _outcome(response: httpx.Response) -> Attempt:
        code = response.status_code
        if 200 <= code < 300:
            return Attempt(True, code, None)
        if 300 <= code < 400:
            where = response.headers.get("location", "?")[:200]
            return Attempt(False, code, f"answered {code} (a redirect to {where}: not followed)")
        return Attempt(False, code, f"answered {code}")
