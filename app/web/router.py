"""The web pages (/dashboard, /driver, the public /live board): static HTML shells whose
scripts call the JSON API, every asset served here.

Pages and assets carry no inline script or style, so they work under a strict
Content-Security-Policy (`default-src 'self'`). The driver's page is an installable offline
app: a manifest and a service worker whose scope is /driver.
"""

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.auth.dependencies import PrincipalDep, SessionDep
from app.errors import Forbidden, problem_responses
from app.tracking import queries
from app.tracking.schemas import ShipmentDetail
from app.web.words import words_script

WEB = Path(str(files("app.web")))
STATIC = WEB / "static"
TEMPLATES = WEB / "templates"
ASSETS = "/static/web"

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["tracking"])


@cache
def _page(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


# The HTML shells change with a deploy only; the data comes from the API with its own
# credentials, so a page may be revalidated cheaply but never served stale after an update.
NO_STALE = {"Cache-Control": "no-cache"}


@pages.get("/dashboard")
def dashboard() -> HTMLResponse:
    return HTMLResponse(_page("dashboard.html"), headers=NO_STALE)


@pages.get("/live")
def live() -> HTMLResponse:
    """The public board: no login; its figures come from the public feed."""
    return HTMLResponse(_page("live.html"), headers=NO_STALE)


@pages.get("/driver")
def driver() -> HTMLResponse:
    return HTMLResponse(_page("driver.html"), headers=NO_STALE)


@pages.get("/driver/sw.js")
def driver_service_worker() -> FileResponse:
    """The service worker lives under /driver so that its scope may be /driver itself."""
    return FileResponse(
        STATIC / "driver-sw.js",
        media_type="text/javascript",
        headers={**NO_STALE, "Service-Worker-Allowed": "/driver"},
    )


@pages.get("/driver/manifest.webmanifest")
def driver_manifest() -> FileResponse:
    return FileResponse(
        STATIC / "driver.webmanifest", media_type="application/manifest+json", headers=NO_STALE
    )


@pages.get(f"{ASSETS}/words.js")
def words(request: Request) -> Response:
    """The shared words (provinces, procedures, hold reasons … in three languages), made from
    their Python definitions; revalidated by ETag like the files beside it."""
    body, etag = words_script()
    headers = {**NO_STALE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@pages.get("/")
def home() -> Response:
    return HTMLResponse(_page("index.html"), headers=NO_STALE)


@api.get(
    "/driver/shipment",
    response_model=ShipmentDetail,
    responses=problem_responses(401, 403, 404),
)
def driver_shipment(principal: PrincipalDep, session: SessionDep) -> ShipmentDetail:
    """The shipment of this driver link (a driver link only): what the driver's page opens
    with, since the link itself carries only the token. Without cargo values."""
    if principal.kind != "driver" or principal.shipment_id is None:
        raise Forbidden("This is for a driver link; use GET /shipments/{id}.")
    return queries.shipment_detail(session, principal=principal, shipment_id=principal.shipment_id)


def install(app: FastAPI, *, api_prefix: str) -> None:
    """Add the pages, their assets and the driver's API call to the app."""
    app.include_router(api, prefix=api_prefix)
    app.include_router(pages)  # before the mount: /static/web/words.js is made, not a file
    app.mount(ASSETS, StaticFiles(directory=str(STATIC)), name="web-assets")
