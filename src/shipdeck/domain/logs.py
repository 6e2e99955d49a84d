"""Log lines of a logical deployment: what reporters send, what is stored, what is read.

Lines belong to a logical deployment (its `deployment_id`) and are numbered per deployment
from 1 without gaps, so a reader resumes with `after=<last seq it has>` and misses nothing.
Messages are kept verbatim (escape sequences, markup and all): sanitising is the display's
job, never the store's.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
)
from pydantic_core import PydanticCustomError

from .models import DeploymentId, OptionalDateTimeText
from .status import Status
from .timestamps import format_rfc3339, parse_rfc3339

LogLevel = Literal["debug", "info", "warning", "error"]
"""How much a line matters."""

LogStream = Literal["stdout", "stderr", "system"]
"""Where a line came from: a process's output, or the system running the deployment."""

MAX_LOG_MESSAGE_BYTES = 8 * 1024
"""The largest message a reporter may send, in UTF-8 bytes (larger is a `413`)."""

MAX_LOG_BATCH = 1000
"""The most lines one request may carry (more is a `413`)."""

FINAL: frozenset[Status] = frozenset(
    {Status.SUCCESS, Status.FAILURE, Status.CANCELLED, Status.REJECTED}
)
"""Statuses after which a logical deployment changes no more: its streams end there."""

MASK = "••••"
"""What a secret becomes in a stored line."""

TOO_LARGE = "too_large"
"""The pydantic error type of a size limit that the HTTP surface answers with `413`."""


def _timestamp(value: object) -> datetime:
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return parse_rfc3339(format_rfc3339(value))
    raise ValueError("must be an RFC 3339 date-time string with a timezone")


@functools.lru_cache(maxsize=64)
def mask_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One expression matching any of `secrets` (longest first, so a secret holding
    another is masked whole), or `None` when there is nothing to mask."""
    values = sorted((s for s in secrets if s), key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in values)) if values else None


def fit_line(message: str, max_bytes: int) -> str:
    """`message` cut to `max_bytes` of UTF-8 (ending with `…`), lone surrogates replaced."""
    try:
        raw = message.encode()
    except UnicodeEncodeError:  # e.g. process output decoded with surrogateescape
        raw = message.encode("utf-8", "replace")
        message = raw.decode()
    if len(raw) <= max_bytes:
        return message
    return raw[: max_bytes - len("…".encode())].decode("utf-8", "ignore") + "…"


class LogLineIngest(BaseModel):
    """One line a reporter sends: closed and strict, like `DeploymentEventIngest`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    message: str = Field(
        description="The line, verbatim; at most 8 KiB in UTF-8 (a longer one is a `413`).",
        # Characters: JSON Schema cannot count UTF-8 bytes, so the byte limit is a `413`.
        json_schema_extra={"maxLength": MAX_LOG_MESSAGE_BYTES},
    )
    level: LogLevel = "info"
    stream: LogStream = "system"
    at: Annotated[datetime | None, OptionalDateTimeText] = Field(
        default=None, description="When the line was written (RFC 3339); default: arrival."
    )

    @field_validator("message", mode="after")
    @classmethod
    def _message_fits(cls, value: str) -> str:
        # Only a long text can be over the limit: most lines skip the encoding.
        if len(value) * 4 > MAX_LOG_MESSAGE_BYTES and (
            len(value.encode("utf-8", "surrogatepass")) > MAX_LOG_MESSAGE_BYTES
        ):
            raise PydanticCustomError(
                TOO_LARGE,
                "must be at most {limit} bytes in UTF-8",
                {"limit": MAX_LOG_MESSAGE_BYTES},
            )
        return value

    @field_validator("at", mode="plain")
    @classmethod
    def _at(cls, value: object) -> datetime | None:
        return None if value is None else _timestamp(value)


class LogLinesIngest(BaseModel):
    """Body of `POST /api/deployments/{deployment_id}/logs`: closed, strict."""

    model_config = ConfigDict(extra="forbid", strict=True)

    lines: list[LogLineIngest] = Field(
        min_length=1,
        description="In order; more than 1000 lines is a `413`.",
        json_schema_extra={"maxItems": MAX_LOG_BATCH},
    )

    @field_validator("lines", mode="wrap")
    @classmethod
    def _few_enough(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> list[LogLineIngest]:
        # Counted before the items are validated: a huge batch costs no parsing.
        if isinstance(value, list) and len(value) > MAX_LOG_BATCH:
            raise PydanticCustomError(
                TOO_LARGE, "must hold at most {limit} lines", {"limit": MAX_LOG_BATCH}
            )
        lines: list[LogLineIngest] = handler(value)
        return lines


class LogLine(BaseModel):
    """One stored line, as reads and the WebSocket stream send it."""

    model_config = ConfigDict(extra="ignore")

    seq: int
    """Position in the deployment's log, from 1, without gaps."""
    at: datetime
    """When the line was written (RFC 3339 with `Z` on the wire)."""
    level: LogLevel
    stream: LogStream
    message: str
    """Verbatim, secrets masked: sanitise before display."""

    @field_serializer("at")
    def _at_text(self, value: datetime) -> str:
        return format_rfc3339(value)


class LogPage(BaseModel):
    """A page of `GET /api/deployments/{deployment_id}/logs`, oldest line first."""

    items: list[LogLine]
    next_after: int | None = None
    """Pass as `after` for the next page; `null` when this page reached the end."""


class LogsAppended(BaseModel):
    """The answer to a posted batch: where its lines landed in the deployment's log."""

    deployment_id: DeploymentId
    count: int
    first_seq: int
    last_seq: int


__all__ = [
    "FINAL",
    "MASK",
    "MAX_LOG_BATCH",
    "MAX_LOG_MESSAGE_BYTES",
    "TOO_LARGE",
    "LogLevel",
    "LogLine",
    "LogLineIngest",
    "LogLinesIngest",
    "LogPage",
    "LogStream",
    "LogsAppended",
    "fit_line",
    "mask_pattern",
]
