"""Liveness and readiness for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.db import database_answers
from app.errors import problem_response, problem_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up. Does not touch the database."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz(request: Request) -> JSONResponse:
    """The database answers; 503 (problem+json) when it does not."""
    if not database_answers(request.app.state.engine):
        return problem_response(503, "The database is not reachable.", slug="not-ready")
    return JSONResponse({"status": "ready", "database": request.app.state.engine.dialect.name})
