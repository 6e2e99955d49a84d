"""`AppaloftClient`: an Appaloft (1.10.5) seen through the `EngineClient` interface.

Reads: `GET /projects`, `/environments`, `/resources` and `/deployments` (the newest 500)
make the matrix and the history (`_wire`); a deployment's detail adds the phases of its
timeline. Live: the deployments are read again every few seconds, and each running one's
timeline stream is followed for its phases (`_timeline`); its end comes with the next read.
Logs: the timeline, history then live, resumed by cursor. Actions: redeploy (`d`: Appaloft
redeploys a resource from its own source, there is no version to pick), retry, rollback (to
the slot's previous successful deployment) and cancel. Sign-in: its bearer session token.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

from ...domain import DeploymentEvent, LogPage
from .._foreign import ForeignClient, Snapshot, version_label
from .._logbatch import batched
from .._platform_http import JsonObject, PlatformHttp, SignInNeeded, error_code, items
from .._watch import Follow
from ..base import ActionAccepted, ActionRefused, Capabilities, EngineError, LogItem
from ._timeline import LogFollower, TimelineReader, follow_phases, timeline_path
from ._wire import Catalog, deployment_row, log_line, phase_row

LISTED = 500
"""Deployments read per refresh (Appaloft's largest page): the newest ones."""
OFFERED = frozenset({"deploy", "rollback", "cancel", "retry"})
NO_PROMOTION = "Appaloft has no promotion between environments that shipdeck can send"


def api_url(base_url: str) -> str:
    """Appaloft's API under a base URL: `http://host:3001` → `http://host:3001/api`."""
    scheme, netloc, path, _, _ = urlsplit(base_url)
    path = path.rstrip("/")
    return urlunsplit((scheme, netloc, path if path.endswith("/api") else f"{path}/api", "", ""))


class AppaloftClient(ForeignClient):
    """An `EngineClient` over an Appaloft's HTTP API."""

    platform = "Appaloft"

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
        rng: random.Random | None = None,
    ) -> None:
        """Create the client; nothing connects before `start()`.

        Args:
            base_url: where Appaloft serves (`http://host:3001`; its API is under `/api`).
            token: its session token (sent as `Authorization: Bearer …`).
            token_env: the variable the token came from, named when it must be renewed.
            label: what the header calls it (default `appaloft+` and the base URL).
            poll_interval: seconds between reads of its deployments.
            backoff_base: the first reconnection's longest delay, in seconds.
            backoff_cap: the longest delay between attempts, in seconds.
            healthy_after: seconds it must answer for the backoff to start over.
            timeout: seconds a request may wait for its answer.
            rng: the source of jitter.
        """
        sign_in = f"sign in again (POST /api/auth/sign-in/email), new token in ${token_env}"
        http = PlatformHttp(self.platform, api_url(base_url), token, sign_in, timeout=timeout)
        super().__init__(
            label or f"appaloft+{base_url.rstrip('/')}",
            http,
            poll_interval=poll_interval,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            healthy_after=healthy_after,
            rng=rng,
        )
        self.token_env = token_env
        self.catalog = Catalog()
        self._servers: dict[str, str] = {}
        """Per resource id: the server of its newest deployment (a redeploy names one)."""

    # -- reads -------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        http = self.http
        answers = await asyncio.gather(
            http.read("/projects"),
            http.read("/environments"),
            http.read("/resources"),
            http.read("/deployments", {"limit": LISTED}),
            return_exceptions=True,  # every answer awaited, the first failure raised
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        projects, environments, resources, deployments = answers
        catalog = Catalog.of(items(projects), items(environments), items(resources))
        listed = items(deployments)
        self.catalog = catalog
        servers: dict[str, str] = {}
        for doc in sorted(listed, key=lambda d: str(d.get("createdAt", ""))):
            resource, server = doc.get("resourceId"), doc.get("serverId")
            if isinstance(resource, str) and isinstance(server, str):
                servers[resource] = server
        self._servers = servers
        rows = [row for doc in listed if (row := deployment_row(doc, catalog)) is not None]
        return Snapshot(rows, catalog.services(), catalog.environment_names(), len(listed) < LISTED)

    async def detail(self, deployment_id: str) -> None:
        """Add the phases of the deployment's timeline (its `status` entries).

        A timeline that cannot be read (pruned, unknown, Appaloft failing or answering
        something else than JSON) adds nothing: the deployment is shown as the listing gave
        it, with the rows already known. Only a refused token is raised (`SignInNeeded`).
        """
        running = self.rows.latest(deployment_id)
        if running is None:
            return
        path = timeline_path(deployment_id)
        try:
            response = await self.http.send("GET", path, params={"limit": LISTED})
            if not response.is_success:
                return  # no timeline (pruned, unknown): the rows known are the detail
            doc = self.http.json(response, path)
        except SignInNeeded:
            raise
        except EngineError:
            return  # unreachable, or not JSON: the listing's rows are the detail
        for entry in items(doc, "entries"):
            row = phase_row(entry, running)
            if row is not None:
                self.rows.add(row)

    async def capabilities(self) -> Capabilities:
        reasons = {"promote": NO_PROMOTION}
        if not self.http.token:
            return Capabilities(
                reason=f"no Appaloft token: set ${self.token_env} to a session token "
                "(POST /api/auth/sign-in/email) to act",
                reasons=reasons,
            )
        try:
            context = await self.http.read("/organizations/current-context")
        except SignInNeeded as refused:
            return Capabilities(reason=str(refused), reasons=reasons)
        user = context.get("user") if isinstance(context, dict) else None
        org = context.get("currentOrganization") if isinstance(context, dict) else None
        principal = user.get("email") or user.get("displayName") if isinstance(user, dict) else None
        role = org.get("role") if isinstance(org, dict) else None
        return Capabilities(
            read_only=False,
            principal=principal if isinstance(principal, str) else None,
            role=role if isinstance(role, str) else None,
            reason="",
            actions=OFFERED,
            reasons=reasons,
            deploy_versions=False,
        )

    # -- actions -----------------------------------------------------------------------

    async def deploy(self, service: str, environment: str, version: str) -> ActionAccepted:
        """Redeploy the slot's resource from its own source (`version` is not Appaloft's to
        choose: it is ignored)."""
        await self._filled()
        resource = self.catalog.slot_of(service, environment)
        if resource is None:
            raise ActionRefused(
                f"Appaloft has no resource {service} in {environment}", kind="not-found"
            )
        resource_id = str(resource["id"])
        server = self._servers.get(resource_id)
        if server is None:
            raise ActionRefused(
                f"{service} was never deployed to {environment}: deploy it once from Appaloft "
                "(a redeploy needs the server of an earlier deployment)",
                kind="no-server",
            )
        body = {
            "projectId": resource.get("projectId"),
            "environmentId": resource.get("environmentId"),
            "serverId": server,
        }
        doc = await self.http.act(f"/resources/{quote(resource_id, safe='')}/redeploy", body)
        slot = self.rows.slot(service, environment)
        return self._accepted("deploy", doc, slot[-1] if slot else None, service, environment)

    async def retry(self, deployment_id: str) -> ActionAccepted:
        row = await self.known(deployment_id)
        doc = await self.http.act(f"{_path(deployment_id)}/retry", {})
        return self._accepted("retry", doc, row)

    async def rollback(self, deployment_id: str, version: str | None = None) -> ActionAccepted:
        _, target = await self._rollback_target(deployment_id, version)
        body = {"rollbackCandidateDeploymentId": target.deployment_id}
        doc = await self.http.act(f"{_path(deployment_id)}/rollback", body)
        return self._accepted("rollback", doc, target)

    async def cancel(self, deployment_id: str) -> ActionAccepted:
        row = await self.known(deployment_id)
        await self.http.act(f"{_path(deployment_id)}/cancel", {"confirm": deployment_id})
        self.news.wake.set()
        return self.accepted("cancel", deployment_id, row, status="cancelled")

    def _accepted(
        self,
        action: str,
        doc: JsonObject,
        row: DeploymentEvent | None,
        service: str | None = None,
        environment: str | None = None,
    ) -> ActionAccepted:
        """The new deployment Appaloft named (`{"id": …}`); the feed looks at once."""
        new_id = doc.get("id")
        if not isinstance(new_id, str) or not new_id:
            raise EngineError(f"Appaloft accepted the {action} but named no deployment")
        self.news.wake.set()
        return ActionAccepted(
            deployment_id=new_id,
            action=action,
            service=row.service if row else service or "",
            environment=row.environment if row else environment or "",
            version=version_label(row) if row else "",
        )

    # -- logs and live phases ----------------------------------------------------------

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        params: dict[str, str | int] = {"limit": max(1, min(limit, LISTED))}
        if after > 0:
            params["cursor"] = f"{deployment_id}:{after}"
        path = timeline_path(deployment_id)
        response = await self.http.send("GET", path, params=params)
        if response.status_code == 404 and error_code(response) is not None:  # its own 404
            raise EngineError(f"Appaloft knows no deployment {deployment_id}")
        if not response.is_success:
            raise self.http.failed(response, path)
        doc = self.http.json(response, path)
        lines = [line for e in items(doc, "entries") if (line := log_line(e)) and line.seq > after]
        more = isinstance(doc, dict) and doc.get("hasMore") is True and lines
        return LogPage(items=lines, next_after=lines[-1].seq if more else None)

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        self.http.client  # noqa: B018  # not started: fail here, not in the background
        cursor = f"{deployment_id}:{after}" if after > 0 else None
        reader = TimelineReader(self.http, deployment_id, self.backoff, cursor)
        follower = LogFollower(reader, last=after)
        name = f"shipdeck logs {deployment_id} {self.label}"
        return batched(follower.pump, after=after, name=name, pumps=self.pumps)

    def follower(self) -> Follow:
        """Each running deployment's timeline stream, for its phases as they happen."""

        def report(rows: list[DeploymentEvent]) -> bool:
            self.news.report([row for row in rows if self.rows.add(row)])
            return True

        async def follow(running: DeploymentEvent) -> None:
            reader = TimelineReader(self.http, running.deployment_id, self.backoff)
            await follow_phases(reader, running, report)

        return follow


def _path(deployment_id: str) -> str:
    return f"/deployments/{quote(deployment_id, safe='')}"


__all__ = ["AppaloftClient", "api_url"]
