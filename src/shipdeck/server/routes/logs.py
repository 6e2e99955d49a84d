"""A logical deployment's log lines, its live log stream and its status stream.

`{deployment_id}` is the logical deployment key (the rows' `deployment_id` field), never a
row id; it may contain `/`. Paths under it cannot clash with `GET /api/deployments/{id}`,
whose id is a single segment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

import pydantic_core
from fastapi import APIRouter, Path, Query, Request, WebSocket
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.types import Scope

from ...domain import FINAL, DeploymentEvent, LogLinesIngest, LogPage, LogsAppended, Role
from ...domain.logs import TOO_LARGE
from ...domain.stream import StatusChange
from ...engine import DeploymentFilters, Engine, NotFound, Principal, Resync, StreamItem
from ...engine.logs import LogFollower
from ..auth import Change, authorized
from ..deps import EngineDep, ReadAccess, read_body
from ..openapi import API_KEY, body_schema, problem_responses, sse_response
from ..problems import pointer_errors, problem_response, validation_problem

router = APIRouter(tags=["logs"])

LOGS_BODY_LIMIT = 10 * 1024 * 1024
"""1000 lines of 8 KiB, with room for JSON escapes; a larger body is a `413`."""
MAX_AFTER = 2**63 - 1

WS_NORMAL = 1000
"""The deployment is over and every line was sent."""
WS_GOING_AWAY = 1001
"""The server is shutting down: reconnect with `?after=<last seq>`."""
WS_UNAUTHORIZED = 4401
WS_NOT_FOUND = 4404
WS_INVALID = 4422


class AnyTextConvertor(PathConvertor):
    """Starlette's `path`, newlines included: a logical deployment key may hold any text,
    and `.*` alone would leave a key with a newline without a route (a bare `404`)."""

    regex = "(?s:.*)"


register_url_convertor("anything", AnyTextConvertor())
DEPLOYMENT = "/api/deployments/{deployment_id:anything}"
"""The path of a logical deployment, the prefix of every route under it."""

DeploymentIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The logical deployment key (`deployment_id` of its rows).",
    ),
]


async def deployment_target(deployment_id: DeploymentIdPath) -> str:
    """What an action on a logical deployment changes: its key (a dependency)."""
    return deployment_id


Reporter = Annotated[
    Principal, authorized(Change.APPEND_LOGS, deployment_target, role=Role.REPORTER)
]
After = Annotated[
    int, Query(ge=0, le=MAX_AFTER, description="Only lines with a greater `seq` (0: all).")
]


@router.post(
    DEPLOYMENT + "/logs",
    status_code=201,
    operation_id="appendDeploymentLogs",
    summary="Append log lines to a logical deployment.",
    response_model=LogsAppended,
    responses=problem_responses(401, 403, 404, 408, 413, 422, 429),
    openapi_extra={**body_schema(LogLinesIngest), "security": API_KEY},
)
async def append_logs(
    deployment_id: DeploymentIdPath, request: Request, engine: EngineDep, _: Reporter
) -> Response:
    """Number and store up to 1000 lines, in order; configured secrets become `••••`.

    `404` until the deployment has a row; `413` for more than 1000 lines or a message
    over 8 KiB; `422` for anything else malformed.
    """
    raw = await read_body(request, LOGS_BODY_LIMIT)
    try:
        body = LogLinesIngest.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = _body_errors(exc.errors())
        if all(error["type"] == TOO_LARGE for error in exc.errors()):
            detail = "; ".join(f"{e['pointer']} {e['message']}" for e in errors)
            return problem_response(
                request, 413, "payload-too-large", "Payload too large", detail, errors=errors
            )
        return validation_problem(request, errors)
    lines = await engine.append_logs(deployment_id, body.lines)
    appended = LogsAppended(
        deployment_id=deployment_id,
        count=len(lines),
        first_seq=lines[0].seq,
        last_seq=lines[-1].seq,
    )
    return Response(appended.model_dump_json(), status_code=201, media_type="application/json")


def _body_errors(errors: list[ErrorDetails]) -> list[dict[str, str]]:
    """`errors[]` whose pointers reach into the lines (`/lines/3/level`).

    The shared helper stops at the first field name, which suits flat bodies only.
    """
    merged: dict[str, list[str]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        (entry,) = pointer_errors([error])
        pointer, message = entry["pointer"], entry["message"]
        if len(loc) > 1:
            pointer = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in loc)
            if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
                message = "must be a JSON object"
        messages = merged.setdefault(pointer, [])
        if message not in messages:
            messages.append(message)
    return [{"pointer": p, "message": " or ".join(m)} for p, m in merged.items()]


@router.get(
    DEPLOYMENT + "/logs",
    operation_id="listDeploymentLogs",
    summary="A page of a logical deployment's log lines, oldest first.",
    response_model=LogPage,
    responses=problem_responses(401, 404, 422),
    dependencies=[ReadAccess],
)
async def list_logs(
    deployment_id: DeploymentIdPath,
    engine: EngineDep,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> Response:
    """Lines with `seq > after`; pass `next_after` as `after` for the next page."""
    page = await engine.logs(deployment_id, after, limit)
    return Response(page.model_dump_json(), media_type="application/json")


_WS_DESCRIPTION = """\
A WebSocket (`ws://…` or `wss://…`): the deployment's stored lines with `seq > after`,
then live ones, each as one JSON text message (a `LogLine`). Reconnect with
`?after=<last seq received>` to go on without gaps or repeats.

