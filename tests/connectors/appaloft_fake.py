"""An in-process Appaloft (1.10.5) that speaks exactly what its documents and captures show.

Written from `seeds/003-appaloft-openapi-reference.txt`, the captures of a real 1.10.5 and
what one answered when run from source (see docs in the connector). Only what the connector
calls: `GET /api/projects|environments|resources|deployments`, `/api/organizations/current-
context`, a deployment's `timeline` and `timeline/stream`, and the actions (redeploy, retry,
rollback, cancel). Auth is `Authorization: Bearer <session token>`; a refused one is a `401`
`{"error": {"code": "product_auth_missing", …}}`. The timeline stream is SSE: a comment
first, `event: message` envelopes without `id:` lines, comment heartbeats, `closed` then
`event: done`; an unknown deployment is `200` with one `event: error` frame.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .appaloft_estate import Deployment, Estate, stamp

TOKEN = "appaloft-session-token-0123456789"  # a test's made-up token


def error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    """Appaloft's error document, as a real 1.10.5 answers it."""
    body = {
        "error": {
            "code": code,
            "category": "user",
            "message": message,
            "retryable": False,
            "details": details,
        }
    }
    return JSONResponse(body, status)


@dataclass
class AppaloftFake:
    """The fake's state and its Starlette app (`app`)."""

    estate: Estate = field(default_factory=Estate)
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    heartbeat_s: float = 5.0
    """Seconds between comment heartbeats on a timeline stream (a real one: 5)."""
    requests: list[str] = field(default_factory=list)
    """`METHOD path?query` of every request, in order."""
    cut_after: int | None = None
    """Cut every timeline stream after this many entries (a stream lost mid-way)."""
    listed: dict[str, str] = field(default_factory=dict)
    """Per deployment id: the status `GET /deployments` lists it in, whatever its timeline
    says (a listing that lags behind a stream that already closed)."""
    instead: dict[str, Response] = field(default_factory=dict)
    """Per request path (`*`: every path): what is answered instead of the route's (a
    proxy's error page, an endpoint failing, a body cut short)."""

    @property
    def app(self) -> Starlette:
        routes = [
            Route("/api/projects", self._projects),
            Route("/api/environments", self._environments),
            Route("/api/resources", self._resources),
            Route("/api/deployments", self._deployments),
            Route("/api/organizations/current-context", self._context),
            Route("/api/deployments/{id}/timeline", self._timeline),
            Route("/api/deployments/{id}/timeline/stream", self._stream),
            Route("/api/deployments/{id}/{verb}", self._act, methods=["POST"]),
            Route("/api/resources/{id}/redeploy", self._redeploy, methods=["POST"]),
        ]
        return Starlette(routes=routes, middleware=[])

    def _refused(self, request: Request) -> Response | None:
        """Note the request; the answer it gets instead of the route's (`instead`, or a
        `401` for a token refused), if any."""
        query = f"?{request.url.query}" if request.url.query else ""
        self.requests.append(f"{request.method} {request.url.path}{query}")
        instead = self.instead.get(request.url.path) or self.instead.get("*")
        if instead is not None:
            return instead
        header = request.headers.get("authorization", "")
        if header.removeprefix("Bearer ") in self.tokens and header.startswith("Bearer "):
            return None
        return error(
            401,
            "product_auth_missing",
            "Product operation requires a valid session",
            endpoint=request.url.path,
            method=request.method,
            phase="product-authentication",
            reasonCode="session-missing",
            requiredRole="member",
        )

    # -- reads -------------------------------------------------------------------------

    async def _projects(self, request: Request) -> Response:
        refused = self._refused(request)
        items = [p.doc() for p in self.estate.projects.values()]
        return refused or JSONResponse({"items": items, "total": len(items), "limit": 100})

    async def _environments(self, request: Request) -> Response:
        refused = self._refused(request)
        return refused or JSONResponse({"items": [e.doc() for e in self.estate.envs.values()]})

    async def _resources(self, request: Request) -> Response:
        refused = self._refused(request)
        estate = self.estate
        items = [r.doc(estate) for r in estate.resources.values()]
        return refused or JSONResponse({"items": items})

    async def _deployments(self, request: Request) -> Response:
        refused = self._refused(request)
        limit = int(request.query_params.get("limit", "100"))
        newest = sorted(self.estate.deployments.values(), key=lambda d: d.created_at)[::-1]
        docs = [d.doc() for d in newest[:limit]]
        for doc in docs:
            if doc["id"] in self.listed:
                doc["status"] = self.listed[doc["id"]]
                doc.pop("finishedAt", None)
        return refused or JSONResponse({"items": docs})

    async def _context(self, request: Request) -> Response:
        refused = self._refused(request)
        org = {"organizationId": "org_self_hosted", "name": "Self-hosted Appaloft"}
        body = {
            "user": {"userId": "u1", "email": "admin@example.com", "displayName": "Admin"},
            "currentOrganization": {**org, "slug": "self-hosted-appaloft", "role": "owner"},
        }
        return refused or JSONResponse(body)

    async def _timeline(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        deployment = self.estate.deployments.get(request.path_params["id"])
        if deployment is None:
            return error(
                404, "not_found", "entity  was not found", queryName="deployments.timeline"
            )
        after = _after(request.query_params.get("cursor"))
        limit = int(request.query_params.get("limit", "100"))
        entries = [e for e in deployment.timeline if e["sequence"] > after]
        page = entries[:limit]
        body: dict[str, Any] = {
            "schemaVersion": "deployments.timeline/v1",
            "deploymentId": deployment.id,
            "entries": page,
            "hasMore": len(entries) > limit,
        }
        if page:
            body["nextCursor"] = page[-1]["cursor"]
        return JSONResponse(body)

    # -- the timeline stream -----------------------------------------------------------

    async def _stream(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        deployment = self.estate.deployments.get(request.path_params["id"])
        after = _after(request.query_params.get("cursor"))
        frames = self._frames(deployment, after, request.path_params["id"])
        return StreamingResponse(frames, media_type="text/event-stream")

    async def _frames(
        self, deployment: Deployment | None, after: int, deployment_id: str
    ) -> AsyncIterator[bytes]:
        yield b": \n\n"
        if deployment is None:
            problem = {
                "defined": False,
                "code": "NOT_FOUND",
                "status": 404,
                "message": "entity  was not found",
                "data": {"domainCode": "not_found", "details": {"deploymentId": deployment_id}},
            }
            yield f"event: error\ndata: {json.dumps(problem)}\n\n".encode()
            return
        sent = 0
        while True:
            for item in [e for e in deployment.timeline if e["sequence"] > after]:
                if self.cut_after is not None and sent >= self.cut_after:
                    raise ConnectionResetError("the fake cuts the stream")
                yield _message({"kind": "entry", "entry": item})
                after, sent = item["sequence"], sent + 1
            if deployment.final:
                cursor = f"{deployment.id}:{after}"
                yield _message({"kind": "closed", "reason": "completed", "cursor": cursor})
                done = json.dumps({"deploymentId": deployment.id})
                yield f"event: done\ndata: {done}\n\n".encode()
                return
            try:
                await asyncio.wait_for(deployment.changed.wait(), self.heartbeat_s)
            except TimeoutError:
                yield b":\n\n"

    # -- actions -----------------------------------------------------------------------

    async def _act(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        verb, dep_id = request.path_params["verb"], request.path_params["id"]
        body = await request.json()
        source = self.estate.deployments.get(dep_id)
        if source is None:
            return error(
                404, "not_found", f"deployment {dep_id} was not found", entity="deployment"
            )
        if verb == "cancel":
            if body.get("confirm") != dep_id:
                return error(400, "validation_error", "Confirmation deployment id must match")
            if source.final:
                return error(409, "conflict", "Deployment must be active before cancellation")
            self.estate.advance(
                dep_id, "canceled", "deploy", "Local deployment cancellation completed"
            )
            return JSONResponse({"id": dep_id, "status": "canceled", "canceledAt": stamp()})
        if verb == "retry":
            new = self.estate.start_like(source, trigger="retry", parent=dep_id)
            return JSONResponse({"id": new.id})
        if verb == "rollback":
            candidate = self.estate.deployments.get(body.get("rollbackCandidateDeploymentId", ""))
            if candidate is None or candidate.status != "succeeded":
                return error(409, "conflict", "Rollback candidate is not a successful deployment")
            new = self.estate.start_like(candidate, trigger="rollback", parent=dep_id)
            return JSONResponse({"id": new.id})
        return error(404, "not_found", "route not found")

    async def _redeploy(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        body = await request.json()
        resource = self.estate.resources.get(request.path_params["id"])
        if resource is None:
            return error(404, "not_found", "resource was not found", entity="resource")
        missing = [k for k in ("projectId", "environmentId", "serverId") if not body.get(k)]
        if missing:
            return error(400, "validation_error", f"{missing[0]} is required")
        new = self.estate.create(resource.id, resource.image, trigger="redeploy")
        return JSONResponse({"id": new.id})


def _after(cursor: str | None) -> int:
    """The sequence a `<deploymentId>:<sequence>` cursor names (0: from the start)."""
    if not cursor or ":" not in cursor:
        return 0
    tail = cursor.rsplit(":", 1)[1]
    return int(tail) if tail.isdigit() else 0


def _message(envelope: dict[str, Any]) -> bytes:
    data = json.dumps({"schemaVersion": "deployments.timeline/v1", **envelope})
    return f"event: message\ndata: {data}\n\n".encode()


__all__ = ["TOKEN", "AppaloftFake", "error"]
