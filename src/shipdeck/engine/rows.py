"""What the engine writes itself: its rows, the states of an execution, promotion runs.

Shared by the action and promotion decisions and by the executor; it imports neither.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import uuid_utils

from ..domain import Action, DeploymentEvent, Status, to_micros
from .store import ExecutionRecord, NewDeploymentRow, PromotionRecord

REPORTER = "shipdeck"
"""`progress_reporter` of every row the engine appends itself."""

QUEUED, RUNNING, DONE = "queued", "running", "done"
"""States of an execution."""


def new_deployment_id() -> str:
    """A fresh logical deployment key for a run the engine starts (time-ordered)."""
    return f"sd-{uuid_utils.uuid7()}"


def micros_to_datetime(value: int) -> datetime:
    """A stored µs timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def make_row(
    execution: ExecutionRecord,
    status: Status,
    at: datetime,
    *,
    phase: str | None = None,
    message: str | None = None,
) -> NewDeploymentRow:
    """A row of `execution`'s logical deployment, happening at `at`."""
    fields: dict[str, Any] = {
        "deployment_id": execution.deployment_id,
        "service": execution.service,
        "environment": execution.environment,
        "version": execution.version,
        "status": status,
        "happened_at": at,
        "actor": execution.actor,
        "parent_deployments": list(execution.parents),
        "phase": phase,
        "message": message,
    }
    event = DeploymentEvent.model_construct(
        id=str(uuid_utils.uuid7()),
        progress_reporter=REPORTER,
        trigger=execution.action,
        **{k: v for k, v in fields.items() if v is not None},
    )
    return NewDeploymentRow(
        id=event.id,
        deployment_id=execution.deployment_id,
        service=execution.service,
        environment=execution.environment,
        status=status,
        happened_at=to_micros(event.happened_at),
        actor=execution.actor,
        doc=event.model_dump_json(),
    )


def promotion_execution(
    record: PromotionRecord, state: str = DONE, requested_at: int | None = None
) -> ExecutionRecord:
    """The run a promotion stands for (queued once it is approved)."""
    return ExecutionRecord(
        deployment_id=record.deployment_id,
        service=record.service,
        environment=record.to_environment,
        version=record.version,
        action=Action.PROMOTE.value,
        actor=record.requester,
        parents=(record.source_deployment_id,) if record.source_deployment_id else (),
        state=state,
        requested_at=record.created_at if requested_at is None else requested_at,
    )


__all__ = [
    "DONE",
    "QUEUED",
    "REPORTER",
    "RUNNING",
    "make_row",
    "micros_to_datetime",
    "new_deployment_id",
    "promotion_execution",
]
