"""`/api/control/*`: component events, the control stream, reset and recover.

Auth as the contract has it: `POST /api/control/events` takes an API key (reporter or
above) and `X-Component-Id`; the control stream, reset and recover take the control key
(`X-Control-API-Key`, checked by the engine in constant time, refusals audited); the
component-events stream is a read like any other: open unless `auth.read = "key"`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ...domain import Role
from ...engine import Engine
from ...engine.control_config import COMPONENT_PATTERN
from ...engine.control_hub import ControlFeed
from ...engine.control_models import (
    CORRELATION_LIMIT,
    PAYLOAD_LIMIT,
    ComponentEvent,
    ComponentEventRecord,
    ControlStreamEvent,
    RecoverAccepted,
    RecoverRequest,
    ResetAccepted,
)
from ..deps import EngineDep, ReadAccess, authorize, parse_body, too_large
from ..openapi import (
    API_KEY,
    CONTROL_KEY,
    UUID_ID,
    body_schema,
    problem_responses,
    sse_response,
)
from ..problems import ProblemException

router = APIRouter(tags=["control"])
CONTROL_EVENT_TYPES = tuple(
    f"{operation}-{phase}"
    for operation in ("reset", "recover")
    for phase in ("initiated", "started", "completed")
)
"""The frames the control stream sends (their `event:` names): each phase of each saga."""

_COMPONENT = re.compile(COMPONENT_PATTERN)
BODY_LIMIT = 6 * PAYLOAD_LIMIT + 4096
"""Room for an 8 KiB payload whose characters are all escaped, and the other fields."""
RETRY_MS = 2000
ControlKey = Annotated[str | None, Header(alias="X-Control-API-Key", include_in_schema=False)]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]


def _header_problem(pointer: str, message: str) -> ProblemException:
    return ProblemException(
        422,
        "validation",
        "Request validation failed",
        f"{pointer} {message}",
        errors=[{"pointer": pointer, "message": message}],
    )


COMPONENT_HEADERS = [
    {
        "name": "X-Component-Id",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": COMPONENT_PATTERN},
        "description": "The reporting component (stored as `component_id`).",
    },
    {
        "name": "X-Correlation-Id",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": CORRELATION_LIMIT},
        "description": "The control process this event belongs to: a `reset-ack` or"
        " `recover-ack` counts only when it names the saga's correlation id here.",
    },
]
"""The headers as the contract documents them (the route checks them itself, so that a
missing or malformed one is the contract's `422` with its pointer)."""


@router.post(
    "/api/control/events",
    status_code=204,
    operation_id="postComponentEvent",
    summary="A component posts an operational event to the API.",
    responses=problem_responses(401, 403, 413, 422, 429),
    openapi_extra={
        **body_schema(ComponentEvent),
        "security": API_KEY,
        "parameters": COMPONENT_HEADERS,
    },
)
async def post_component_event(
    request: Request,
    engine: EngineDep,
    api_key: Annotated[str | None, Header(alias="X-Api-Key", include_in_schema=False)] = None,
    component_id: Annotated[
        str | None, Header(alias="X-Component-Id", include_in_schema=False)
    ] = None,
    correlation_id: Annotated[
        str | None, Header(alias="X-Correlation-Id", include_in_schema=False)
    ] = None,
) -> Response:
    """Store the event (`204`) and fan it out on `/api/control/events/stream`."""
    await authorize(
        engine, api_key, Role.REPORTER, action="control.event", target=component_id or ""
    )
    if component_id is None or not _COMPONENT.match(component_id):
        raise _header_problem("/X-Component-Id", f"is required and must match {COMPONENT_PATTERN}")
    if correlation_id is not None and len(correlation_id) > CORRELATION_LIMIT:
        limit = f"must be {CORRELATION_LIMIT} characters or fewer"
        raise _header_problem("/X-Correlation-Id", limit)
    body = await parse_body(request, ComponentEvent, BODY_LIMIT)
    if body.payload is not None:
        size = len(json.dumps(body.payload, separators=(",", ":")).encode())
        if size > PAYLOAD_LIMIT:
            raise too_large(PAYLOAD_LIMIT, "the payload")
    # An empty X-Correlation-Id names nothing: as if it were absent (`correlation_id: null`).
    await engine.control.report(component_id, correlation_id or None, body)
    return Response(status_code=204)


@router.post(
    "/api/control/reset",
    status_code=202,
    operation_id="resetState",
    summary="Initiate an asynchronous system-state reset.",
    response_model=ResetAccepted,
    responses=problem_responses(401, 403, 409),
    openapi_extra={"security": CONTROL_KEY},
)
async def reset_state(engine: EngineDep, key: ControlKey = None) -> JSONResponse:
    """`202` at once; progress is on the control stream (`reset-initiated` →
    `reset-started` → `reset-completed`). Only with `[control] allow_reset = true`."""
    principal = await engine.control.authorize(key, "control.reset")
    accepted = await engine.control.reset(principal)
    return JSONResponse(accepted.model_dump(), status_code=202)


@router.post(
    "/api/control/recover",
    status_code=202,
    operation_id="recoverState",
    summary="Initiate a non-destructive recover: components rewind and re-ingest.",
    response_model=RecoverAccepted,
    responses=problem_responses(401, 403, 409, 413, 422),
    openapi_extra={**body_schema(RecoverRequest), "security": CONTROL_KEY},
)
async def recover_state(
    request: Request, engine: EngineDep, key: ControlKey = None
) -> JSONResponse:
    """`202` at once; `recover-initiated` → `recover-started` → `recover-completed` (with
    the resolved `since` in `payload`) on the control stream. Nothing is erased."""
    principal = await engine.control.authorize(key, "control.recover")
    body = await parse_body(request, RecoverRequest, 4096)
    accepted = await engine.control.recover(principal, body)
    return JSONResponse(accepted.model_dump(), status_code=202)


async def _frames(
    feed: ControlFeed, after: str | None, ping: float, component: str | None
) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for frame in feed.follow(after, ping):
        if frame is None:
            yield b": ping\n\n"
        elif component is None or frame.component in ("*", component):
            yield f"id: {frame.id}\nevent: {frame.event}\ndata: {frame.data}\n\n".encode()


def _stream(
    engine: Engine, feed: ControlFeed, after: str | None, component: str | None
) -> StreamingResponse:
    resume = after.strip() if after and after.strip() else None
    return StreamingResponse(
        _frames(feed, resume, engine.config.stream.ping_interval, component),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/api/control/stream",
    operation_id="watchControlStream",
    summary="SSE stream of orchestration events emitted by the API to components.",
    response_class=StreamingResponse,
    responses={
        **sse_response(
            "Named events (`reset-initiated`, `reset-started`, `reset-completed`, `recover-*`);"
            " unknown types are no-ops for components. `: ping` keeps an idle stream open.",
            {name: ControlStreamEvent for name in CONTROL_EVENT_TYPES},
            with_id=True,
            id_pattern=UUID_ID,
        ),
        **problem_responses(401, 403),
    },
    openapi_extra={"security": CONTROL_KEY},
)
async def watch_control_stream(
    engine: EngineDep,
    key: ControlKey = None,
    last_event_id: LastEventId = None,
    component: Annotated[
        str | None, Query(description="Only events for this component (and `*`).")
    ] = None,
) -> StreamingResponse:
    """Replays everything after `Last-Event-ID` within 2 h, then live."""
    await engine.control.authorize(key, "control.stream")
    return _stream(engine, engine.control.stream, last_event_id, component)


@router.get(
    "/api/control/events/stream",
    operation_id="watchComponentEventStream",
    summary="Server-Sent Events stream of component-reported events.",
    response_class=StreamingResponse,
    responses={
        **sse_response(
            "`event: component` for each accepted `POST /api/control/events`; `: ping` when idle.",
            {"component": ComponentEventRecord},
            with_id=True,
            id_pattern=UUID_ID,
        ),
        **problem_responses(401),
    },
    dependencies=[ReadAccess],
)
async def watch_component_events(
    engine: EngineDep, last_event_id: LastEventId = None
) -> StreamingResponse:
    """Live only on a fresh connect; with `Last-Event-ID`, replays what came after it."""
    return _stream(engine, engine.control.components, last_event_id, None)
