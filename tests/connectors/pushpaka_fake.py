"""An in-process Pushpaka that speaks what `seeds/004-pushpaka-api.txt` documents.

`/api/v1`: `POST /auth/login` (a JWT), `GET /projects` and `GET /deployments?limit&offset`
(`{"data": […]}`, 100 at most), `GET /deployments/:id`, `POST /deployments` (`201`, queued),
`POST /deployments/:id/rollback` (`201`, a new deployment of that one's commit), `GET
/logs/:id` and the WebSocket `/logs/:id/stream?token=<JWT>` (every stored line, then new
ones; it never closes by itself). Errors are `{"error": "…"}`; a missing, wrong or expired
JWT is `401 {"error": "invalid or expired token"}`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from shipdeck.domain import DeploymentEventIngest

EMAIL, PASSWORD = "ana@example.com", "correct horse battery staple"
_FROM_ROW = {
    "queued": "queued",
    "pending": "queued",
    "waiting": "queued",
    "in-progress": "building",
    "success": "running",
    "failure": "failed",
    "cancelled": "stopped",
    "rejected": "stopped",
}


def jwt(subject: str, expires: float) -> str:
    """A JWT-shaped token (the fake checks it against those it issued)."""

    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    head, body = part({"alg": "HS256", "typ": "JWT"}), part({"sub": subject, "exp": expires})
    sig = hashlib.sha256(f"{head}.{body}".encode()).hexdigest()[:43]
    return f"{head}.{body}.{sig}"


def go_time(moment: datetime) -> str:
    """Go's RFC 3339 with nanoseconds, as its JSON encodes a `time.Time`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def sha_of(version: str) -> str:
    """A commit sha that stands for a version (the shared suite's rows have versions)."""
    return hashlib.sha1(version.encode()).hexdigest()  # not security


