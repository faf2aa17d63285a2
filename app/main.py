"""create_app(): routers, middleware, error handlers — nothing else."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app import collector, compression, health, metrics
from app.auth.passwords import Passwords
from app.auth.router import router as auth_router
from app.auth.throttle import build_login_throttle
from app.bulletins.router import router as bulletins_router
from app.cases.router import router as cases_router
from app.checkpoints.router import router as checkpoints_router
from app.config import Settings, get_settings
from app.db import create_db_engine, create_reports_engine, make_session_factory
from app.errors import PROBLEM_JSON, install_error_handlers, unexpected_error
from app.evidence.router import router as evidence_router
from app.observability import RequestMiddleware, configure_logging
from app.organizations import service as organizations
from app.organizations.router import router as organizations_router
from app.policies import service as policies
from app.policies.router import router as policies_router
from app.public.feed import FeedCache
from app.public.http import build_public_rate_limit
from app.public.router import router as public_router
from app.reports.rollups import Refresher
from app.reports.router import router as reports_router
from app.security_headers import HEADERS as SECURITY_HEADERS
from app.security_headers import policy_for_inline_scripts
from app.shipments.router import router as shipments_router
from app.tracking.router import router as tracking_router
from app.tracking.writer import EventWriter
from app.web import router as web
from app.web.assets import Assets
from app.webhooks import outbox
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.router import router as webhooks_router

API_PREFIX = "/api/v1"
DOCS_ASSETS = "/static/docs"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    collector.space_out_collections()  # app/collector.py says why
    engine = create_db_engine(settings)
    reports_engine = create_reports_engine(settings)  # None: the reports read the primary

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_bootstrap_admin, app)
        refresher = None
        if settings.rollup_refresh_seconds:
            # Keeps the reports' day cells current (reports/rollups.py); on the primary.
            refresher = Refresher(app.state.session_factory, settings.rollup_refresh_seconds)
            refresher.start()
        dispatcher = app.state.webhook_dispatcher
        if dispatcher is not None:
            dispatcher.start()
        yield
        if refresher is not None:
            refresher.close()
        app.state.event_writer.close()
        if dispatcher is not None:
            dispatcher.close()
        engine.dispose()
        if reports_engine is not None:
            reports_engine.dispose()

    app = FastAPI(
        title="Checkpoint clearance tracker",
        version="1.0.0",
        description="Shipments from the Kurdistan Region through Iraq's checkpoints: "
        "every stop, procedure, fee, hold and delay, as evidence.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    # Reports, exports, the live status (and the public feed) read here: the replica when
    # REPORTS_DATABASE_URL is set, else the primary; never a write (reports/dependencies.py).
    app.state.reports_session_factory = make_session_factory(
        reports_engine or engine, read_only=True
    )
    app.state.passwords = Passwords(settings)
    # Webhooks: each event batch writes the messages it owes in its own transaction (the
    # outbox); this process sends them unless WEBHOOK_DISPATCHER=external.
    dispatcher = None
    if settings.webhook_dispatcher == "internal":
        dispatcher = Dispatcher(app.state.session_factory, settings)
    app.state.webhook_dispatcher = dispatcher
    app.state.event_writer = EventWriter(
        app.state.session_factory,
        settings,
        after_write=outbox.write_messages,
        on_messages=dispatcher.wake if dispatcher is not None else None,
    )
    # Failed sign-ins, counted for all workers: in Redis when REDIS_URL is set, else the database.
    app.state.login_throttle = build_login_throttle(settings, app.state.session_factory)
    # Requests to the public board per client address (app/public/http.py).
    app.state.public_rate_limit = build_public_rate_limit(settings)
    # The public feed, computed at most once a minute per worker (app/public/feed.py).
    app.state.public_feed = FeedCache(app.state.reports_session_factory)
    # The trends mark the policy changes in their window (reports cannot import policies).
    app.state.trend_markers = policies.trend_markers

    install_error_handlers(app)
    compression.install(app)  # first, so that RequestMiddleware wraps it
    # Every request's own work, in one pass: its id, the body limit, the security headers,
    # unexpected errors (a 500 problem with the id), the metrics and the access log.
    app.add_middleware(
        RequestMiddleware,
        headers=SECURITY_HEADERS,
        default_limit=settings.max_body_bytes,
        # Bulk endpoints: a CSV file, and a phone's full offline queue (1,000 events with notes).
        limits={
            f"{API_PREFIX}/shipments/import": settings.max_import_bytes,
            f"{API_PREFIX}/sync": settings.max_import_bytes,
        },
        observe=metrics.install(app, prefix=API_PREFIX).observe,
        unexpected=unexpected_error,
        # A photo or PDF attached to an event (evidence/router.py).
        pattern_limits=[
            (
                re.compile(rf"{API_PREFIX}/shipments/[^/]+/events/[^/]+/attachments"),
                settings.max_attachment_bytes,
            )
        ],
    )

    # Tracking first: FastAPI tries routes in order, and its event POST is the hot path
    # (drivers' phones), so it is matched before anything else (its paths overlap no other
    # router's). Reports before checkpoints: /checkpoints/status must win over
    # /checkpoints/{checkpoint_id}.
    routers = (
        tracking_router,
        reports_router,
        auth_router,
        organizations_router,
        checkpoints_router,
        shipments_router,
        evidence_router,
        cases_router,
        policies_router,
        bulletins_router,
        public_router,
        webhooks_router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    web.install(app, api_prefix=API_PREFIX)
    _mount_docs(app)
    app.openapi = lambda: _openapi_with_problems(app)  # type: ignore[method-assign]
    return app


def _bootstrap_admin(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    if not (settings.bootstrap_admin_email and settings.bootstrap_admin_password):
        return
    with app.state.session_factory() as session:
        organizations.ensure_admin(
            session,
            passwords=app.state.passwords,
            email=settings.bootstrap_admin_email,
            password=settings.bootstrap_admin_password,
        )


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from files shipped in a Python package: /docs works on a closed network."""
    app.mount(
        DOCS_ASSETS,
        # Plain names, revalidated by ETag (app/web/assets.py): FastAPI's page names them.
        Assets(Path(str(files("fastapi_offline") / "static")), prefix=DOCS_ASSETS),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _own_inline_scripts(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="Checkpoint clearance tracker — API",
                oauth2_redirect_url="/docs/oauth2-redirect",
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
                swagger_ui_parameters={"persistAuthorization": True},
            )
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _own_inline_scripts(get_swagger_ui_oauth2_redirect_html())


def _own_inline_scripts(page: HTMLResponse) -> HTMLResponse:
    """Swagger UI starts from inline scripts: its pages allow exactly those (their hashes),
    in a policy of their own that the security headers then leave as it is."""
    page.headers["content-security-policy"] = policy_for_inline_scripts(bytes(page.body))
    return page


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents errors as application/json; ours are application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": problem_ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
