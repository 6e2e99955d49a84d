"""Pydantic models of the deployment-dashboard contract, plus shipdeck's additive fields.

Write bodies are closed and strict (unknown fields, wrong types and bad enums are refused);
read models are open, so a client parsing a newer server's answers ignores what it does not
know (api-guidelines §3).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_serializer,
)

from .status import Status
from .timestamps import format_rfc3339, parse_rfc3339

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")

DeploymentId = Annotated[str, Field(min_length=1, max_length=200)]


def _aware(value: object) -> datetime:
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return parse_rfc3339(format_rfc3339(value))
    raise ValueError("must be an RFC 3339 date-time string with a timezone")


class _DeploymentFields(BaseModel):
    """Fields shared by an ingest body and a stored row (the contract's order)."""

    deployment_id: DeploymentId
    service: Annotated[str, Field(min_length=1, max_length=128)]
    environment: Annotated[str, Field(min_length=1, max_length=64)]
    version: Annotated[str | None, Field(max_length=50)] = None
    status: Status
    happened_at: datetime
    run_url: Annotated[str | None, Field(max_length=2048)] = None
    run_number: str | None = None
    actor: Annotated[str | None, Field(max_length=128)] = None
    ref: Annotated[str | None, Field(max_length=256)] = None
    sha: Annotated[str | None, Field(max_length=128)] = None
    parent_deployments: Annotated[list[DeploymentId], Field(max_length=32)] = Field(
        default_factory=list
    )
    phase: Annotated[str | None, Field(max_length=64)] = None
    """Additive: the executor's phase (`validating`, `pushing`, `pushed`, `monitoring`)."""
    message: Annotated[str | None, Field(max_length=4096)] = None
    """Additive: a human sentence about this transition."""

    @field_validator("happened_at", mode="plain")
    @classmethod
    def _happened_at(cls, value: object) -> datetime:
        return _aware(value)

    @field_serializer("happened_at")
    def _happened_at_text(self, value: datetime) -> str:
        return format_rfc3339(value)

    @property
    def happened_at_text(self) -> str:
        """`happened_at` exactly as it goes on the wire."""
        return format_rfc3339(self.happened_at)


class DeploymentEventIngest(_DeploymentFields):
    """Request body of `POST /api/deployments`: closed, strict."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run_number: Annotated[str, Field(max_length=128)] | int | None = None  # type: ignore[assignment]
    """A string, as the schema says; an integer (as `seeds/000` sends) is kept as its digits."""

    @field_validator("run_number", mode="after")
    @classmethod
    def _run_number_text(cls, value: str | int | None) -> str | None:
        if value is None or isinstance(value, str):
            return value
        text = str(value)
        if len(text) > 128:
            raise ValueError("must be at most 128 characters")
        return text

    @field_validator("run_url", mode="after")
    @classmethod
    def _run_url_is_uri(cls, value: str | None) -> str | None:
        if value is not None and not _URI.match(value):
            raise ValueError("must be an absolute URI (scheme:rest, no spaces)")
        return value

    @field_validator("parent_deployments", mode="after")
    @classmethod
    def _parents_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("items must be unique")
        return value


class DeploymentEvent(_DeploymentFields):
    """One stored row of the log: the ingest fields plus server-assigned ones."""

    model_config = ConfigDict(extra="ignore")

    id: str
    """Server-assigned, time-ordered row id (UUIDv7)."""
    progress_reporter: Annotated[str | None, Field(max_length=128)] = None
    """Attribution from the `X-Progress-Reporter` header."""
    trigger: str | None = None
    """Additive: what produced the row (`ingest`, `deploy`, `promote`, `rollback`, `retry`)."""

    @model_serializer(mode="wrap")
    def _wire(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        # Contract order (id first); optional fields only when set.
        ordered: dict[str, Any] = {"id": data.pop("id")}
        for key, value in data.items():
            if value is not None:
                ordered[key] = value
        return ordered


class DeploymentEventPage(BaseModel):
    """A page of `GET /api/deployments`."""

    items: list[DeploymentEvent]
    next_cursor: str | None = None


class MatrixSlot(BaseModel):
    """The reduction of one `(service, environment)` slot, as `openapi.yaml` defines it."""

    model_config = ConfigDict(extra="ignore")

    current: DeploymentEvent
    last_successful: DeploymentEvent | None = None
    next: DeploymentEvent | None = None
    prev_failed: bool | None = None


class MatrixRow(BaseModel):
    """One service's slots keyed by environment; a missing key means never deployed there."""

    model_config = ConfigDict(extra="ignore")

    service: str
    slots: dict[str, MatrixSlot]


class Matrix(BaseModel):
    """The services × environments snapshot."""

    model_config = ConfigDict(extra="ignore")

    generated_at: datetime
    environments: list[str]
    rows: list[MatrixRow]


class FetcherState(BaseModel):
    """An adapter's opaque cursor."""

    adapter: str
    cursor: str
    updated_at: datetime

    @field_serializer("updated_at")
    def _updated_at_text(self, value: datetime) -> str:
        return format_rfc3339(value)


class FetcherStateUpsert(BaseModel):
    """Body of `PUT /api/fetcher/state/{adapter}`: closed, strict."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cursor: str


class ProblemError(BaseModel):
    """One failing field of a `422`: a JSON Pointer into the request and a sentence."""

    pointer: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem detail; extension members are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemError] | None = None
