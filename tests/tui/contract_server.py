"""A server that implements only the deployment-dashboard contract, in memory.

Nothing shipdeck adds: no `/api/whoami`, no `actor`/`q` filters, no `resync` frames, SSE
ids that are row UUIDs (not sequence numbers), no event log. The TUI must work on it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from shipdeck.domain import (
    DeploymentEvent,
    DeploymentEventIngest,
    SlotEntry,
    order_environments,
    reduce_slot,
    to_micros,
    view_slot,
)


def contract_app() -> FastAPI:
    """The minimal app; `app.state.rows` holds the log."""
    app = FastAPI()
    rows: list[DeploymentEvent] = []
    listeners: list[asyncio.Queue[DeploymentEvent]] = []
    app.state.rows = rows

    @app.post("/api/deployments", status_code=201)
    async def ingest(request: Request) -> Response:
        body = DeploymentEventIngest.model_validate_json(await request.body())
        event = DeploymentEvent(id=str(uuid.uuid4()), **body.model_dump(exclude_none=True))
        rows.append(event)
        for queue in listeners:
            queue.put_nowait(event)
        return Response(event.model_dump_json(), 201, media_type="application/json")

    @app.get("/api/deployments")
    async def listing(request: Request) -> Response:
        params = request.query_params
        found = [
            r
            for r in rows
            if all(
                params.get(k) in (None, getattr(r, k))
                for k in ("service", "environment", "deployment_id")
            )
            and params.get("status") in (None, r.status.value)
        ]
        found.sort(key=lambda r: (r.happened_at, r.id), reverse=True)
        start = int(params.get("cursor", "0"))
        limit = int(params.get("limit", "100"))
        page = found[start : start + limit]
        more = str(start + limit) if start + limit < len(found) else None
        items = ",".join(r.model_dump_json() for r in page)
        return Response(
            f'{{"items":[{items}],"next_cursor":{json.dumps(more)}}}', media_type="application/json"
        )

    @app.get("/api/deployments/{row_id}")
    async def one(row_id: str) -> Response:
        for r in rows:
            if r.id == row_id:
                return Response(r.model_dump_json(), media_type="application/json")
        return JSONResponse(
            {"type": "about:blank", "title": "Not found", "status": 404},
            404,
            media_type="application/problem+json",
        )

    def environments() -> list[str]:
        return sorted({r.environment for r in rows})

    @app.get("/api/environments")
    async def envs() -> JSONResponse:
        return JSONResponse({"items": environments()})

    @app.get("/api/services")
    async def services() -> JSONResponse:
        return JSONResponse({"items": sorted({r.service for r in rows})})

    @app.get("/api/matrix")
    async def matrix() -> Response:
        slots: dict[str, dict[str, list[SlotEntry[DeploymentEvent]]]] = {}
        for arrival, r in enumerate(rows):
            slots.setdefault(r.service, {}).setdefault(r.environment, []).append(
                SlotEntry(to_micros(r.happened_at), arrival, r.status, r)
            )
        out = []
        for service in sorted(slots):
            cells = {}
            for env, entries in slots[service].items():
                view = view_slot(reduce_slot(entries))
                if view is None:
                    continue
                cell = {"current": json.loads(view.current.model_dump_json())}
                if view.last_successful is not None:
                    cell["last_successful"] = json.loads(view.last_successful.model_dump_json())
                if view.next is not None:
                    cell["next"] = json.loads(view.next.model_dump_json())
                if view.prev_failed:
                    cell["prev_failed"] = True
                cells[env] = cell
            out.append({"service": service, "slots": cells})
        return JSONResponse(
            {
                "generated_at": datetime.now(UTC).isoformat(),
                "environments": order_environments(environments()),
                "rows": out,
            }
        )

    @app.get("/api/events/stream")
    async def stream() -> StreamingResponse:
        queue: asyncio.Queue[DeploymentEvent] = asyncio.Queue()
        listeners.append(queue)

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield b": ping\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), 1.0)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    data = event.model_dump_json()
                    yield f"id: {event.id}\nevent: deployment\ndata: {data}\n\n".encode()
            finally:
                listeners.remove(queue)

        return StreamingResponse(frames(), media_type="text/event-stream")

    return app