Reads are open unless the engine closes them; then send a key in `X-Api-Key` or, where
headers cannot be set (browsers), as `?token=` (never logged).

The server closes with `1000` once the deployment's latest row is final (success,
failure, cancelled, rejected) and every line was sent; `1001` when it shuts down;
`4401` for a missing or invalid key; `4404` for an unknown deployment; `4422` for a bad
`after`. A plain `GET` answers `426`.
"""


@router.get(
    DEPLOYMENT + "/logs/stream",
    status_code=101,
    operation_id="streamDeploymentLogs",
    summary="WebSocket: a logical deployment's log lines, history first, then live.",
    description=_WS_DESCRIPTION,
    responses={
        101: {"description": "Switching Protocols: the WebSocket is open."},
        **problem_responses(404, 422, 426),
    },
)
async def stream_logs_without_upgrade(
    request: Request,
    deployment_id: DeploymentIdPath,
    after: After = 0,
    token: Annotated[
        str | None, Query(description="An API key, where the header cannot be sent.")
    ] = None,
) -> Response:
    """A plain `GET` of the WebSocket path: say how to connect."""
    return problem_response(
        request,
        426,
        "upgrade-required",
        "Upgrade required",
        "this is a WebSocket endpoint: connect with ws:// or wss://",
        headers={"Upgrade": "websocket"},
    )


@router.websocket(DEPLOYMENT + "/logs/stream")
async def stream_logs(websocket: WebSocket, deployment_id: str) -> None:
    """History, then live lines, as JSON text messages; closes once the deployment is over."""
    token = take_token(websocket.scope)
    engine: Engine = websocket.app.state.engine
    refusal, after = await _check_stream(
        engine, websocket.headers.get("x-api-key") or token, deployment_id, websocket.scope
    )
    await websocket.accept()
    if refusal is not None:
        await websocket.close(*refusal)
        return
    async with engine.follow_logs(deployment_id, after) as follower:
        finished = await _pump(websocket, follower)
    if finished:
        await websocket.close(WS_GOING_AWAY if follower.closed else WS_NORMAL)


def take_token(scope: Scope) -> str | None:
    """Remove `token` from the query string, so no log line shows it, and return it.

    uvicorn logs a WebSocket's path and query when it accepts or refuses one; it logs
    from this same scope, so the key is gone before it could be written anywhere.
    """
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    tokens = [value for name, value in pairs if name == "token"]
    if tokens:
        rest = [(name, value) for name, value in pairs if name != "token"]
        scope["query_string"] = urlencode(rest).encode("latin-1")
    return tokens[0] if tokens else None


async def _check_stream(
    engine: Engine, key: str | None, deployment_id: str, scope: Scope
) -> tuple[tuple[int, str] | None, int]:
    """`(close code and reason, or None to stream; after)` for a WebSocket request."""
    if engine.config.auth.read == "key" and await engine.keys.authenticate(key) is None:
        return (WS_UNAUTHORIZED, "send a valid API key in X-Api-Key or ?token="), 0
    raw = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("after", "0")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or int(raw) > MAX_AFTER:
        return (WS_INVALID, "after must be 0 or a line's seq"), 0
    if not 1 <= len(deployment_id) <= 200 or await latest_row(engine, deployment_id) is None:
        return (WS_NOT_FOUND, "no deployment has this deployment_id"), 0
    return None, int(raw)


async def _pump(websocket: WebSocket, follower: LogFollower) -> bool:
    """Send every line until the follower ends; `False` when the client left first."""
    sender = asyncio.create_task(_send_lines(websocket, follower))
    listener = asyncio.create_task(_until_disconnect(websocket))
    try:
        await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, listener):
            task.cancel()
        await asyncio.gather(sender, listener, return_exceptions=True)
    # Finished: the follower ended (no error sending) while the client was still there.
    return not sender.cancelled() and sender.exception() is None and listener.cancelled()


async def _send_lines(websocket: WebSocket, follower: LogFollower) -> None:
    async for line in follower:
        await websocket.send_text(line.model_dump_json())


async def _until_disconnect(websocket: WebSocket) -> None:
    """Wait for the client to go (whatever it sends meanwhile is ignored)."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


