"""Probes: `/healthz` (the process is up), `/readyz` (the store answers), `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..deps import EngineDep, ReadAccess
from ..metrics import metrics_text
from ..openapi import problem_responses
from ..problems import problem_response

router = APIRouter(tags=["ops"])


@router.get("/healthz", operation_id="liveness", summary="Liveness probe (process is up).")
async def healthz() -> JSONResponse:
    """Always `ok` while the process serves."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    operation_id="readiness",
    summary="Readiness probe.",
    responses=problem_responses(503),
)
async def readyz(request: Request, engine: EngineDep) -> Response:
    """`200` once the database answers, else `503` with `Retry-After`."""
    if await engine.ready():
        return JSONResponse(
            {"status": "ready", "replica": engine.replica, "checks": {"database": "ok"}}
        )
    return problem_response(
        request,
        503,
        "unavailable",
        "Service unavailable",
        "the database does not answer",
        headers={"Retry-After": "1"},
    )


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics (text format).",
    dependencies=[ReadAccess],
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(engine: EngineDep) -> Response:
    """Event head, subscribers, log followers, running deployments, tasks, process."""
    return Response(metrics_text(engine), media_type="text/plain; version=0.0.4; charset=utf-8")
