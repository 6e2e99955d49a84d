"""`/api/matrix`, its index `/api/matrix/services`, and discovery: services, environments.

At 10,000 services a client reads the index (every service with its last change, no slot
bodies) and then only the rows on screen (`/api/matrix?services=a&services=b`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ...domain import Matrix
from ...engine.matrix import MatrixQuery
from ...engine.matrix_index import CURSOR_PATTERN, MAX_LIMIT, MAX_QUERY, MAX_WINDOW, Sort
from ..deps import EngineDep, ReadAccess
from ..openapi import problem_responses, schema_ref

router = APIRouter(dependencies=[ReadAccess])


class MatrixPage(Matrix):
    """`Matrix` when paged (`limit` or `cursor` given): also `total` and `next_cursor`."""

    total: int | None = Field(
        default=None, description="Services matching the filters, over every page."
    )
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page; `null` on the last."
    )


class ServiceChange(BaseModel):
    """A service of the index and its last change."""

    service: str
    last_change: datetime | None = Field(
        description="The newest `happened_at` of any of its slots' `current` or `next` row."
    )


class MatrixServices(BaseModel):
    """The matrix's index: every service (matching `q`) with its last change, no slots."""

    generated_at: datetime
    seq: int = Field(description="The event position the body reflects at least.")
    environments: list[str] = Field(description="In engine order, as `/api/matrix` says.")
    total: int = Field(description="Services matching `q`, over every page.")
    counts: dict[str, dict[str, int]] = Field(
        description="Per environment, per current status: how many of those services' slots"
        " (only the numbers that are not zero)."
    )
    services: list[ServiceChange]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` for the next page; `null` on the last."
    )


_UNCHANGED: dict[int | str, dict[str, Any]] = {304: {"description": "Unchanged since the ETag."}}
_SORT = Query(description="`name`, or `change`: newest last change first, ties by name.")
_Q = Query(
    max_length=MAX_QUERY,
    description="Only services whose name contains it, or its characters in order"
    " (`chkapi` finds `checkout-api`); case-insensitive.",
)
_LIMIT = Query(ge=1, le=MAX_LIMIT, description="At most this many services (absent: all).")
_CURSOR = Query(
    pattern=CURSOR_PATTERN,
    description="Opaque: a `next_cursor` this server issued (anything else: `422`).",
)


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
    response_model=None,  # the 200 below: `Matrix`, or `MatrixPage` when paged
    responses={
        200: {
            "description": "The matrix; with `limit` or `cursor`, a `MatrixPage`.",
            "content": {
                "application/json": {
                    "schema": {"anyOf": [schema_ref(Matrix), schema_ref(MatrixPage)]}
                }
            },
        },
        **problem_responses(401, 422),
        **_UNCHANGED,
    },
)
async def get_matrix(
    engine: EngineDep,
    service: Annotated[str | None, Query(description="Only this service's row.")] = None,
    services: Annotated[
        list[str] | None,
        Query(
            max_length=MAX_WINDOW,
            description="Only these services' rows, by name (repeat it: `services=a&services=b`;"
            f" at most {MAX_WINDOW}); services with no row are left out (additive).",
        ),
    ] = None,
    sort: Annotated[Sort | None, _SORT] = None,
    q: Annotated[str | None, _Q] = None,
    limit: Annotated[int | None, _LIMIT] = None,
    cursor: Annotated[str | None, _CURSOR] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The matrix snapshot, with a weak ETag; `If-None-Match` answers `304` when unchanged.

    Every other parameter is additive: absent, the body is the contract's as it always was.
    """
    query = MatrixQuery(
        service, None if services is None else tuple(services), sort, q, limit, cursor
    )
    document = await engine.matrix.select(query)
    return _answer(document.body, document.etag, if_none_match)


@router.get(
    "/api/matrix/services",
    tags=["matrix"],
    operation_id="getMatrixServices",
    summary="The matrix's index: every service and its last change, without slots.",
    response_model=MatrixServices,
    responses={**problem_responses(401, 422), **_UNCHANGED},
)
async def get_matrix_services(
    engine: EngineDep,
    sort: Annotated[Sort, _SORT] = "name",
    q: Annotated[str | None, _Q] = None,
    limit: Annotated[int | None, _LIMIT] = None,
    cursor: Annotated[str | None, _CURSOR] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """Services in `sort` order, a page at a time, with their slots' statuses counted; weak
    ETag and `304` as `/api/matrix`."""
    document = await engine.matrix.index(sort, q, limit, cursor)
    return _answer(document.body, document.etag, if_none_match)


def _answer(body: bytes, etag: str, if_none_match: str | None) -> Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/api/services",
    **_discovery("listServices", "Distinct service identifiers derived from stored events."),
)
async def list_services(engine: EngineDep) -> JSONResponse:
    """Sorted service identifiers (those excluded by configuration left out)."""
    return JSONResponse({"items": await engine.deployments.services()})


@router.get(
    "/api/environments",
    **_discovery("listEnvironments", "Environment identifiers in the engine's order."),
)
async def list_environments(engine: EngineDep) -> JSONResponse:
    """Configured environments first, then the conventional order, then by name."""
    return JSONResponse({"items": await engine.deployments.environments()})
