"""GET /bulletins/{YYYY-MM}: the month's bulletin, a PDF (default) or its HTML, for advocates
and admins (DESIGN.md, Contract v1.1)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.auth.dependencies import SettingsDep, require_roles
from app.auth.models import Role
from app.auth.principal import Principal
from app.bulletins import render, service
from app.db import utcnow
from app.errors import problem_responses
from app.languages import Language
from app.reports.dependencies import ReportsSessionDep

router = APIRouter(tags=["bulletins"])

ReaderDep = Annotated[Principal, Depends(require_roles(Role.advocate, Role.admin))]
DOCS = {
    **problem_responses(401, 403, 422, 503),
    200: {
        "description": "The bulletin: a PDF (`format=pdf`, the default) or its HTML.",
        "content": {"application/pdf": {}, "text/html": {}},
    },
}


@router.get("/bulletins/{month}", response_class=Response, responses=DOCS)
def bulletin(
    month: str,
    principal: ReaderDep,
    session: ReportsSessionDep,
    settings: SettingsDep,
    lang: Annotated[Language, Query(description="en (default), ar or ckb.")] = Language.en,
    fmt: Annotated[
        Literal["pdf", "html"], Query(alias="format", description="pdf (default) or html.")
    ] = "pdf",
) -> Response:
    """A finished UTC month (`2026-11`): the checkpoints ranked by delay, the biggest changes
    against the month before, the cases submitted, resolved and still open, and the policy
    changes with their measured effect. Figures as advocates get them, for everyone."""
    found = service.bulletin(session, settings, service.finished_month(month, utcnow()))
    document = render.html(found, lang)
    headers = {"Cache-Control": "private, no-cache"}
    if fmt == "html":
        headers["Content-Security-Policy"] = render.content_security_policy(document)
        return Response(document, media_type="text/html; charset=utf-8", headers=headers)
    name = f"bulletin-{found.month}-{lang.value}.pdf"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(render.pdf(document), media_type="application/pdf", headers=headers)
