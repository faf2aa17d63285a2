"""One attempt to deliver one message: a signed POST, within a time limit, to an address
checked at that moment.

The endpoint's host is resolved before every attempt and the connection goes to an address
that check returned (addresses.allowed_addresses), with the name kept for the Host header and
TLS: a DNS answer that turned private after registration (DNS rebinding) is refused, not
followed. Redirects are never followed either (a 3xx is a failed attempt): a public endpoint
could otherwise send us to a private one. The answer is read up to a limit and no further,
so a receiver answering with 100 MB costs us 64 KiB."""

import asyncio
import functools
import ipaddress
import ssl
from concurrent.futures import ThreadPoolExecutor
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


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's CA certificates, loaded once per process, at the first attempt: loading
    them costs more CPU than an attempt (httpx would load its own bundle for every client),
    and a server that never sends a webhook never pays it."""
    return ssl.create_default_context()


class Sender:
    """Makes attempts, each on a fresh connection within a hard time limit; any number of
    threads may use one Sender at once.

    Each attempt runs on an event loop of its own, under `asyncio.timeout`: httpx bounds each
    read, not the whole request, so a receiver sending its headers a byte every few seconds
    would otherwise hold an attempt (and a sender, and its lease) for hours. And each attempt
    opens its own connection: a pooled one is keyed by address only, so a connection whose
    certificate was checked for one host name would be reused for another name at the same
    address without a check."""

    def __init__(self, *, timeout: float, max_response_bytes: int, allow_private: bool) -> None:
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._allow_private = allow_private

    def post(self, url: str, headers: dict[str, str], body: str) -> Attempt:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the dispatcher's senders: no loop of their own
            return asyncio.run(self._post(url, headers, body))
        # A thread that runs an event loop already (a caller of `deliver_now` inside one):
        # the attempt's own loop runs on a thread beside it.
        with ThreadPoolExecutor(1, thread_name_prefix="webhook-attempt") as beside:
            return beside.submit(asyncio.run, self._post(url, headers, body)).result()

    async def _post(self, url: str, headers: dict[str, str], body: str) -> Attempt:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._attempt(url, headers, body)
        except TimeoutError:
            return Attempt(False, None, f"no answer within {self._timeout:g} s")
        except RefusedAddress as exc:
            return Attempt(False, None, f"refused: {exc}")
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500])

    async def _attempt(self, url: str, headers: dict[str, str], body: str) -> Attempt:
        # The resolver may block: on a thread, inside the attempt's time limit.
        target, host = await asyncio.to_thread(self._pinned, url)
        parts = urlsplit(url)
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        request_headers = {**headers, "content-type": "application/json", "host": host}
        async with (
            httpx.AsyncClient(
                follow_redirects=False,
                headers={"user-agent": USER_AGENT},
                trust_env=False,  # no proxy from the environment between us and the check
                timeout=httpx.Timeout(self._timeout),
                verify=_tls_context(),
            ) as client,
            client.stream(
                "POST",
                target,
                content=body.encode(),
                headers=request_headers,
                extensions=extensions,
            ) as response,
        ):
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= self._max_bytes:
                    break  # the rest is not read: the connection is closed with the client
            return self._outcome(response)

    def _pinned(self, url: str) -> tuple[str, str]:
        """The URL with its host replaced by an allowed address of it, and the Host header."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = allowed_addresses(host, port, allow_private=self._allow_private)[0]
        shown = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
        named = f"[{host}]" if ":" in host else host  # an IPv6 literal, bracketed again
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        header = f"{named}:{parts.port}" if parts.port else named
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), header

    @staticmethod
    def _outcome(response: httpx.Response) -> Attempt:
        code = response.status_code
        if 200 <= code < 300:
            return Attempt(True, code, None)
        if 300 <= code < 400:
            where = response.headers.get("location", "?")[:200]
            return Attempt(False, code, f"answered {code} (a redirect to {where}: not followed)")
        return Attempt(False, code, f"answered {code}")
