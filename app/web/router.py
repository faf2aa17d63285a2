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
from fastapi.responses import Response

from app import privacy
from app.auth.dependencies import PrincipalDep, SessionDep, SettingsDep
from app.errors import Forbidden, problem_responses
from app.tracking import queries
from app.tracking.schemas import ShipmentDetail
from app.web.assets import Assets, Generated, etag_matches, fingerprint
from app.web.words import words_script

WEB = Path(str(files("app.web")))
STATIC = WEB / "static"
TEMPLATES = WEB / "templates"
ASSETS = "/static/web"

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["tracking"])


@cache
def web_assets() -> Assets:
    """The pages' assets: the files of static/ and words.js, made from the Python words."""
    words = Generated(words_script(), media_type="text/javascript; charset=utf-8")
    return Assets(STATIC, prefix=ASSETS, generated={"words.js": words})


@cache
def _shell(path: Path) -> tuple[str, str]:
    """A page, the manifest or the service worker, its assets named by their fingerprinted
    URLs (app/web/assets.py), and its ETag."""
    text = web_assets().with_asset_urls(path.read_text(encoding="utf-8"))
    return text, f'"{fingerprint(text.encode())}"'


# The shells change with a deploy only, and so do the URLs of their assets; the data comes
# from the API with its own credentials. So a shell is revalidated by its ETag (a 304, a few
# hundred bytes) and never served stale after an update.
NO_STALE = {"Cache-Control": "no-cache"}


def _answer(
    request: Request, path: Path, media_type: str, extra: dict[str, str] | None = None
) -> Response:
    text, etag = _shell(path)
    headers = {**NO_STALE, "ETag": etag, **(extra or {})}
    if etag_matches(request.headers, etag):
        return Response(status_code=304, headers=headers)
    return Response(text, media_type=media_type, headers=headers)


@pages.get("/dashboard")
def dashboard(request: Request) -> Response:
    return _answer(request, TEMPLATES / "dashboard.html", "text/html; charset=utf-8")


@pages.get("/live")
def live(request: Request) -> Response:
    """The public board: no login; its figures come from the public feed."""
    return _answer(request, TEMPLATES / "live.html", "text/html; charset=utf-8")


@pages.get("/driver")
def driver(request: Request) -> Response:
    return _answer(request, TEMPLATES / "driver.html", "text/html; charset=utf-8")


@pages.get("/driver/sw.js")
def driver_service_worker(request: Request) -> Response:
    """The service worker lives under /driver so that its scope may be /driver itself. Its
    list of the files it keeps offline names them by their fingerprinted URLs: a deploy that
    changes one changes the worker, and the browser installs the new one."""
    return _answer(
        request, STATIC / "driver-sw.js", "text/javascript", {"Service-Worker-Allowed": "/driver"}
    )


@pages.get("/driver/manifest.webmanifest")
def driver_manifest(request: Request) -> Response:
    return _answer(request, STATIC / "driver.webmanifest", "application/manifest+json")


@pages.get("/")
def home(request: Request) -> Response:
    return _answer(request, TEMPLATES / "index.html", "text/html; charset=utf-8")


@api.get(
    "/driver/shipment",
    response_model=ShipmentDetail,
    responses=problem_responses(401, 403, 404),
)
def driver_shipment(
    principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> ShipmentDetail:
    """The shipment of this driver link (a driver link only): what the driver's page opens
    with, since the link itself carries only the token. Without cargo values."""
    if principal.kind != "driver" or principal.shipment_id is None:
        raise Forbidden("This is for a driver link; use GET /shipments/{id}.")
    return queries.shipment_detail(
        session,
        principal=principal,
        shipment_id=principal.shipment_id,
        thresholds=privacy.thresholds_of(settings),
    )


def install(app: FastAPI, *, api_prefix: str) -> None:
    """Add the pages, their assets and the driver's API call to the app."""
    app.include_router(api, prefix=api_prefix)
    app.include_router(pages)
    app.mount(ASSETS, web_assets(), name="web-assets")
