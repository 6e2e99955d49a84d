"""The control surface's bodies and frames, as the deployment-dashboard contract names them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from ..domain.models import DateTimeText
from ..domain.timestamps import parse_rfc3339

ComponentState = Literal["running", "idle", "paused", "error"]
ResetState = Literal["idle", "draining", "resetting"]
PAYLOAD_LIMIT = 8 * 1024
"""Bytes of a component event's serialised `payload` at most (over it: `413`)."""
CORRELATION_LIMIT = 128


class ComponentEvent(BaseModel):
    """The body of `POST /api/control/events`: no identity (that is `X-Component-Id`)."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(min_length=1, max_length=64)
    """`status`, `heartbeat`, `error`, `reset-ack`, `recover-ack`, `rate-limit`, … (open)."""
    state: ComponentState
    detail: str | None = Field(default=None, max_length=512)
    occurred_at: Annotated[str, DateTimeText]
    """Component-supplied RFC 3339 time, stored and echoed as sent."""
    payload: dict[str, Any] | None = None
    """Opaque; stored verbatim, never parsed by the engine (≤ 8 KiB)."""

    @field_validator("occurred_at")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse_rfc3339(value)
        return value


class ComponentEventRecord(BaseModel):
    """The data of an `event: component` frame on `GET /api/control/events/stream`."""

    id: str
    component_id: str
    correlation_id: str | None
    event_type: str
    state: str
    detail: str | None
    occurred_at: str
    received_at: str
    payload: dict[str, Any] | None


class ControlStreamEvent(BaseModel):
    """The data of a frame on `GET /api/control/stream` (its `event:` is `type`).

    `reset_id` repeats `correlation_id` on reset frames: older clients of the contract
    (and the upstream suite's earlier helpers) read it by that name.
    """

    id: str
    type: str
    component: str
    correlation_id: str
    occurred_at: str
    reset_id: str | None = None
    payload: dict[str, Any] | None = None


class ResetAccepted(BaseModel):
    """The `202` of `POST /api/control/reset`."""

    correlation_id: str
    """The process id: the `reset-initiated` event's id."""
    reset_id: str
    """The same value, by the name earlier clients read."""
    state: ResetState
    accepted_at: str


def _exactly_one_of(schema: dict[str, Any]) -> None:
    """`since` xor `days_back`, and neither may be `null` (their defaults are omissions)."""
    schema["oneOf"] = [{"required": ["since"]}, {"required": ["days_back"]}]
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class RecoverRequest(BaseModel):
    """The body of `POST /api/control/recover`: `since` or `days_back`, exactly one.

    The document says so as the route checks it (`oneOf` the two, neither `null`, a whole
    number of days), so that a request the schema allows is one the route accepts.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_of)

    since: Annotated[str | None, DateTimeText] = None
    """Rewind point (RFC 3339)."""
    days_back: Annotated[
        int | None, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 3650})
    ] = Field(default=None, ge=1, le=3650, strict=True)
    """Rewind this many days from now."""

    @field_validator("days_back", mode="before")
    @classmethod
    def _whole_days(cls, value: Any) -> Any:
        """JSON's integers include `1.0` (JSON Schema counts any number with no fraction
        as an integer); `true`, `"1"` and `1.5` are not whole numbers of days."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("since", "days_back"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} may be left out, not null")
        return data

    @field_validator("since")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rfc3339(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> RecoverRequest:
        if (self.since is None) == (self.days_back is None):
            raise ValueError("give exactly one of since or days_back")
        return self

    def resolve(self, now: datetime) -> datetime:
        """The rewind point as an instant."""
        if self.since is not None:
            return parse_rfc3339(self.since)
        return now - timedelta(days=self.days_back or 0)


class RecoverAccepted(BaseModel):
    """The `202` of `POST /api/control/recover`."""

    correlation_id: str
    state: ResetState
    since: str
    accepted_at: str


__all__ = [
    "CORRELATION_LIMIT",
    "PAYLOAD_LIMIT",
    "ComponentEvent",
    "ComponentEventRecord",
    "ComponentState",
    "ControlStreamEvent",
    "RecoverAccepted",
    "RecoverRequest",
    "ResetAccepted",
    "ResetState",
]
