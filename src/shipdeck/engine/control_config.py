"""`[control]`: the control surface (`/api/control/*`) — its key, and whether reset may run."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

COMPONENT_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,127}$"
"""What an `X-Component-Id` looks like (the contract's pattern)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ControlConfig(BaseModel):
    """The control surface (`[control]`, or `SHIPDECK_CONTROL__*` variables).

    The control key is a secret distinct from every API key (the contract's D8): an ingest
    key never grants a reset. Give it as `key_sha256` (the hex SHA-256 of the key, so the
    file holds no secret) or as `key` (typically `SHIPDECK_CONTROL__KEY`), which is hashed
    when the configuration is read and then dropped: only the hash is kept in memory.
    """

    model_config = ConfigDict(extra="forbid")

    key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """The control key itself (read once, hashed, forgotten). Prefer `key_sha256` in files."""
    key_sha256: str | None = None
    """Hex SHA-256 of the control key (`printf %s "$KEY" | sha256sum`). Without a key the
    whole `/api/control/*` surface but the component events answers `403`."""
    allow_reset: bool = False
    """Whether `POST /api/control/reset` may erase deployment history. Off by default:
    a reset is for test and local set-ups, never production."""
    expected_components: list[Annotated[str, Field(pattern=COMPONENT_PATTERN)]] = Field(
        default_factory=list
    )
    """Components whose acks a reset or recover waits for (e.g. `dashboard-fetcher`);
    with none, the drain ends at once."""
    ack_timeout_seconds: float = Field(default=10.0, ge=0, le=600)
    """How long the drain waits for the expected components' acks before going on."""
    gate_max_ttl_seconds: float = Field(default=15.0, ge=1, le=3600)
    """How long one phase may hold the single-flight slot (and the ingest gate): a replica
    that dies mid-saga blocks the next one for no longer than this, after which any replica
    ends the saga (`*-completed`) so components resume."""
    retention_hours: float = Field(default=2.0, gt=0, le=24 * 30)
    """How long component and control events stay replayable (the contract: 2 h)."""
    retry_after_seconds: int = Field(default=1, ge=1, le=60)
    """The `Retry-After` ingest answers with while a reset clears data."""

    @model_validator(mode="after")
    def _drain_within_lease(self) -> ControlConfig:
        # The drain holds the slot under one lease: waiting longer would let it lapse, and
        # another replica would end the saga while this one still drives it.
        if self.ack_timeout_seconds >= self.gate_max_ttl_seconds:
            raise ValueError(
                "control.ack_timeout_seconds must be shorter than"
                " control.gate_max_ttl_seconds (the lease the drain runs under)"
            )
        return self

    @model_validator(mode="after")
    def _hash_key(self) -> ControlConfig:
        if self.key is not None:
            secret = self.key.get_secret_value()
            if not secret:
                raise ValueError("control.key is empty; set a long random secret or unset it")
            self.key_sha256 = hashlib.sha256(secret.encode()).hexdigest()
            self.key = None
        elif self.key_sha256 is not None:
            self.key_sha256 = self.key_sha256.strip().lower()
            if not _SHA256.match(self.key_sha256):
                raise ValueError("control.key_sha256 must be 64 hex digits (a SHA-256)")
        return self


__all__ = ["COMPONENT_PATTERN", "ControlConfig"]
