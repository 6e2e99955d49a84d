"""`PushpakaClient`: a Pushpaka seen through the `EngineClient` interface.

Reads: `GET /projects` and `GET /deployments` (the newest 500, by pages of 100) make the
matrix (projects × the branches they deploy) and the history (`_wire`); they are read again
every few seconds for the live feed (Pushpaka has no event stream). Logs: `GET /logs/{id}`,
and live over its WebSocket (`_logs`). Actions: redeploy (`d`: a new deployment of the
slot's branch, from Pushpaka's own source), retry (the same commit again) and rollback
(`POST /deployments/{id}/rollback` of the slot's previous successful deployment); Pushpaka
cannot cancel. Sign-in: the JWT `POST /auth/login` returns, as a bearer token.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from urllib.parse import quote

from ...domain import DeploymentEvent, LogPage
from .._foreign import ForeignClient, Snapshot
from .._logbatch import batched
from .._platform_http import JsonObject, PlatformHttp, items
from ..base import ActionAccepted, ActionRefused, Capabilities, EngineError, LogItem
from ._logs import PushpakaLogs
from ._wire import api_url, branch_of, deployment_row, log_line

PAGE = 100
"""Deployments per request (Pushpaka's largest page)."""
PAGES = 5
"""Pages read per refresh: the newest 500 deployments."""
OFFERED = frozenset({"deploy", "rollback", "retry"})
REASONS = {
    "promote": "Pushpaka has no environments to promote between",
    "cancel": "Pushpaka cannot cancel a deployment",
}


class PushpakaClient(ForeignClient):
    """An `EngineClient` over a Pushpaka's HTTP API."""

    platform = "Pushpaka"

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        token_env: str = "SHIPDECK_TOKEN",  # noqa: S107  # a variable's name
        label: str | None = None,
        poll_interval: float = 3.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        healthy_after: float = 5.0,
        timeout: float = 10.0,
        log_check_interval: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        """Create the client; nothing connects before `start()`.

        Args:
            base_url: where Pushpaka serves (`https://host`; its API is under `/api/v1`).
            token: the JWT `POST /auth/login` returned (sent as `Authorization: Bearer …`,
                and as `?token=` on the log WebSocket, as Pushpaka requires).
            token_env: the variable the token came from, named when it must be renewed.
            label: what the header calls it (default `pushpaka+` and the base URL).
            poll_interval: seconds between reads of its deployments.
            backoff_base: the first reconnection's longest delay, in seconds.
            backoff_cap: the longest delay between attempts, in seconds.
            healthy_after: seconds it must answer for the backoff to start over.
            timeout: seconds a request may wait for its answer.
            log_check_interval: seconds between checks that a followed deployment ended.
            rng: the source of jitter.
        """
        sign_in = f"sign in again (POST /api/v1/auth/login), new JWT in ${token_env}"
        http = PlatformHttp(self.platform, api_url(base_url), token, sign_in, timeout=timeout)
        super().__init__(
            label or f"pushpaka+{base_url.rstrip('/')}",
            http,
            poll_interval=poll_interval,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            healthy_after=healthy_after,
            rng=rng,
        )
        self.token_env = token_env
        self.log_check_interval = log_check_interval
        self.projects: dict[str, JsonObject] = {}
        self.listed: dict[str, JsonObject] = {}
        """The deployments of the last read, by id (an action needs their project)."""

    # -- reads -------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        projects = {
            str(p["id"]): p
            for p in items(await self.http.read("/projects"), "data")
            if isinstance(p.get("id"), str)
        }
        listed: list[JsonObject] = []
        for page in range(PAGES):
            params = {"limit": PAGE, "offset": page * PAGE}
            found = items(await self.http.read("/deployments", params), "data")
            listed.extend(found)
            if len(found) < PAGE:
                break
        self.projects = projects
        self.listed = {str(d["id"]): d for d in listed if isinstance(d.get("id"), str)}
        rows = [row for doc in listed if (row := deployment_row(doc, projects)) is not None]
        names = [str(p.get("name") or p_id) for p_id, p in projects.items()]
        # A project never deployed is shown in its own branch's column (else: those deployed).
        deployed = {d.get("project_id") for d in listed}
        branches = [branch_of({"project_id": p}, projects) for p in projects if p not in deployed]
        return Snapshot(rows, names, branches, complete=len(listed) < PAGE * PAGES)

    async def capabilities(self) -> Capabilities:
        if not self.http.token:
            return Capabilities(
                reason=f"no Pushpaka token: set ${self.token_env} to the JWT of "
                "POST /api/v1/auth/login to act",
                reasons=REASONS,
            )
        return Capabilities(
            read_only=False, reason="", actions=OFFERED, reasons=REASONS, deploy_versions=False
        )

    # -- actions -----------------------------------------------------------------------

    async def deploy(self, service: str, environment: str, version: str) -> ActionAccepted:
        """A new deployment of the slot's branch (`version` is not Pushpaka's to choose)."""
        await self._filled()
        project = next(
            (p_id for p_id, p in self.projects.items() if p.get("name") == service), None
        )
        if project is None:
            raise ActionRefused(f"Pushpaka has no project {service}", kind="not-found")
        doc = await self.http.act("/deployments", {"project_id": project, "branch": environment})
        slot = self.rows.slot(service, environment)
        return self._accepted("deploy", doc, slot[-1] if slot else None, service, environment)

    async def retry(self, deployment_id: str) -> ActionAccepted:
        row = await self.known(deployment_id)
        doc = self.listed.get(deployment_id, {})
        body = {
            "project_id": doc.get("project_id"),
            "branch": doc.get("branch") or row.environment,
            "commit_sha": doc.get("commit_sha") or "",
        }
        return self._accepted("retry", await self.http.act("/deployments", body), row)

    async def rollback(self, deployment_id: str, version: str | None = None) -> ActionAccepted:
        _, target = await self._rollback_target(deployment_id, version)
        path = f"/deployments/{quote(target.deployment_id, safe='')}/rollback"
        return self._accepted("rollback", await self.http.act(path), target)

    async def cancel(self, deployment_id: str) -> ActionAccepted:
        raise ActionRefused(REASONS["cancel"], kind="not-offered", status=501)

    def _accepted(
        self,
        action: str,
        doc: JsonObject,
        row: DeploymentEvent | None,
        service: str | None = None,
        environment: str | None = None,
    ) -> ActionAccepted:
        """The new deployment Pushpaka answered with; the feed looks at once."""
        new_id = doc.get("id")
        if not isinstance(new_id, str) or not new_id:
            raise EngineError(f"Pushpaka accepted the {action} but named no deployment")
        self.news.wake.set()
        return (
            self.accepted(action, new_id, row)
            if row
            else ActionAccepted(
                deployment_id=new_id,
                action=action,
                service=service or "",
                environment=environment or "",
                version="",
            )
        )

    # -- logs --------------------------------------------------------------------------

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        path = f"/logs/{quote(deployment_id, safe='')}"
        docs = items(await self.http.read(path), "data")
        lines = [line for n, doc in enumerate(docs, 1) if (line := log_line(doc, n))]
        page = [line for line in lines if line.seq > after][: max(1, limit)]
        more = bool(page) and page[-1].seq < lines[-1].seq
        return LogPage(items=page, next_after=page[-1].seq if more else None)

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        self.http.client  # noqa: B018  # not started: fail here, not in the background
        follower = PushpakaLogs(
            self.http,
            deployment_id,
            self.backoff,
            after=after,
            check_interval=self.log_check_interval,
        )
        name = f"shipdeck logs {deployment_id} {self.label}"
        return batched(follower.pump, after=after, name=name, pumps=self.pumps)


__all__ = ["PushpakaClient"]
