"""Live subscriptions to the event log.

Each subscriber has a bounded queue. Publishing never waits: a full queue only marks the
subscriber as behind, and it then catches up by reading the store, so a slow reader never
blocks ingest or other readers and loses nothing. A subscriber so far behind that the
catch-up would exceed a limit, or whose position the store no longer keeps, is told to
resync instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from .store import StoredEvent

CATCH_UP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Resync:
    """The subscriber missed events it cannot be given: refetch state, then go on.

    Events after `seq` follow on the same subscription.
    """

    seq: int


StreamItem = StoredEvent | Resync

ReadEvents = Callable[[int, int], Awaitable[list[StoredEvent]]]
ReadBounds = Callable[[], Awaitable[tuple[int, int]]]


class _Queue:
    """A bounded buffer of published events for one subscriber (`None` only wakes it)."""

    def __init__(self, size: int) -> None:
        self.items: asyncio.Queue[StoredEvent | None] = asyncio.Queue(size)
        self.overflowed = False
        self.closed = False

    def offer(self, event: StoredEvent) -> None:
        try:
            self.items.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.items.put_nowait(None)


class EventHub:
    """Fans events out to subscribers; knows the newest delivered sequence number.

    With `coalesce` > 0, events published within that many seconds are delivered
    together: under load each subscriber then wakes once per tick instead of once per
    event, which is what lets hundreds of streams keep up.
    """

    def __init__(self, head: int, queue_size: int, coalesce: float = 0.0) -> None:
        self.head = head
        self.queue_size = queue_size
        self.coalesce = coalesce
        self._queues: set[_Queue] = set()
        self._pending: list[StoredEvent] = []
        self._flush: asyncio.TimerHandle | None = None

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are attached."""
        return len(self._queues)

    def publish(self, event: StoredEvent) -> None:
        """Offer a committed event to every subscriber (now, or at the next tick)."""
        if self.coalesce <= 0:
            self._deliver([event])
            return
        self._pending.append(event)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.coalesce, self.flush)

    @property
    def latest(self) -> int:
        """The newest published sequence number, delivered or waiting for the tick."""
        return max([self.head, *(event.seq for event in self._pending)])

    def flush(self) -> None:
        """Deliver what is waiting for the tick."""
        self._flush = None
        events, self._pending = self._pending, []
        if events:
            self._deliver(events)

    def _deliver(self, events: list[StoredEvent]) -> None:
        # `head` moves with delivery, so a subscriber never sees a head its queue lacks.
        self.head = max(self.head, *(event.seq for event in events))
        for queue in self._queues:
            for event in events:
                queue.offer(event)

    def attach(self) -> _Queue:
        queue = _Queue(self.queue_size)
        self._queues.add(queue)
        return queue

    def detach(self, queue: _Queue) -> None:
        self._queues.discard(queue)

    def close_all(self) -> None:
        """End every subscription (server shutdown): waiting readers return at once."""
        if self._flush is not None:
            self._flush.cancel()
            self.flush()
        for queue in self._queues:
            queue.close()


class Subscription:
    """An async iterator of events strictly after a position, replaying from the store.

    Use as `async with engine.subscribe(after=n) as events: async for item in events: …`.
    Items are `StoredEvent`s in sequence order without gaps or repeats, or a `Resync`.
    """

    def __init__(
        self,
        hub: EventHub,
        read_events: ReadEvents,
        read_bounds: ReadBounds,
        after: int | None,
        catch_up_limit: int,
    ) -> None:
        self._hub = hub
        self._read_events = read_events
        self._read_bounds = read_bounds
        self._after = after
        self._catch_up_limit = catch_up_limit
        self._queue: _Queue | None = None
        self._pending: list[StreamItem] = []
        self.position = -1
        """The sequence number of the last event delivered (or the start position)."""

    async def __aenter__(self) -> Subscription:
        self._attach()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamItem:
        item = await self.next()
        assert item is not None
        return item

    def _attach(self) -> None:
        if self._queue is None:
            self._queue = self._hub.attach()
            self.position = self._hub.latest if self._after is None else self._after

    def close(self) -> None:
        """Detach from the hub; further events are not buffered."""
        if self._queue is not None:
            self._hub.detach(self._queue)

    @property
    def closed(self) -> bool:
        """Whether the engine ended this subscription (it is shutting down)."""
        return self._queue is not None and self._queue.closed

    async def next(self, timeout: float | None = None) -> StreamItem | None:
        """The next item, or `None` when `timeout` seconds pass without one (or on close)."""
        batch = await self.next_batch(timeout, limit=1)
        return batch[0] if batch else None

    async def next_batch(
        self, timeout: float | None = None, limit: int = 256
    ) -> list[StreamItem] | None:
        """Every item available now (at least one, at most `limit`), in order.

        Waits up to `timeout` seconds for the first; `None` when none came or on close.
        A burst therefore costs the reader one wake-up, not one per event.
        """
        self._attach()
        queue = self._queue
        assert queue is not None
        while not self._pending:
            if queue.closed:
                return None
            behind = self.position < self._hub.head - queue.items.qsize()
            if queue.overflowed or behind or self.position > self._hub.latest:
                await self._catch_up()
                continue
            try:
                event = queue.items.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout(timeout):
                        event = await queue.items.get()
                except TimeoutError:
                    return None
            self._accept(event)
            while len(self._pending) < limit and not queue.overflowed:
                try:
                    self._accept(queue.items.get_nowait())
                except asyncio.QueueEmpty:
                    break
        batch = self._pending[:limit]
        del self._pending[:limit]
        self.position = batch[-1].seq
        return batch

    def _accept(self, event: StoredEvent | None) -> None:
        """Queue an event for delivery if it is the next one; a gap means catch up."""
        if event is None:
            return
        expected = (self._pending[-1].seq if self._pending else self.position) + 1
        if event.seq < expected:
            return  # already delivered by a catch-up
        if event.seq > expected:
            assert self._queue is not None
            self._queue.overflowed = True  # the store has what the queue lacks
        else:
            self._pending.append(event)

    async def _catch_up(self) -> None:
        """Refill from the store after an overflow, a gap or a replay request."""
        assert self._queue is not None
        self._queue.overflowed = False
        # Everything queued now is also in the store; reading the store is the one source.
        while not self._queue.items.empty():
            self._queue.items.get_nowait()
        first, last = await self._read_bounds()
        behind = last - self.position
        if self.position < first - 1 or behind > self._catch_up_limit or behind < 0:
            # Pruned, too far behind, or a position from another store: start afresh.
            self._pending.append(Resync(last))
            return
        events = await self._read_events(self.position, CATCH_UP_BATCH)
        self._pending.extend(events)