@dataclass
class PushpakaFake:
    """State and app (`app`) of the fake."""

    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    """Issued JWTs and when each expires."""
    requests: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def uuid(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    def login(self, lifetime: float = 3600.0) -> str:
        """A JWT, as `POST /auth/login` gives one."""
        token = jwt("user-1", time.time() + lifetime)
        self.tokens[token] = time.time() + lifetime
        return token

    def expire(self, token: str) -> None:
        self.tokens[token] = 0.0

    @property
    def app(self) -> Starlette:
        base = "/api/v1"
        return Starlette(
            routes=[
                Route(f"{base}/auth/login", self._login, methods=["POST"]),
                Route(f"{base}/projects", self._projects),
                Route(f"{base}/deployments", self._deployments, methods=["GET", "POST"]),
                Route(f"{base}/deployments/{{id}}", self._deployment),
                Route(f"{base}/deployments/{{id}}/rollback", self._rollback, methods=["POST"]),
                Route(f"{base}/logs/{{id}}", self._logs),
                WebSocketRoute(f"{base}/logs/{{id}}/stream", self._stream),
            ]
        )

    # -- data --------------------------------------------------------------------------

    def project(self, name: str, branch: str = "main") -> dict[str, Any]:
        for project in self.projects.values():
            if project["name"] == name:
                return project
        now = go_time(datetime.now(UTC))
        project = {
            "id": self.uuid(),
            "user_id": "user-1",
            "name": name,
            "repo_url": f"https://github.com/acme/{name}",
            "branch": branch,
            "build_command": "npm run build",
            "start_command": "npm start",
            "port": 3000,
            "framework": "nextjs",
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        self.projects[project["id"]] = project
        return project

    def deploy(
        self,
        project_id: str,
        branch: str,
        sha: str = "",
        *,
        at: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A queued deployment (as `POST /deployments` makes one)."""
        moment = go_time(at or datetime.now(UTC))
        doc = {
            "id": extra.pop("id", None) or self.uuid(),
            "project_id": project_id,
            "user_id": "user-1",
            "commit_sha": sha,
            "commit_msg": extra.pop("commit_msg", ""),
            "branch": branch,
            "status": "queued",
            "image_tag": f"pushpaka/{project_id[:8]}:{self.uuid()[-8:]}",
            "container_id": "",
            "url": f"http://localhost:8080/app/{project_id}",
            "external_port": 0,
            "error_msg": "",
            "started_at": None,
            "finished_at": None,
            "created_at": moment,
            "updated_at": moment,
        }
        self.deployments[doc["id"]] = doc
        self.logs.setdefault(doc["id"], [])
        return doc

    def advance(
        self, deployment_id: str, status: str, error: str = "", at: datetime | None = None
    ) -> None:
        """Move a deployment on (`building`, `running`, `failed`, `stopped`)."""
        doc = self.deployments[deployment_id]
        moment = go_time(at or datetime.now(UTC))
        doc["status"], doc["updated_at"], doc["error_msg"] = status, moment, error
        if status != "queued" and doc["started_at"] is None:
            doc["started_at"] = moment
        if status in ("running", "failed") or (status == "stopped" and doc["started_at"]):
            doc["finished_at"] = moment

    def log(
        self, deployment_id: str, message: str, level: str = "info", stream: str = "stdout"
    ) -> None:
        self.logs.setdefault(deployment_id, []).append(
            {
                "id": self.uuid(),
                "deployment_id": deployment_id,
                "level": level,
                "stream": stream,
                "message": message,
                "created_at": go_time(datetime.now(UTC)),
            }
        )

    def report(self, body: DeploymentEventIngest) -> None:
        """What CI would have made Pushpaka do for a shipdeck row (for the shared suite)."""
        status = _FROM_ROW[body.status.value]
        doc = self.deployments.get(body.deployment_id)
        if doc is None:
            project = self.project(body.service)
            sha = sha_of(body.version) if body.version else (body.sha or "")
            doc = self.deploy(
                project["id"],
                body.environment,
                sha,
                at=body.happened_at,
                id=body.deployment_id,
                commit_msg=body.message or "",
            )
        if status != "queued":
            self.advance(body.deployment_id, status, body.message or "", at=body.happened_at)

    # -- routes ------------------------------------------------------------------------

    def _refused(self, request: Request | WebSocket, token: str | None = None) -> bool:
        query = f"?{request.url.query}" if request.url.query and token is None else ""
        self.requests.append(f"{getattr(request, 'method', 'WS')} {request.url.path}{query}")
        if token is None:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else None
        return token is None or self.tokens.get(token, 0.0) <= time.time()

    @staticmethod
    def _unauthorized() -> Response:
        return JSONResponse({"error": "invalid or expired token"}, 401)

    async def _login(self, request: Request) -> Response:
        body = await request.json()
        if body.get("email") != EMAIL or body.get("password") != PASSWORD:
            return JSONResponse({"error": "invalid credentials"}, 401)
        user = {"id": "user-1", "email": EMAIL, "name": "Ana", "role": "user"}
        return JSONResponse({"token": self.login(), "user": user})

    async def _projects(self, request: Request) -> Response:
        if self._refused(request):
            return self._unauthorized()
        return JSONResponse({"data": list(self.projects.values())})

    async def _deployments(self, request: Request) -> Response:
        if self._refused(request):
            return self._unauthorized()
        if request.method == "POST":
            body = await request.json()
            project = self.projects.get(body.get("project_id", ""))
            if project is None:
                return JSONResponse({"error": "project not found"}, 404)
            branch = body.get("branch") or project["branch"]
            return JSONResponse(self.deploy(project["id"], branch, body.get("commit_sha", "")), 201)
        limit = min(int(request.query_params.get("limit", "20")), 100)
        offset = int(request.query_params.get("offset", "0"))
        newest = sorted(self.deployments.values(), key=lambda d: d["created_at"], reverse=True)
        return JSONResponse({"data": newest[offset : offset + limit]})

    async def _deployment(self, request: Request) -> Response:
        if self._refused(request):
            return self._unauthorized()
        doc = self.deployments.get(request.path_params["id"])
        return JSONResponse(doc) if doc else JSONResponse({"error": "deployment not found"}, 404)

    async def _rollback(self, request: Request) -> Response:
        if self._refused(request):
            return self._unauthorized()
        prev = self.deployments.get(request.path_params["id"])
        if prev is None:  # Pushpaka answers every failure of a rollback this way
            return JSONResponse({"error": "rollback failed"}, 500)
        return JSONResponse(
            self.deploy(prev["project_id"], prev["branch"], prev["commit_sha"]), 201
        )

    async def _logs(self, request: Request) -> Response:
        if self._refused(request):
            return self._unauthorized()
        return JSONResponse({"data": self.logs.get(request.path_params["id"], [])})

    async def _stream(self, socket: WebSocket) -> None:
        if self._refused(socket, socket.query_params.get("token", "")):
            await socket.send_denial_response(self._unauthorized())
            return
        await socket.accept()
        sent = 0
        gone = asyncio.ensure_future(socket.receive())  # the client's close, when it comes
        try:
            while not gone.done():
                lines = self.logs.get(socket.path_params["id"], [])
                for line in lines[sent:]:
                    await socket.send_text(json.dumps(line))
                sent = len(lines)
                await asyncio.wait({gone}, timeout=0.1)  # Pushpaka polls its store (500 ms)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            gone.cancel()


__all__ = ["EMAIL", "PASSWORD", "PushpakaFake", "go_time", "sha_of"]
