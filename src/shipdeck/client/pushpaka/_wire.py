"""Pushpaka's documents as shipdeck's rows and log lines (its `/api/v1` HTTP API).

A project is a service. Pushpaka has no environments: each branch it deploys is a column
(a deployment's `branch`, else its project's), so a project deployed from `main` only has
one. Each deployment is a logical deployment and its status now is a row: `queued`,
`building` (deploying), `running` (it succeeded and serves), `failed` (with its
`error_msg`), `stopped` (a container that ran and was stopped: success, said so; one that
never ran: cancelled). Pushpaka has no version: the commit (`commit_sha`) is shown instead,
and the commit message is the row's message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...domain import DeploymentEvent, LogLine, Status, parse_rfc3339
from ...domain.logs import LogLevel
from .._platform_http import JsonObject
from .._rows import fitted

DEFAULT_BRANCH = "main"
"""The column of a deployment that names no branch, in a project that names none."""

_LEVELS: dict[str, LogLevel] = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
}


def api_url(base_url: str) -> str:
    """Pushpaka's API under a base URL: `https://host` → `https://host/api/v1`."""
    scheme, netloc, path, _, _ = urlsplit(base_url)
    path = path.rstrip("/")
    api = path if path.endswith("/api/v1") else f"{path}/api/v1"
    return urlunsplit((scheme, netloc, api, "", ""))


def branch_of(doc: JsonObject, projects: dict[str, JsonObject]) -> str:
    """The column of a deployment: its branch, else its project's."""
    project = projects.get(_text(doc.get("project_id")) or "", {})
    return _text(doc.get("branch")) or _text(project.get("branch")) or DEFAULT_BRANCH


def deployment_row(doc: JsonObject, projects: dict[str, JsonObject]) -> DeploymentEvent | None:
    """The row of a deployment's status now (`None` for a document it cannot read)."""
    deployment_id, status_text = _text(doc.get("id")), _text(doc.get("status"))
    project = projects.get(_text(doc.get("project_id")) or "")
    if not deployment_id or project is None or not status_text:
        return None
    mapped = _status(doc, status_text)
    if mapped is None:
        return None
    status, phase, message = mapped
    when = _when(doc, status)
    if when is None:
        return None
    return fitted(
        {
            "id": f"{deployment_id}:{status_text}",
            "deployment_id": deployment_id,
            "service": _text(project.get("name")) or deployment_id,
            "environment": branch_of(doc, projects),
            "status": status,
            "happened_at": when,
            "sha": _text(doc.get("commit_sha")),
            "ref": _text(doc.get("branch")),
            "phase": phase,
            "message": message,
        }
    )


def _status(doc: JsonObject, status: str) -> tuple[Status, str | None, str | None] | None:
    """Pushpaka's status → (status, phase, message)."""
    commit = _text(doc.get("commit_msg"))
    if status == "queued":
        return Status.QUEUED, None, commit
    if status == "building":
        return Status.IN_PROGRESS, "building", commit
    if status == "running":
        return Status.SUCCESS, None, commit
    if status == "failed":
        return Status.FAILURE, None, _text(doc.get("error_msg")) or commit
    if status == "stopped":
        if _time(doc.get("finished_at")) is not None:
            return Status.SUCCESS, None, "its container was stopped since"
        return Status.CANCELLED, None, "stopped before it ran"
    return None


def _when(doc: JsonObject, status: Status) -> datetime | None:
    keys: tuple[str, ...] = ("finished_at", "updated_at", "started_at", "created_at")
    if status is Status.QUEUED:
        keys = ("created_at",)
    elif status is Status.IN_PROGRESS:
        keys = ("started_at", "created_at")
    for key in keys:
        if (found := _time(doc.get(key))) is not None:
            return found
    return None


def log_line(doc: JsonObject, seq: int) -> LogLine | None:
    """A `DeploymentLog` as a log line at place `seq` (Pushpaka numbers none)."""
    at = _time(doc.get("created_at"))
    if at is None:
        return None
    stream = doc.get("stream")
    return LogLine(
        seq=seq,
        at=at,
        level=_LEVELS.get(str(doc.get("level")), "info"),
        stream=stream if stream in ("stdout", "stderr", "system") else "system",
        message=_text(doc.get("message")) or "",
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


__all__ = ["DEFAULT_BRANCH", "api_url", "branch_of", "deployment_row", "log_line"]
