"""Live fan-out of the control plane's two streams, across replicas, and their frames.

A `ControlFeed` hands frames to its subscribers as this engine stores them; the control
plane's poller reads the store once a second for frames stored by other replicas (on one
database), so a component connected to any replica sees every frame. Ids are UUIDv7 from
several clocks, so arrival order across replicas is not id order: frames are told apart by
id (a bounded set of those already delivered), never by comparing ids.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..domain import format_rfc3339
from .control_models import ComponentEventRecord, ControlStreamEvent
from .store.control import ComponentEventRow, ControlEventRow

QUEUE_SIZE = 1024
"""Frames one subscriber may fall behind by; beyond it the subscriber is ended (it
reconnects with `Last-Event-ID` and replays from the store)."""
KNOWN_IDS = 4096
REPLAY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ControlFrame:
    """One SSE frame of a control stream: `id:`, `event:`, `data:`, and who it is for."""

    id: str
    event: str
    data: str
    component: str = "*"
    """The target component (`*`: every one); the control stream's `?component=` filter."""


def micros_text(micros: int) -> str:
    """Microseconds since the epoch as RFC 3339 text (the frames' server times)."""
    return format_rfc3339(datetime.fromtimestamp(micros / 1_000_000, UTC))


def component_frame(row: ComponentEventRow) -> ControlFrame:
    """A stored component event as its `event: component` frame."""
    record = ComponentEventRecord(
        id=row.id,
        component_id=row.component_id,
        correlation_id=row.correlation_id,
        event_type=row.event_type,
        state=row.state,
        detail=row.detail,
        occurred_at=row.occurred_at,
        received_at=micros_text(row.received_at),
        payload=None if row.payload is None else json.loads(row.payload),
    )
    return ControlFrame(row.id, "component", record.model_dump_json(), row.component_id)


def control_frame(row: ControlEventRow) -> ControlFrame:
    """A stored control event as its frame on the control stream (its `event:` is the
    type; `reset_id` repeats the correlation id on reset frames, for earlier clients)."""
    event = ControlStreamEvent(
        id=row.id,
        type=row.type,
        component=row.component,
        correlation_id=row.correlation_id,
        occurred_at=micros_text(row.occurred_at),
        reset_id=row.correlation_id if row.type.startswith("reset-") else None,
        payload=None if row.payload is None else json.loads(row.payload),
    )
    return ControlFrame(row.id, row.type, event.model_dump_json(exclude_none=True), row.component)


ReadAfter = Callable[[str], Awaitable[list[ControlFrame]]]
"""Stored frames with an id above the one given (within retention), oldest first."""


class ControlFeed:
    """Subscribers of one control stream in this engine."""

    def __init__(self, read_after: ReadAfter) -> None:
        self._read_after = read_after
        self._queues: set[asyncio.Queue[ControlFrame | None]] = set()
        self._known: OrderedDict[str, None] = OrderedDict()

    @property
    def subscriber_count(self) -> int:
        """Live subscribers."""
        return len(self._queues)

    def publish(self, frame: ControlFrame) -> bool:
        """Offer a stored frame to every subscriber; `False` if it was delivered already."""
        if frame.id in self._known:
            return False
        self._known[frame.id] = None
        if len(self._known) > KNOWN_IDS:
            self._known.popitem(last=False)
        for queue in list(self._queues):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:  # too slow: end it; it resumes from the store
                self._queues.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)
        return True

    def close_all(self) -> None:
        """End every subscription (the server is shutting down)."""
        for queue in self._queues:
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
        self._queues.clear()

    async def follow(self, after: str | None, ping: float) -> AsyncIterator[ControlFrame | None]:
        """Stored frames after `after` (none without it), then live ones; `None` every
        `ping` seconds of silence. Ends when the feed closes the subscription."""
        queue: asyncio.Queue[ControlFrame | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)  # before reading the store: nothing falls in between
        replayed: set[str] = set()
        try:
            while after is not None:
                batch = await self._read_after(after)
                for frame in batch:
                    replayed.add(frame.id)
                    yield frame
                if len(batch) < REPLAY_LIMIT:
                    break
                after = batch[-1].id
            while True:
                try:
                    live = await asyncio.wait_for(queue.get(), ping)
                except TimeoutError:
                    yield None
                    continue
                if live is None:
                    return
                if live.id not in replayed:
                    yield live
        finally:
            self._queues.discard(queue)


__all__ = [
    "REPLAY_LIMIT",
    "ControlFeed",
    "ControlFrame",
    "component_frame",
    "control_frame",
    "micros_text",
]