@router.get(
    DEPLOYMENT + "/status-stream",
    tags=["stream"],
    operation_id="streamDeploymentStatus",
    summary="Server-Sent Events: a logical deployment's status, then each change.",
    response_class=StreamingResponse,
    responses={
        **sse_response(
            "`event: status` frames: the current status at once, then each change; the"
            " stream ends after a final status (success, failure, cancelled, rejected)."
            " `: ping` comments keep an idle stream open.",
            {"status": StatusChange},
            with_id=False,
        ),
        **problem_responses(401, 404, 422),
    },
    dependencies=[ReadAccess],
)
async def stream_status(deployment_id: DeploymentIdPath, engine: EngineDep) -> StreamingResponse:
    """`seeds/001` semantics: `404` when unknown; a finished deployment sends one event."""
    if await latest_row(engine, deployment_id) is None:
        raise NotFound(f"no deployment has deployment_id {deployment_id!r}")
    return StreamingResponse(
        status_frames(engine, deployment_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# -- the status stream -------------------------------------------------------------------


async def latest_row(engine: Engine, deployment_id: str) -> DeploymentEvent | None:
    """The deployment's latest row (by `happened_at`, then id), or `None` if it has none."""
    filters = DeploymentFilters(deployment_id=deployment_id)
    docs, _ = await engine.deployments.documents(filters, limit=1)
    return DeploymentEvent.model_validate_json(docs[0]) if docs else None


def _status_frame(row: DeploymentEvent) -> bytes:
    change = StatusChange(
        status=row.status,
        phase=row.phase,
        message=row.message,
        version=row.version,
        happened_at=row.happened_at_text,
        id=row.id,
    )
    return f"event: status\ndata: {change.model_dump_json()}\n\n".encode()


def _order(row: DeploymentEvent) -> tuple[datetime, str]:
    return row.happened_at, row.id


async def status_frames(engine: Engine, deployment_id: str) -> AsyncIterator[bytes]:
    """The current status at once, then each newer row's, until one is final.

    Rows come from the engine's event feed, so a burst of rows reaches the stream in
    order and a lagging stream catches up from the store. A row older (by `happened_at`)
    than the current one changes nothing and is not sent.
    """
    ping = engine.config.stream.ping_interval
    async with engine.subscribe() as subscription:
        # Read after subscribing: a row committed in between is in the read or the feed.
        current = await latest_row(engine, deployment_id)
        if current is None:
            return
        yield _status_frame(current)
        while current.status not in FINAL:
            batch = await subscription.next_batch(timeout=ping)
            if subscription.closed:
                return
            if batch is None:
                yield b": ping\n\n"
                continue
            frames: list[bytes] = []
            for row in await _rows_of(engine, deployment_id, batch):
                if current.status not in FINAL and _order(row) > _order(current):
                    current = row
                    frames.append(_status_frame(row))
            if frames:
                yield b"".join(frames)


async def _rows_of(
    engine: Engine, deployment_id: str, batch: list[StreamItem]
) -> list[DeploymentEvent]:
    """The deployment's rows among a batch of the event feed (re-read after a resync)."""
    needle = '"deployment_id":' + pydantic_core.to_json(deployment_id).decode()
    rows: list[DeploymentEvent] = []
    for item in batch:
        if isinstance(item, Resync):
            latest = await latest_row(engine, deployment_id)
            rows.extend([] if latest is None else [latest])
        elif item.type == "deployment" and needle in item.data:
            row = DeploymentEvent.model_validate_json(item.data)
            if row.deployment_id == deployment_id:
                rows.append(row)
    return rows
