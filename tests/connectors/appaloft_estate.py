"""The Appaloft fake's estate: projects, environments, resources and deployments, as its
documents show them (ids prefixed `prj_`, `env_`, `res_`, `dep_`, `srv_`, `dst_`)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipdeck.domain import DeploymentEventIngest

SERVER, DESTINATION = "srv_0tgl8v379vdf", "dst_wyd06s5jk1ms"
FINAL = {"succeeded", "failed", "canceled", "interrupted", "rolled-back"}
_FROM_ROW = {
    "queued": "created",
    "pending": "created",
    "waiting": "created",
    "in-progress": "running",
    "success": "succeeded",
    "failure": "failed",
    "cancelled": "canceled",
    "rejected": "canceled",
}
"""A shipdeck row's status → the Appaloft status a deployment would be in."""


def stamp(moment: datetime | None = None) -> str:
    """Appaloft's timestamps: `2026-11-23T09:21:47.639Z`."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def entry(
    deployment_id: str,
    sequence: int,
    message: str,
    *,
    kind: str = "status",
    phase: str = "deploy",
    level: str = "info",
    status: str | None = None,
    stream: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A `deployments.timeline/v1` entry, as the captures show it."""
    item: dict[str, Any] = {
        "deploymentId": deployment_id,
        "sequence": sequence,
        "cursor": f"{deployment_id}:{sequence}",
        "occurredAt": stamp(at),
        "source": "docker" if kind == "output" else "appaloft",
        "kind": kind,
        "phase": phase,
        "level": level,
        "message": message,
    }
    if status is not None:
        item["status"] = status
    if stream is not None:
        item["stream"] = stream
    if kind == "status":
        item["step"] = {"current": 4, "total": 5, "label": "Start runtime"}
    return item


@dataclass
class Project:
    id: str
    name: str
    slug: str

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organizationId": "org_self_hosted",
            "name": self.name,
            "slug": self.slug,
            "lifecycleStatus": "active",
            "createdAt": "2026-11-23T09:18:00.000Z",
        }


@dataclass
class Environment:
    id: str
    project_id: str
    name: str

    def doc(self) -> dict[str, Any]:
        kind = self.name if self.name in ("production", "staging") else "custom"
        return {
            "id": self.id,
            "projectId": self.project_id,
            "name": self.name,
            "kind": kind,
            "lifecycleStatus": "active",
            "createdAt": "2026-11-23T09:18:00.000Z",
            "maskedVariables": [],
        }


@dataclass
class Resource:
    id: str
    project_id: str
    environment_id: str
    name: str
    image: str

    def doc(self, estate: Estate) -> dict[str, Any]:
        mine = [d for d in estate.deployments.values() if d.resource_id == self.id]
        last = max(mine, key=lambda d: d.created_at) if mine else None
        doc: dict[str, Any] = {
            "id": self.id,
            "projectId": self.project_id,
            "environmentId": self.environment_id,
            "destinationId": DESTINATION,
            "name": self.name,
            "slug": self.name.lower(),
            "kind": "application",
            "createdAt": "2026-11-23T09:18:00.000Z",
            "services": [],
            "deploymentCount": len(mine),
        }
        if last is not None:
            doc |= {"lastDeploymentId": last.id, "lastDeploymentStatus": last.status}
        return doc


@dataclass
class Deployment:
    id: str
    project_id: str
    environment_id: str
    resource_id: str
    status: str
    image: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    trigger: str = "create"
    sha: str | None = None
    parent: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def touch(self) -> None:
        """Wake every stream waiting on this deployment."""
        old, self.changed = self.changed, asyncio.Event()
        old.set()

    def doc(self) -> dict[str, Any]:
        """A `GET /deployments` item, as a real 1.10.5 lists one."""
        doc: dict[str, Any] = {
            "id": self.id,
            "projectId": self.project_id,
            "environmentId": self.environment_id,
            "resourceId": self.resource_id,
            "target": {"kind": "server-backed", "serverId": SERVER, "destinationId": DESTINATION},
            "serverId": SERVER,
            "destinationId": DESTINATION,
            "status": self.status,
            "triggerKind": self.trigger,
            "runtimePlan": {
                "id": f"plan_{self.id[4:]}",
                "source": {
                    "kind": "docker-image",
                    "locator": self.image,
                    "displayName": self.image,
                    "metadata": {"imageName": self.image.rsplit(":", 1)[0]},
                },
                "buildStrategy": "prebuilt-image",
                "packagingMode": "all-in-one-docker",
                "runtimeArtifact": {
                    "kind": "image",
                    "intent": "prebuilt-image",
                    "image": self.image,
                },
                "execution": {"kind": "docker-container", "port": 3000},
                "target": {"kind": "single-server", "providerKey": "local-shell"},
                "detectSummary": "Detected source kind: docker-image",
                "steps": ["Run docker container", "Verify internal container health"],
                "generatedAt": stamp(self.created_at),
            },
            "environmentSnapshot": {
                "id": f"snap_{self.id[4:]}",
                "environmentId": self.environment_id,
                "createdAt": stamp(self.created_at),
                "precedence": ["defaults", "environment", "resource", "deployment"],
                "variables": [],
            },
            "dependencyBindingReferences": [],
            "timeline": [
                {k: e[k] for k in ("source", "phase", "level", "message")}
                | {"timestamp": e["occurredAt"]}
                for e in self.timeline
                if e["kind"] != "output"
            ],
            "timelineCount": len(self.timeline),
            "createdAt": stamp(self.created_at),
        }
        if self.sha:
            doc["sourceCommitSha"] = self.sha
        if self.parent:
            key = "rollbackOfDeploymentId" if self.trigger == "rollback" else "sourceDeploymentId"
            doc[key] = self.parent
        for key, moment in (("startedAt", self.started_at), ("finishedAt", self.finished_at)):
            if moment is not None:
                doc[key] = stamp(moment)
        return doc


