"""How long a live stream waits before reconnecting: full-jitter exponential backoff, and
the count of attempts since the stream was last healthy (both followers share them)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from ..domain import utc_now
from .base import ConnectionStatus, LinkState


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts.

    Full jitter (a uniform draw between 0 and a capped exponential bound) spreads the
    reconnections of many clients after a server restart instead of synchronising them.
    """

    base: float = 0.5
    """The first attempt's longest delay, in seconds."""
    factor: float = 2.0
    """How much the longest delay grows per failed attempt."""
    cap: float = 30.0
    """The longest delay, in seconds."""
    rng: random.Random = field(default_factory=random.Random)
    """The source of jitter."""

    def delay(self, attempt: int) -> float:
        """The delay before attempt number `attempt` (from 1)."""
        bound = min(self.cap, self.base * self.factor ** min(attempt - 1, 64))
        return self.rng.uniform(0.0, bound)


@dataclass
class Attempts:
    """Reconnection attempts since a stream last stayed connected for `healthy_after` s."""

    healthy_after: float
    """Seconds a connection must last for the count (and the backoff) to start over."""
    attempt: int = 0
    """The number of the attempt about to be made (0 before any loss)."""
    lost_since: datetime | None = None
    """When the stream was lost, the first time since it was last healthy."""

    def lost(self, live_at: float | None, now: float, reason: str) -> ConnectionStatus:
        """Count one more attempt after a loss at loop time `now`; the status to report.

        `live_at` is the loop time at which the lost connection went live (`None` when it
        never did); one that lasted `healthy_after` starts the count over.
        """
        if live_at is not None and now - live_at >= self.healthy_after:
            self.attempt, self.lost_since = 0, None
        self.attempt += 1
        self.lost_since = self.lost_since or utc_now()
        return ConnectionStatus(
            LinkState.RECONNECTING, attempt=self.attempt, since=self.lost_since, detail=reason
        )
