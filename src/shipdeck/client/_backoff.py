"""How long a live stream waits before reconnecting: full-jitter exponential backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


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
