"""`/api/deployments`: append-only ingest, listing and lookup."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from ...domain import DeploymentEvent, DeploymentEventIngest, DeploymentEventPage, Role, Status
from ...domain.models import DATE_TIME_SCHEMA
from ...domain.timestamps import RFC3339_MESSAGE, parse_rfc3339
from ...engine import DeploymentFilters, Engine, InvalidRequest
from ...engine.ingest import INGEST_BODY_LIMIT
from ..auth import Change
from ..deps import EngineDep, ReadAccess, authorize, read_body, single_query_values
from ..openapi import API_KEY, DEPLOYMENT_OPERATIONS, body_schema, links, problem_responses
from ..problems import pointer_errors, validation_problem

router = APIRouter(tags=["deployments"])

_REPORTER = re.compile(r"^[a-z0-9][a-z0-9./-]{0,127}$")


class LeanRoute(APIRoute):
    """A route whose endpoint is its whole handler: `endpoint(request) -> Response`.

    FastAPI documents it from the route's arguments as any other, but neither solves
    parameters nor serialises a response for it: the endpoint reads its headers and body
    itself, and so calls the app-wide dependency (`single_query_values`) itself. What it
    raises goes through the app's problem handlers as from any route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return cast(Callable[[Request], Coroutine[Any, Any, Response]], self.endpoint)


async def ingest_deployment(request: Request) -> Response:
    """Append one row: every accepted call inserts exactly one row (no dedup).

    The hottest path of the API (a `LeanRoute`): the body is validated once, from its bytes,
    the stored document is serialised once and sent back as it is, and the row is committed
    (with every other row arriving meanwhile: group commit) before the `201`.
    """
    if request.scope["query_string"]:
        await single_query_values(request)
    engine: Engine = request.app.state.engine
    headers = request.headers
    principal = await authorize(
        engine, headers.get("x-api-key"), Role.REPORTER, action=Change.INGEST.value
    )
    raw = await read_body(request, INGEST_BODY_LIMIT)
    errors: list[dict[str, str]] = []
    progress_reporter = headers.get("x-progress-reporter")
    if progress_reporter is not None and not _REPORTER.match(progress_reporter):
        errors.append(
            {
                "pointer": "/X-Progress-Reporter",
                "message": "must match ^[a-z0-9][a-z0-9./-]{0,127}$ (<emitter>/<adapter>)",
            }
        )
    try:
        body = DeploymentEventIngest.model_validate_json(raw or b"null")
    except ValidationError as exc:
        return validation_problem(request, errors + pointer_errors(exc.errors()))
    if errors:
        return validation_problem(request, errors)
    row_id, doc = await engine.ingest_document(
        body, progress_reporter=progress_reporter, principal=principal
    )
    return Response(
        doc,
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/api/deployments/{row_id}"},
    )


router.add_api_route(
    "/api/deployments",
    ingest_deployment,
    methods=["POST"],
    route_class_override=LeanRoute,
    status_code=201,
    tags=["ingest"],
    operation_id="ingestDeployment",
    summary="Append a single deployment event to the log.",
    response_model=DeploymentEvent,
    response_model_exclude_none=True,
    responses={
        **problem_responses(401, 403, 408, 413, 422, 429),  # 403: also service-excluded
        201: {
            "headers": {
                "Location": {"schema": {"type": "string"}, "description": "`/api/deployments/{id}`"}
            },
            "links": {
                **links("id", "$response.body#/id", ["getDeployment"]),
                **links("deployment_id", "$response.body#/deployment_id", DEPLOYMENT_OPERATIONS),
            },
        },
    },
    openapi_extra={
        **body_schema(DeploymentEventIngest),
        "security": API_KEY,
        "parameters": [
            {
                "name": "X-Progress-Reporter",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": _REPORTER.pattern},
                "description": "Ingest attribution, `<emitter>/<adapter>`; stored on the row.",
            }
        ],
    },
)


def _timestamp(value: str | None, name: str) -> Any:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidRequest(f"{name} {RFC3339_MESSAGE}", pointer=f"/{name}") from None


def _instant_query(description: str) -> Any:
    """A date-time query parameter: parsed by the route, documented as the body's are."""
    return Query(
        description=f"{description} {DATE_TIME_SCHEMA['description']}",
        json_schema_extra={"format": "date-time"},
    )


@router.get(
    "/api/deployments",
    operation_id="listDeployments",
    summary="List deployment events with cursor pagination.",
    response_model=DeploymentEventPage,
    responses=problem_responses(401, 422),
    dependencies=[ReadAccess],
)
async def list_deployments(
    engine: EngineDep,
    service: Annotated[str | None, Query(description="Filter by service.")] = None,
    environment: Annotated[str | None, Query(description="Filter by environment.")] = None,
    status: Annotated[Status | None, Query(description="Filter by status.")] = None,
    deployment_id: Annotated[str | None, Query(description="One logical deployment.")] = None,
    namespace: Annotated[str | None, Query(description="Filter by namespace (additive).")] = None,
    actor: Annotated[str | None, Query(description="Filter by actor (additive).")] = None,
    q: Annotated[str | None, Query(description="Substring of any field (additive).")] = None,
    since: Annotated[str | None, _instant_query("`happened_at >= since`.")] = None,
    until: Annotated[str | None, _instant_query("`happened_at < until`.")] = None,
    cursor: Annotated[
        str | None,
        Query(description="Opaque: a `next_cursor` this server issued (anything else: `422`)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Rows newest first by `happened_at`, then `id`; cursors are stable under inserts."""
    filters = DeploymentFilters(
        service=service,
        environment=environment,
        status=status,
        deployment_id=deployment_id,
        actor=actor,
        text=q,
        since=_timestamp(since, "since"),
        until=_timestamp(until, "until"),
        namespace=namespace,
    )
    # Rows of excluded services are left out by the engine (a page may then be shorter
    # than `limit`; its cursor still leads on).
    docs, next_cursor = await engine.deployments.documents(filters, cursor=cursor, limit=limit)
    tail = "null" if next_cursor is None else f'"{next_cursor}"'
    return Response(
        f'{{"items":[{",".join(docs)}],"next_cursor":{tail}}}', media_type="application/json"
    )


@router.get(
    "/api/deployments/{id}",
    operation_id="getDeployment",
    summary="Fetch a single event row by surrogate id.",
    response_model=DeploymentEvent,
    responses=problem_responses(401, 404, 422),
    dependencies=[ReadAccess],
)
async def get_deployment(id: uuid.UUID, engine: EngineDep) -> Response:
    """One row by its id."""
    doc = await engine.deployments.document(str(id))
    return Response(doc, media_type="application/json")
