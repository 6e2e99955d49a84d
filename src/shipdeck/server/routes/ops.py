"""Probes: `/healthz` (the process is up) and `/readyz` (the store answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..deps import EngineDep
from ..problems import problem_response

router = APIRouter(tags=["ops"])


@router.get("/healthz", operation_id="liveness", summary="Liveness probe (process is up).")
async def healthz() -> JSONResponse:
    """Always `ok` while the process serves."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", operation_id="readiness", summary="Readiness probe.")
async def readyz(request: Request, engine: EngineDep) -> Response:
    """`200` once the database answers, else `503` with `Retry-After`."""
    if await engine.ready():
        return JSONResponse({"status": "ready", "checks": {"database": "ok"}})
    return problem_response(
        request,
        503,
        "unavailable",
        "Service unavailable",
        "the database does not answer",
        headers={"Retry-After": "1"},
    )
