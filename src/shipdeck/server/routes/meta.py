"""`/api/version` and `/api/presets`: what upstream's frontend reads beside the data.

Its footer shows `GET /api/version`'s `version` (and `0.0.0-dev` when the call fails); its
preset menu lists `GET /api/presets`' items as read-only "provided" presets.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ... import __version__
from ...engine.presets import ProvidedPresets, provided_presets
from ..deps import EngineDep, ReadAccess
from ..openapi import problem_responses

router = APIRouter(tags=["meta"])


class VersionInfo(BaseModel):
    """`GET /api/version`."""

    version: str = Field(description="The server's version (shipdeck's package version).")


@router.get(
    "/api/version",
    operation_id="getVersion",
    summary="The server's version.",
    response_model=VersionInfo,
)
async def get_version() -> JSONResponse:
    """Open to everyone, as upstream's: a version is no secret and the footer of a signed-out
    page shows it too."""
    return JSONResponse({"version": __version__})


@router.get(
    "/api/presets",
    operation_id="getPresets",
    summary="Provided UI presets, from the engine's configuration (`[[presets]]`).",
    response_model=ProvidedPresets,
    responses=problem_responses(401),
    dependencies=[ReadAccess],
)
async def get_presets(request: Request, engine: EngineDep) -> Response:
    """Every configured preset, by source then name; `fetched_at` is when this server first
    served the catalog (the configuration is read once, at start)."""
    state = request.app.state
    body: bytes | None = getattr(state, "provided_presets", None)
    if body is None:
        catalog = provided_presets(engine.config.presets, engine.clock())
        body = catalog.model_dump_json().encode()
        state.provided_presets = body
    return Response(body, media_type="application/json")
