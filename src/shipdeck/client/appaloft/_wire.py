"""Appaloft's documents as shipdeck's rows and log lines (Appaloft 1.10.5's HTTP API).

Projects × environments hold resources; a resource is a service of the matrix, named by
its resource name (prefixed with its project's slug when there are several projects), in
the column of its environment's name. Each deployment is a logical deployment; the status
it is in now becomes a row (`created` → queued, `planning`/`planned`/`running` → deploying,
`succeeded`/`failed`/`canceled`, `interrupted` and `rolled-back` → failure). The version is
the image tag of a prebuilt image (`ghcr.io/acme/api:1.7.3` → `1.7.3`); a built one has none,
and its commit (`sourceCommitSha`) and ref are shown instead. A retry or rollback names the
deployment it came from as its parent. Timeline entries (`deployments.timeline/v1`) are log
lines, and those of `kind: status` are also the phases of a running deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...domain import DeploymentEvent, LogLine, Status, parse_rfc3339
from .._platform_http import JsonObject
from .._rows import fitted

_STATUS: dict[str, tuple[Status, str | None, str | None]] = {
    "created": (Status.QUEUED, None, None),
    "planning": (Status.IN_PROGRESS, "planning", None),
    "planned": (Status.IN_PROGRESS, "planned", None),
    "running": (Status.IN_PROGRESS, None, None),
    "cancel-requested": (Status.IN_PROGRESS, "cancelling", "cancel requested"),
    "succeeded": (Status.SUCCESS, None, None),
    "failed": (Status.FAILURE, None, None),
    "canceled": (Status.CANCELLED, None, None),
    "interrupted": (Status.FAILURE, None, "interrupted"),
    "rolled-back": (Status.FAILURE, None, "rolled back: the previous version kept running"),
}
"""Appaloft's deployment status → (status, phase, message)."""

_STEPS = ("status", "lifecycle", "step")
"""Timeline entries that say which phase a deployment is in."""
_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}
_PARENTS = ("sourceDeploymentId", "rollbackOfDeploymentId")
_TRIGGERS = {"create": "deploy", "redeploy": "deploy", "force-redeploy": "deploy"}


@dataclass
class Catalog:
    """Appaloft's projects, environments and resources, by id."""

    projects: dict[str, JsonObject] = field(default_factory=dict)
    environments: dict[str, JsonObject] = field(default_factory=dict)
    resources: dict[str, JsonObject] = field(default_factory=dict)

    @classmethod
    def of(
        cls, projects: list[JsonObject], environments: list[JsonObject], resources: list[JsonObject]
    ) -> Catalog:
        """The catalog of three listings (items without a string `id` are skipped)."""
        return cls(_by_id(projects), _by_id(environments), _by_id(resources))

    def environment_name(self, environment_id: str) -> str:
        """An environment's name (its id when Appaloft did not list it)."""
        env = self.environments.get(environment_id, {})
        return _text(env.get("name")) or environment_id

    def service_name(self, resource_id: str) -> str:
        """A resource's service name: its name, after its project's slug when several."""
        resource = self.resources.get(resource_id, {})
        name = _text(resource.get("name")) or _text(resource.get("slug")) or resource_id
        if len(self.projects) > 1:
            project = self.projects.get(_text(resource.get("projectId")) or "", {})
            slug = _text(project.get("slug")) or _text(project.get("name"))
            if slug:
                return f"{slug}/{name}"
        return name

    def services(self) -> list[str]:
        """Every resource's service name."""
        return [self.service_name(resource_id) for resource_id in self.resources]

    def environment_names(self) -> list[str]:
        """Every environment's name."""
        return [self.environment_name(env_id) for env_id in self.environments]

    def slot_of(self, service: str, environment: str) -> JsonObject | None:
        """The resource shown at (service, environment), if any."""
        for resource_id, resource in self.resources.items():
            if (
                self.service_name(resource_id) == service
                and self.environment_name(_text(resource.get("environmentId")) or "") == environment
            ):
                return resource
        return None


