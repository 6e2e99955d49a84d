"""`/api/matrix` and discovery: services and environments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ...domain import Matrix
from ..deps import EngineDep, ReadAccess
from ..openapi import problem_responses

router = APIRouter(dependencies=[ReadAccess])


class ItemList(BaseModel):
    """A list of identifiers."""

    items: list[str]


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    candidates = {tag.strip() for tag in header.split(",")}
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x" and W/"x".
    bare = etag.removeprefix("W/")
    return "*" in candidates or etag in candidates or bare in candidates


def _discovery(operation_id: str, summary: str) -> dict[str, Any]:
    """The route arguments of a discovery list (an `ItemList`)."""
    return {
        "tags": ["discovery"],
        "operation_id": operation_id,
        "summary": summary,
        "response_model": ItemList,
        "responses": problem_responses(401),
    }


@router.get(
    "/api/matrix",
    tags=["matrix"],
    operation_id="getMatrix",
    summary="Services × environments deployment matrix (denormalised).",
    response_model=Matrix,
    responses={**problem_responses(401), 304: {"description": "Unchanged since the ETag."}},
)
async def get_matrix(
    engine: EngineDep,
    service: Annotated[str | None, Query(description="Only this service's row.")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The matrix snapshot, with a weak ETag; `If-None-Match` answers `304` when unchanged."""
    document = await engine.matrix.document(service)
    headers = {"ETag": document.etag, "Cache-Control": "no-cache"}
    if _etag_matches(if_none_match, document.etag):
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type="application/json", headers=headers)


@router.get(
    "/api/services",
    **_discovery("listServices", "Distinct service identifiers derived from stored events."),
)
async def list_services(engine: EngineDep) -> JSONResponse:
    """Sorted service identifiers."""
    return JSONResponse({"items": await engine.deployments.services()})


@router.get(
    "/api/environments",
    **_discovery("listEnvironments", "Environment identifiers in the engine's order."),
)
async def list_environments(engine: EngineDep) -> JSONResponse:
    """Configured environments first, then the conventional order, then by name."""
    return JSONResponse({"items": await engine.deployments.environments()})
