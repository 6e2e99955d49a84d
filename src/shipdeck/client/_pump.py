"""Background pumps and the iterators that read them, for both clients' followers.

A follower (the live feed, a deployment's log) runs a pump task that fills a bounded queue
while the reader's async iterator takes from it. `Pumps` holds a client's running pumps and
whether it closed; `PumpRun` is one pump read by one iterator: it starts the task on
`async with`, hands over what is queued until the pump ends or the client closes, and on
leaving cancels the task and, after a normal end, raises what the pump raised (a bug:
network failures never leave a pump).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")
"""What a pump's queue holds: its items and `None`, which only wakes the reader."""

Pump = Callable[[asyncio.Queue[T]], Coroutine[Any, Any, None]]
"""Fills the queue until it ends or is cancelled."""


def wake(out: asyncio.Queue[Any]) -> None:
    """Queue `None` (the reader wakes and sees the pump ended) unless the queue is full."""
    with contextlib.suppress(asyncio.QueueFull):
        out.put_nowait(None)


class Pumps:
    """A client's running pumps, and whether it closed (its followers then end)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    def run(self, pump: Pump[T], out: asyncio.Queue[T], *, name: str) -> PumpRun[T]:
        """`pump` filling `out` in a task named `name`, once the result is entered."""
        return PumpRun(self, pump, out, name)

    async def close(self) -> None:
        """End every follower: mark the client closed, cancel its pumps and wait for them."""
        self.closed.set()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks))


class PumpRun(Generic[T]):
    """One pump in the background for one reader (`async with`, then `next()`)."""

    def __init__(self, owner: Pumps, pump: Pump[T], out: asyncio.Queue[T], name: str) -> None:
        self.out = out
        """The queue the pump fills (a reader may take what is ready without waiting)."""
        self._owner, self._pump, self._name = owner, pump, name
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PumpRun[T]:
        out = self.out
        self._task = task = asyncio.create_task(self._pump(out), name=self._name)
        self._owner.tasks.add(task)
        # Wakes the reader when the pump ends; if the queue is full the test in next() sees it.
        task.add_done_callback(lambda _: wake(out))
        return self

    async def next(self) -> T | None:
        """The next item queued; `None` once the pump ended or the owner closed."""
        assert self._task is not None, "enter the run first"
        if self._task.done() and self.out.empty():
            return None
        item = await self.out.get()
        if item is None or self._owner.closed.is_set():
            return None
        return item

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self._task
        assert task is not None
        task.cancel()
        self._owner.tasks.discard(task)
        await asyncio.wait([task])
        error = None if task.cancelled() else task.exception()
        if error is not None and exc_type is None:
            raise error