def deployment_row(doc: JsonObject, catalog: Catalog) -> DeploymentEvent | None:
    """The row of a deployment's status now (`None` for a document it cannot read)."""
    deployment_id, status_text = _text(doc.get("id")), _text(doc.get("status"))
    resource_id = _text(doc.get("resourceId")) or ""
    environment_id = _text(doc.get("environmentId")) or ""
    if not deployment_id or status_text not in _STATUS:
        return None
    status, phase, message = _STATUS[status_text]
    when = _when(doc, status)
    if when is None:
        return None
    parents = [p for key in _PARENTS if (p := _text(doc.get(key))) and p != deployment_id]
    trigger = _text(doc.get("triggerKind"))
    fields = {
        "id": f"{deployment_id}:{status_text}",
        "deployment_id": deployment_id,
        "service": catalog.service_name(resource_id),
        "environment": catalog.environment_name(environment_id),
        "version": _image_tag(doc),
        "status": status,
        "happened_at": when,
        "sha": _text(doc.get("sourceCommitSha")),
        "ref": _source_ref(doc),
        "parent_deployments": list(dict.fromkeys(parents)),
        "phase": phase,
        "message": message or (_failure(doc) if status is Status.FAILURE else None),
        "trigger": _TRIGGERS.get(trigger or "", trigger),
    }
    return fitted(fields)


def phase_row(entry: JsonObject, running: DeploymentEvent) -> DeploymentEvent | None:
    """A deployment's row for one timeline entry of its own steps (`kind` `status`, or
    `lifecycle` as a real 1.10.5 sends them live too): the phase it was in then. None for
    output, and for an entry not before the end of a deployment that ended."""
    cursor, occurred = _text(entry.get("cursor")), _time(entry.get("occurredAt"))
    phase = _text(entry.get("phase"))
    if entry.get("kind") not in _STEPS or not cursor or occurred is None or not phase:
        return None
    if running.status not in (Status.QUEUED, Status.IN_PROGRESS) and (
        occurred >= running.happened_at
    ):
        return None
    fields = running.model_dump()
    fields.update(
        id=cursor,
        status=Status.IN_PROGRESS,
        happened_at=occurred,
        phase=phase,
        message=_text(entry.get("message")),
    )
    return fitted(fields)


def log_line(entry: JsonObject) -> LogLine | None:
    """A timeline entry as a log line (its `sequence` is the line's place)."""
    sequence, occurred = entry.get("sequence"), _time(entry.get("occurredAt"))
    if not isinstance(sequence, int) or sequence < 1 or occurred is None:
        return None
    stream = entry.get("stream")
    return LogLine(
        seq=sequence,
        at=occurred,
        level=_LEVELS.get(_text(entry.get("level")) or "", "info"),
        stream=stream if stream in ("stdout", "stderr") else "system",
        message=_text(entry.get("message")) or "",
    )


def _when(doc: JsonObject, status: Status) -> datetime | None:
    """When the deployment reached its status: finished, started, or created."""
    keys: tuple[str, ...] = ("finishedAt", "startedAt", "createdAt")
    if status is Status.IN_PROGRESS:
        keys = ("startedAt", "createdAt")
    elif status is Status.QUEUED:
        keys = ("createdAt",)
    for key in keys:
        if (found := _time(doc.get(key))) is not None:
            return found
    return None


def _image_tag(doc: JsonObject) -> str | None:
    """The tag of a prebuilt image (`registry/name:1.7.3` → `1.7.3`), else none."""
    artifact = _dig(doc, "runtimePlan", "runtimeArtifact")
    image = _text(artifact.get("image")) if artifact else None
    if not image or artifact.get("intent") == "build-image":
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or not tag or tag == "latest":
        return None
    return tag[:50]


def _source_ref(doc: JsonObject) -> str | None:
    metadata = _dig(doc, "runtimePlan", "source", "metadata") or {}
    return _text(metadata.get("gitRef")) or _text(metadata.get("branch"))


def _failure(doc: JsonObject) -> str | None:
    """The last error of the deployment's journal (the list carries it as `timeline`)."""
    journal = doc.get("timeline")
    if not isinstance(journal, list):
        return None
    errors = [e for e in journal if isinstance(e, dict) and e.get("level") == "error"]
    errors.sort(key=lambda e: _text(e.get("timestamp")) or "")
    return _text(errors[-1].get("message")) if errors else None


def _dig(doc: JsonObject, *keys: str) -> JsonObject:
    for key in keys:
        found = doc.get(key)
        if not isinstance(found, dict):
            return {}
        doc = found
    return doc


def _by_id(items: list[JsonObject]) -> dict[str, JsonObject]:
    return {item["id"]: item for item in items if isinstance(item.get("id"), str)}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


__all__ = ["Catalog", "deployment_row", "log_line", "phase_row"]