@dataclass
class Estate:
    """Everything the fake serves."""

    projects: dict[str, Project] = field(default_factory=dict)
    envs: dict[str, Environment] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):012d}"

    def project(self, name: str) -> Project:
        """The project named `name` (made on first use)."""
        for project in self.projects.values():
            if project.name == name:
                return project
        project = Project(self.new_id("prj"), name, name.lower().replace(" ", "-"))
        self.projects[project.id] = project
        return project

    def environment(self, project: Project, name: str) -> Environment:
        for env in self.envs.values():
            if env.project_id == project.id and env.name == name:
                return env
        env = Environment(self.new_id("env"), project.id, name)
        self.envs[env.id] = env
        return env

    def resource(self, service: str, environment: str, project: str = "Shop") -> Resource:
        """The resource of `service` in `environment` (made on first use)."""
        prj = self.project(project)
        env = self.environment(prj, environment)
        for res in self.resources.values():
            if res.environment_id == env.id and res.name == service:
                return res
        res = Resource(
            self.new_id("res"), prj.id, env.id, service, f"registry.example.com/{service}"
        )
        self.resources[res.id] = res
        return res

    def create(
        self,
        resource_id: str,
        image: str,
        *,
        trigger: str = "create",
        parent: str | None = None,
        deployment_id: str | None = None,
        at: datetime | None = None,
    ) -> Deployment:
        """A new deployment of a resource, `created` (queued)."""
        res = self.resources[resource_id]
        deployment = Deployment(
            deployment_id or self.new_id("dep"),
            res.project_id,
            res.environment_id,
            res.id,
            "created",
            image,
            at or datetime.now(UTC),
            trigger=trigger,
            parent=parent,
        )
        self.deployments[deployment.id] = deployment
        return deployment

    def start_like(self, source: Deployment, *, trigger: str, parent: str) -> Deployment:
        """A retry or rollback: the source's image again, in its resource."""
        new = self.create(source.resource_id, source.image, trigger=trigger, parent=parent)
        new.sha = source.sha
        return new

    def advance(
        self,
        deployment_id: str,
        status: str,
        phase: str = "deploy",
        message: str | None = None,
        at: datetime | None = None,
    ) -> Deployment:
        """Move a deployment to `status`, with a `status` timeline entry for the step."""
        deployment = self.deployments[deployment_id]
        moment = at or datetime.now(UTC)
        deployment.status = status
        if status != "created" and deployment.started_at is None:
            deployment.started_at = moment
        if status in FINAL:
            deployment.finished_at = moment
        step = {"running": "running", "succeeded": "succeeded"}.get(status, "failed")
        if status == "canceled":
            step = "succeeded"
        level = "error" if step == "failed" else "info"
        text = message or f"{phase}: {status}"
        self.log(
            deployment_id, text, kind="status", phase=phase, level=level, status=step, at=moment
        )
        return deployment

    def log(self, deployment_id: str, message: str, **fields: Any) -> None:
        """Append a timeline entry (an output line unless `kind` says otherwise)."""
        deployment = self.deployments[deployment_id]
        fields.setdefault("kind", "output")
        if fields["kind"] == "output":
            fields.setdefault("stream", "stdout")
        deployment.timeline.append(
            entry(deployment_id, len(deployment.timeline) + 1, message, **fields)
        )
        deployment.touch()

    def report(self, body: DeploymentEventIngest) -> Deployment:
        """What CI would have made Appaloft do for a shipdeck row (for the shared suite)."""
        status = _FROM_ROW[body.status.value]
        existing = self.deployments.get(body.deployment_id)
        if existing is None:
            res = self.resource(body.service, body.environment)
            image = f"{res.image}:{body.version}" if body.version else res.image
            existing = self.create(
                res.id, image, deployment_id=body.deployment_id, at=body.happened_at
            )
            existing.sha = body.sha
            if body.parent_deployments:
                existing.trigger, existing.parent = "retry", body.parent_deployments[0]
        if status != "created":
            existing.status = status
            existing.started_at = existing.started_at or body.happened_at
            if status in FINAL:
                existing.finished_at = body.happened_at
            existing.touch()
        return existing


__all__ = ["FINAL", "Deployment", "Estate", "entry", "stamp"]
