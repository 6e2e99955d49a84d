"""The row an ingest body becomes: what `POST /api/deployments` and `shipdeck import` append.

Both validate a body with `DeploymentEventIngest` (strict, closed) under the same size limit
(`INGEST_BODY_LIMIT`), and both build its row here (`ingest_row`), so an imported row is the
row the API would have stored, byte for byte.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import uuid_utils
from pydantic_core import to_json

from ..domain import DeploymentEvent, DeploymentEventIngest, Status, format_rfc3339
from .store import NewDeploymentRow

INGEST_BODY_LIMIT = 64 * 1024
"""The largest ingest body, in bytes: the API refuses a longer one (`413`), the importer a
longer line."""
TRIGGER = "ingest"
"""The `trigger` of an ingested row."""

RowValues = tuple[str, str, str, str, str, int, str | None, str, str | None]
"""A `NewDeploymentRow`'s fields, the status by its value: cheap to pickle."""

_FIELDS = tuple(DeploymentEventIngest.model_fields)
assert (*_FIELDS, "id", "progress_reporter", "trigger") == tuple(DeploymentEvent.model_fields)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_STATUSES = {status.value: status for status in Status}


def ingest_document(
    row_id: str,
    body: DeploymentEventIngest,
    progress_reporter: str | None = None,
    trigger: str | None = TRIGGER,
) -> str:
    """The stored row's JSON, as `DeploymentEvent(id=row_id, **body, …).model_dump_json()`
    writes it (id first, the body's fields in the contract's order, then the server's; no
    nulls), built without a second model (a test holds the two equal)."""
    doc: dict[str, Any] = {"id": row_id}
    for name, value in body.__dict__.items():  # the contract's order, as the row's
        if value is not None:
            doc[name] = value
    doc["happened_at"] = _utc_text(body.happened_at)
    doc["status"] = body.status.value
    if progress_reporter is not None:
        doc["progress_reporter"] = progress_reporter
    if trigger is not None:
        doc["trigger"] = trigger
    return to_json(doc).decode()


def _utc_text(moment: datetime) -> str:
    """`format_rfc3339` of a validated time (already in UTC), in half the time."""
    if moment.tzinfo is not UTC:
        return format_rfc3339(moment)
    text = moment.isoformat()[:-6]  # without "+00:00"
    return (text.rstrip("0") if moment.microsecond else text) + "Z"


def ingest_row_values(
    body: DeploymentEventIngest, *, progress_reporter: str | None = None, trigger: str = TRIGGER
) -> RowValues:
    """`ingest_row` as `NewDeploymentRow`'s values (what a parsing process sends back)."""
    row_id = str(uuid_utils.uuid7())
    return (
        row_id,
        body.deployment_id,
        body.service,
        body.environment,
        body.status.value,
        (body.happened_at - _EPOCH) // _MICROSECOND,
        body.actor,
        ingest_document(row_id, body, progress_reporter, trigger),
        body.namespace,
    )


def ingest_row(
    body: DeploymentEventIngest, *, progress_reporter: str | None = None, trigger: str = TRIGGER
) -> NewDeploymentRow:
    """The row a validated ingest body is appended as, under a new time-ordered id."""
    return row_of(ingest_row_values(body, progress_reporter=progress_reporter, trigger=trigger))


def row_of(values: RowValues) -> NewDeploymentRow:
    """The row of `ingest_row_values`."""
    row_id, deployment_id, service, environment, status, at, actor, doc, namespace = values
    return NewDeploymentRow(
        row_id, deployment_id, service, environment, _STATUSES[status], at, actor, doc, namespace
    )


__all__ = [
    "INGEST_BODY_LIMIT",
    "TRIGGER",
    "RowValues",
    "ingest_document",
    "ingest_row",
    "ingest_row_values",
    "row_of",
]
