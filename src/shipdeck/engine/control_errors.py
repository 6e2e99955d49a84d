"""The control plane's refusals (the HTTP layer renders them as problems)."""

from __future__ import annotations

from .errors import EngineError


class IngestPaused(EngineError):
    """A reset is clearing data: ingest is closed for a moment (`503` + `Retry-After`)."""

    status = 503
    kind = "reset-in-progress"
    title = "Ingest paused by a reset"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        """Seconds after which the caller should retry."""


class ControlBusy(EngineError):
    """Another reset or recover is in flight (one at a time, on every replica)."""

    status = 409
    kind = "control-busy"
    title = "A control operation is already in progress"


class ControlDisabled(EngineError):
    """The control surface, or reset, is not enabled by the engine's configuration."""

    status = 403
    kind = "control-disabled"
    title = "Control operation not enabled"


__all__ = ["ControlBusy", "ControlDisabled", "IngestPaused"]
