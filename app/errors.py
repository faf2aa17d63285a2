"""Domain errors and their RFC 9457 `application/problem+json` rendering.

Services raise `AppError` subclasses; FastAPI's validation errors and Starlette's HTTP
errors are rendered by the same function, so every error a client sees has one shape.
"""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.observability import current_request_id

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("app.errors")


class AppError(Exception):
    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra


class NotFound(AppError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(AppError):
    status, title, slug = 409, "Conflict", "conflict"


class Forbidden(AppError):
    status, title, slug = 403, "Forbidden", "forbidden"


class Unauthorized(AppError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class InvalidInput(AppError):
    """Input that parses but breaks a rule the schema cannot express (unknown checkpoint …)."""

    status, title, slug = 422, "Invalid input", "validation-error"


class UnsupportedMediaType(AppError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class TooManyRequests(AppError):
    status, title, slug = 429, "Too many requests", "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, **kw)


class ProblemError(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemError] | None = None


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        # `input` and `ctx` can echo secrets (a password field) or unserialisable objects.
        out.append({"loc": list(err.get("loc", ())), "msg": err["msg"], "type": err["type"]})
    return out


_SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            title=exc.title,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else None
        where = ".".join(str(p) for p in first["loc"]) if first else "request"
        detail = f"{len(errors)} invalid field(s); first: {where}: {first['msg']}" if first else ""
        return problem_response(
            422,
            detail or "The request is invalid.",
            title="Invalid input",
            slug="validation-error",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # A NUL in text that reached PostgreSQL (which cannot store one) is the client's
        # input, not a fault: a 422, and the transaction it was in rolled back.
        if "0x00" not in str(exc.orig):
            raise exc
        return problem_response(
            422,
            "Text may not contain the NUL character (U+0000).",
            title="Invalid input",
            slug="validation-error",
            errors=[{"loc": ["request"], "msg": "contains U+0000", "type": "value_error"}],
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI says 400 for a body that is not UTF-8 (malformed JSON is already a 422):
            # both are an invalid body, and 422 is what every operation documents for that.
            return problem_response(
                422,
                "The request body is not valid UTF-8 JSON.",
                title="Invalid input",
                slug="validation-error",
                errors=[{"loc": ["body"], "msg": "not valid UTF-8", "type": "json_invalid"}],
                instance=request.url.path,
            )
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(
            exc.status_code,
            detail,
            slug=_SLUG_BY_STATUS.get(exc.status_code),
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Last resort: RequestMiddleware normally answers first, with the request id.
        logger.exception("unhandled error", extra={"path": request.url.path})
        return _internal_error(request.url.path)


def _internal_error(path: str) -> JSONResponse:
    return problem_response(
        500,
        "An unexpected error occurred. Quote the request id when reporting it.",
        slug="internal-error",
        instance=path,
    )


def unexpected_error(path: str) -> JSONResponse:
    """The answer to an exception nothing handled, called where it was caught: the trace
    goes to the log, the client gets a 500 problem with only the request id.

    observability.RequestMiddleware calls it while the request id is still set (Starlette
    runs the handler registered for `Exception` in its outermost middleware, after the id
    is gone: the 500 would carry neither the `request_id` member nor the `X-Request-ID`
    header, and the log line no id)."""
    logger.exception("unhandled error", extra={"path": path})
    return _internal_error(path)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries so the schema documents each problem a route returns."""
    # main.py rewrites every 4xx/5xx response's media type to problem+json.
    return {s: {"model": Problem, "description": HTTPStatus(s).phrase} for s in statuses}
