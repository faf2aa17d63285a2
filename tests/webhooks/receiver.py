"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 that checks every
delivery's signature with the `standardwebhooks` library, answers as a test scripts it, and
processes each `webhook-id` once, as a receiver should (deliveries are at least once)."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    message_id: str
    headers: dict[str, str]
    body: dict[str, Any]


# What the receiver answers a verified delivery: (status, extra headers), or None to answer
# 200. It is given the delivery and how many times that webhook-id came before.
Script = Callable[[Delivery, int], tuple[int, dict[str, str]] | None]


@dataclass
class Receiver:
    secret: str
    script: Script | None = None
    # Every request, verified or not, in the order they came.
    requests: list[Delivery] = field(default_factory=list)
    bad_signatures: int = 0
    # Each webhook-id once, in the order first processed (what a deduplicating ERP keeps).
    processed: list[Delivery] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/clearance"

    def handle(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str]]:
        try:
            Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            with self._lock:
                self.bad_signatures += 1
            return 401, {}
        delivery = Delivery(headers["webhook-id"], headers, json.loads(raw))
        with self._lock:
            self.requests.append(delivery)
            before = self._seen.get(delivery.message_id, 0)
            self._seen[delivery.message_id] = before + 1
        answer = self.script(delivery, before) if self.script else None
        status, extra = answer if answer is not None else (200, {})
        if 200 <= status < 300:
            with self._lock:
                if before == 0 or all(p.message_id != delivery.message_id for p in self.processed):
                    self.processed.append(delivery)
        return status, extra

    def wait_for(self, count: int, seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.processed) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra = receiver.handle(headers, raw)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def raw_server(handler: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A server whose every POST is answered by `handler` (hangs, floods, redirects); its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            handler(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
