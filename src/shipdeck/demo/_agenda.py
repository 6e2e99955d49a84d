"""The traffic generator's agenda: actions due at moments of its clock, soonest first."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

Action = Callable[[], Awaitable[None]]
"""Something to do when its moment comes."""


@dataclass(order=True)
class _Due:
    at: float
    order: int
    """Breaks ties: actions due at the same moment run in the order they were planned."""
    action: Action = field(compare=False)


class Agenda:
    """Actions due at moments of a clock; one coroutine works through them in order."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._heap: list[_Due] = []
        self._order = itertools.count()

    def after(self, delay: float, action: Action) -> None:
        """Plan `action` for `delay` seconds from now."""
        at = self._clock().timestamp() + delay
        heapq.heappush(self._heap, _Due(at, next(self._order), action))

    def pop(self) -> tuple[float, Action]:
        """Take the soonest action, with the seconds left until it is due (≤ 0: now).

        Raises:
            IndexError: nothing is planned.
        """
        due = heapq.heappop(self._heap)
        return due.at - self._clock().timestamp(), due.action
