"""`/api/fetcher/state/{adapter}`: an adapter's opaque cursor (the one upsert)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ...domain import FetcherState, FetcherStateUpsert, Role
from ...engine import Principal
from ..auth import Change, authorized
from ..deps import EngineDep, read_body, require_role, too_large
from ..openapi import API_KEY, body_schema, links, problem_responses
from ..problems import pointer_errors, validation_problem

router = APIRouter(tags=["fetcher"], dependencies=[require_role(Role.REPORTER)])

CURSOR_LIMIT = 8 * 1024
# Room for the JSON around an 8 KiB cursor whose characters are all escaped.
BODY_LIMIT = 6 * CURSOR_LIMIT + 1024

Adapter = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="Adapter id.")]


async def _adapter(adapter: Adapter) -> str:
    return adapter


Writer = Annotated[Principal, authorized(Change.PUT_FETCHER_STATE, _adapter, role=Role.REPORTER)]


@router.get(
    "/api/fetcher/state/{adapter}",
    operation_id="getFetcherState",
    summary="Read the opaque cursor for a fetcher adapter.",
    response_model=FetcherState,
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra={"security": API_KEY},
)
async def get_fetcher_state(adapter: Adapter, engine: EngineDep) -> Response:
    """The stored cursor, `404` before the first `PUT`."""
    state = await engine.fetchers.get(adapter)
    return Response(state.model_dump_json(), media_type="application/json")


@router.put(
    "/api/fetcher/state/{adapter}",
    status_code=204,
    operation_id="putFetcherState",
    summary="Upsert the opaque cursor for a fetcher adapter.",
    responses={
        204: {"links": links("adapter", "$request.path.adapter", ["getFetcherState"])},
        **problem_responses(401, 403, 408, 413, 422, 429),
    },
    openapi_extra={**body_schema(FetcherStateUpsert), "security": API_KEY},
)
async def put_fetcher_state(
    adapter: Adapter, request: Request, engine: EngineDep, _: Writer
) -> Response:
    """Store the cursor verbatim (max 8 KiB; latest write wins)."""
    raw = await read_body(request, BODY_LIMIT)
    try:
        body = FetcherStateUpsert.model_validate_json(raw or b"null")
    except ValidationError as exc:
        return validation_problem(request, pointer_errors(exc.errors()))
    if len(body.cursor.encode()) > CURSOR_LIMIT:
        raise too_large(CURSOR_LIMIT, "the cursor")
    await engine.fetchers.put(adapter, body.cursor)
    return Response(status_code=204)
