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
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_serializer,
)

from .status import Status
from .timestamps import format_rfc3339, parse_rfc3339

URI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:[!-~]+$"
"""An absolute URI: a scheme, a colon, then printable ASCII without spaces (RFC 3986 has
no other characters). The same text in Python and in JSON Schema."""
_URI = re.compile(URI_PATTERN)

DATE_TIME_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 with `Z` or a `±HH:MM` offset; in UTC within years 0001 to 9999.",
}
"""How a date-time field reads in the OpenAPI document (it is validated by `parse_rfc3339`)."""

DateTimeText = WithJsonSchema(DATE_TIME_SCHEMA)
OptionalDateTimeText = WithJsonSchema({"anyOf": [DATE_TIME_SCHEMA, {"type": "null"}]})

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON reader holds exactly (JavaScript's `Number.MAX_SAFE_INTEGER`)."""


def _integral(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInteger = BeforeValidator(_integral)
"""An `int` field that takes what JSON Schema calls an integer: `20.0` is `20`."""

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
    happened_at: Annotated[datetime, DateTimeText]
    run_url: Annotated[str | None, Field(max_length=2048)] = None
    run_number: str | None = None
    actor: Annotated[str | None, Field(max_length=128)] = None
    ref: Annotated[str | None, Field(max_length=256)] = None
    sha: Annotated[str | None, Field(max_length=128)] = None
    parent_deployments: Annotated[
        list[DeploymentId], Field(max_length=32, json_schema_extra={"uniqueItems": True})
    ] = Field(default_factory=list)
    phase: Annotated[str | None, Field(max_length=64)] = None
    """Additive: the executor's phase (`validating`, `pushing`, `pushed`, `monitoring`)."""
    message: Annotated[str | None, Field(max_length=4096)] = None
    """Additive: a human sentence about this transition."""
    namespace: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    """Optional grouping above `service` (a repository, an org): the same service name in
    two namespaces is two services to upstream's matrix; omitted, the row has none."""

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

    run_number: Annotated[
        Annotated[str, Field(max_length=128)]
        | Annotated[int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
        | None,
        JsonInteger,
    ] = None  # type: ignore[assignment]
    """A string, as the schema says; an integer (as `seeds/000` sends) is kept as its digits."""
    run_url: (
        Annotated[str, Field(max_length=2048, json_schema_extra={"pattern": URI_PATTERN})] | None
    ) = None
    """An absolute URI (`scheme:rest`, printable ASCII)."""

    @field_validator("run_number", mode="after")
    @classmethod
    def _run_number_text(cls, value: str | int | None) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return str(value)

    @field_validator("run_url", mode="after")
    @classmethod
    def _run_url_is_uri(cls, value: str | None) -> str | None:
        if value is not None and not _URI.fullmatch(value):
            raise ValueError("must be an absolute URI (scheme:rest, printable ASCII, no spaces)")
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

    cursor: str = Field(
        description="Opaque cursor blob: at most 8 KiB of UTF-8 (a larger one is a `413`).",
        json_schema_extra={"maxLength": 8 * 1024},
    )


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
