"""From a CI command's options and its job's environment to a request: the row a report
posts, the rollback a pipeline asks for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..client import ActionAccepted
from ..client.remote import RemoteClient
from ..domain import DeploymentEventIngest, utc_now
from ..tui.sanitize import sanitize
from .act import Request
from .pipeline import PipelineRun, detect
from .report import CiError, Exit, post_report

LOCAL_REPORTER = "shipdeck/report"
"""`X-Progress-Reporter` outside any CI system."""


def build_report(
    env: Mapping[str, str], options: Mapping[str, Any]
) -> tuple[DeploymentEventIngest, str]:
    """The row to post and its `X-Progress-Reporter`, from the options and what the CI job's
    environment says (an option given wins).

    Raises:
        CiError: a field is missing (`USAGE`), or one the server would refuse (`REFUSED`).
    """
    run = detect(env)
    service, environment, deployment_id = _target(run, options)
    fields: dict[str, Any] = {
        "deployment_id": deployment_id,
        "service": service,
        "environment": environment,
        "version": options.get("version_"),
        "status": options["status"],
        "happened_at": utc_now(),
        "message": options.get("message"),
    }
    if run is not None:
        fields |= {
            "run_url": run.run_url,
            "run_number": run.run_number,
            "sha": run.sha,
            "ref": run.ref,
            "actor": run.actor,
        }
    try:
        body = DeploymentEventIngest.model_validate(
            {name: value for name, value in fields.items() if value is not None}, strict=False
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CiError(f"refused before sending: {where}: {first['msg']}", Exit.REFUSED) from exc
    reporter = f"{run.system}/shipdeck" if run else LOCAL_REPORTER
    return body, reporter


def _target(run: PipelineRun | None, options: Mapping[str, Any]) -> tuple[str, str, str]:
    """`(service, environment, deployment_id)`: the options', else the CI job's."""
    service = options.get("service") or (run.project if run else None)
    environment = options.get("environment") or (run.environment if run else None)
    if not service or not environment:
        missing = "--service" if not service else "--environment"
        raise CiError(f"give {missing} (it cannot be told from this job)", Exit.USAGE)
    deployment_id = options.get("deployment_id")
    if deployment_id is None:
        if run is None:
            raise CiError(
                "give --deployment-id (outside CI there is no run to name it by)", Exit.USAGE
            )
        deployment_id = run.deployment_id(service, environment)
    return service, environment, deployment_id


def send_report(
    url: str,
    token: str | None,
    body: DeploymentEventIngest,
    reporter: str,
    options: Mapping[str, Any],
) -> str:
    """Post the row; the line to print once it is stored (sanitised: the names come from
    options and the job's environment, the row id from the server)."""
    answer = post_report(url, token, body, reporter=reporter, timeout=options["timeout"])
    version = f" {sanitize(body.version)}" if body.version else ""
    tries = f" after {answer.attempts} attempts" if answer.attempts > 1 else ""
    return (
        f"reported {body.status.value}: {sanitize(body.service)}{version} → "
        f"{sanitize(body.environment)}, deployment {sanitize(body.deployment_id)} "
        f"(row {sanitize(answer.row_id)}){tries}"
    )


def rollback_request(target: Mapping[str, str | None]) -> Request:
    """What `shipdeck rollback` asks: the deployment named, or a slot's current one.

    Raises:
        CiError: neither or both ways of naming it were given (`USAGE`).
    """
    deployment_id, version = target.get("deployment_id"), target.get("version_")
    service, environment = target.get("service"), target.get("environment")
    if (deployment_id is None) == (service is None or environment is None):
        raise CiError(
            "name what to roll back: --deployment-id ID, or --service S --environment E",
            Exit.USAGE,
        )

    async def request(client: RemoteClient) -> ActionAccepted:
        chosen = deployment_id
        if chosen is None:
            assert service is not None and environment is not None
            chosen = await current_deployment(client, service, environment)
        return await client.rollback(chosen, version)

    return request


async def current_deployment(client: RemoteClient, service: str, environment: str) -> str:
    """The deployment id of the slot's current row.

    Raises:
        CiError: the slot has none (`REFUSED`).
    """
    window = await client.matrix_window([service])
    for row in window.matrix.rows:
        slot = row.slots.get(environment)
        if row.service == service and slot is not None:
            return slot.current.deployment_id
    raise CiError(f"{service} has never been deployed to {environment}", Exit.REFUSED)


__all__ = ["build_report", "current_deployment", "rollback_request", "send_report"]
