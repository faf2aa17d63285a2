"""Request ids, structured JSON logs, and each request's own work in one pure ASGI
middleware (its id, the body limit, headers, unexpected errors, metrics, access log)."""

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_logger = logging.getLogger("app.access")


def current_request_id() -> str | None:
    return _request_id.get()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


# Bearer secrets by their prefixes (device keys, driver links, API keys: app/auth/service.py,
# app/evidence/positions.py). A tracker sends its key in the query string (the OsmAnd
# protocol): the access log writes the path alone, and this filter masks any secret that
# still reaches a line (a message, an extra field, an exception's text).
_SECRET = re.compile(r"\b(trk|drv|cct)_[A-Za-z0-9_-]+")
_SEEN = re.compile(r"(?:trk|drv|cct)_")


def redact(text: str) -> str:
    return _SECRET.sub(r"\1_[redacted]", text)


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SEEN.search(message):
            record.msg, record.args = redact(message), None
        for key, value in record.__dict__.items():
            if isinstance(value, str) and key != "msg" and _SEEN.search(value):
                record.__dict__[key] = redact(value)
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if _SEEN.search(text):
                record.exc_info, record.exc_text = None, redact(text)
        return True


class _JsonLines(JsonFormatter):
    """python-json-logger's lines, the usual ones (a message and plain extra fields, such as
    every access log line) made without its general machinery: the same text, in about
    half the time. Anything else (an exception, a stack, a dict message, an extra value
    JSON does not know) goes through its own `format`, as does every line if it is given
    options this does not follow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._usual = not (
            self.defaults
            or self.static_fields
            or self.timestamp
            or self.rename_fields_keep_missing
            or self.json_indent is not None
            or not self.json_ensure_ascii
            or self.json_serializer is not json.dumps
        )
        self._named = [(key, self.rename_fields.get(key, key)) for key in self._required_fields]

    def format(self, record: logging.LogRecord) -> str:
        if (
            not self._usual
            or record.exc_info
            or record.exc_text
            or record.stack_info
            or isinstance(record.msg, dict)
        ):
            return super().format(record)
        fields = record.__dict__  # given `message` and `asctime`, as the library does
        fields["message"] = record.getMessage()
        fields["asctime"] = self.formatTime(record, self.datefmt)
        data = {name: fields.get(key) for key, name in self._named}
        skip, rename = self._skip_fields, self.rename_fields
        for key, value in fields.items():
            if key not in skip and not (isinstance(key, str) and key.startswith("_")):
                data[rename.get(key, key)] = value
        try:
            # The standard encoder (C, made once): the same text as the library's subclass,
            # whose only difference is how it encodes what JSON does not know.
            return self.prefix + json.dumps(data)
        except TypeError:
            return super().format(record)


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(_RedactSecrets())
    if as_json:
        handler.setFormatter(
            _JsonLines(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # Uvicorn's own access log would duplicate ours, without the request id.
    logging.getLogger("uvicorn.access").disabled = True


Observe = Callable[[Scope, int, float], None]  # the scope, the status, the seconds taken
Unexpected = Callable[[str], ASGIApp]  # the answer to an exception nothing handled, by path


class RequestMiddleware:
    """Each HTTP request's own work, in one pass (pure ASGI: one wrapper around `send`, at
    most one around `receive`, one clock), around the application:

    - its id: `X-Request-ID` kept when sane, else a new one; set for the logs while the
      request runs, and echoed in the answer's `X-Request-ID`;
    - the body limit: a body over its path's limit (`limits`, else `default_limit`) is a
      413 before the application reads it all, by its Content-Length or, for a streamed
      body that carries none, as it arrives. Raising Starlette's HTTPException from
      `receive` lets FastAPI's body parsing pass it through untouched, so the usual
      problem+json handler renders it;
    - `headers` on every answer, 500s included (the security headers), each unless the
      answer sets its own;
    - an exception nothing handled: `unexpected(path)` answers it (the 500 problem, with
      the request id; it logs the trace) unless the answer had started, when the server
      drops the connection;
    - when the request ends: `observe(scope, status, seconds)` (the metrics) and one
      access log line.

    It replaced five middlewares in a row (request id and log, metrics, unexpected errors,
    body limit, security headers), each wrapping `send` again: see bench/RESULTS.md,
    session 6.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: Mapping[bytes, bytes],
        default_limit: int,
        limits: Mapping[str, int],
        observe: Observe,
        unexpected: Unexpected,
        pattern_limits: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.headers = list(headers.items())
        self.names = frozenset(headers)
        self.default_limit = default_limit
        self.limits = dict(limits)
        # Paths with ids in them (an upload to one event): tried when no exact path matches.
        self.pattern_limits = tuple(pattern_limits)
        self.observe = observe
        self.unexpected = unexpected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = declared = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
            elif key == b"content-length":
                declared = value
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 0  # no answer yet
        extra = [(b"x-request-id", request_id.encode()), *self.headers]
        names = self.names

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers") or []
                if any(name.lower() in names for name, _ in headers):  # the answer's own
                    present = {name.lower() for name, _ in headers}
                    added = [header for header in extra if header[0] not in present]
                    added.insert(0, extra[0])  # the request id, always
                    message["headers"] = [*headers, *added]
                else:
                    message["headers"] = [*headers, *extra]
            await send(message)

        try:
            try:
                await self.app(scope, self._limited(scope, receive, declared), answer)
            except Exception:
                refusal = self.unexpected(scope["path"])  # logs the trace
                if status:
                    raise  # too late for a problem answer; the server drops the connection
                await refusal(scope, receive, answer)
        finally:
            seconds = time.perf_counter() - started
            status = status or 500
            self.observe(scope, status, seconds)
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            _request_id.reset(token)

    def _limited(self, scope: Scope, receive: Receive, declared: bytes | None) -> Receive:
        limit = self.limits.get(scope["path"]) or self._pattern_limit(scope["path"])
        if declared is not None and declared.isdigit():
            if int(declared) <= limit:
                # The server hands over no more than Content-Length bytes: nothing to count.
                return receive

            async def refuse() -> Message:
                raise _too_large(limit)

            return refuse
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        return counting

    def _pattern_limit(self, path: str) -> int:
        for pattern, limit in self.pattern_limits:
            if pattern.fullmatch(path):
                return limit
        return self.default_limit


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        413, f"The request body is larger than the {limit} bytes this endpoint accepts."
    )
