"""Live fan-out of the control plane's two streams, across replicas, and their frames.

A `ControlFeed` hands frames to its subscribers as this engine stores them; the control
plane's poller reads the store once a second for frames stored by other replicas (on one
database), so a component connected to any replica sees every frame. Ids are UUIDv7 from
several clocks, taken before a commit that may wait: a frame can be stored after one with a
higher id. So the poller resumes a little behind the newest id delivered (`LATE_MS`), and
frames are told apart by id (those delivered within that reach are remembered), never by
comparing ids.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import uuid_utils

from ..domain import format_rfc3339
from .control_models import ComponentEventRecord, ControlStreamEvent
from .store.control import ComponentEventRow, ControlEventRow

QUEUE_SIZE = 1024
"""Frames one subscriber may fall behind by; beyond it the subscriber is ended (it
reconnects with `Last-Event-ID` and replays from the store)."""
KNOWN_IDS = 4096
"""Ids remembered before the first pruning (then twice as many as the last one kept)."""
REPLAY_LIMIT = 1000
"""Rows per store read (a replay or a poll reads page after page until caught up)."""
LATE_MS = 5_000
"""How far behind the newest frame delivered the poller reads again: a frame whose commit
waited (behind other writes) or whose replica's clock lags is delivered if it is stored
within this of its id's time. Replicas' clocks must agree to well within it."""


def id_millis(frame_id: str) -> int:
    """The Unix milliseconds of a UUIDv7 (its first 48 bits)."""
    return uuid.UUID(frame_id).int >> 80


def ids_now() -> int:
    """Now on the clock ids are taken from (the system's, whatever the engine's clock says:
    ids must sort as they are taken)."""
    return id_millis(str(uuid_utils.uuid7()))


def floor_id(millis: int) -> str:
    """An id below every UUIDv7 of `millis` and after (and above all earlier ones)."""
    return str(uuid.UUID(int=max(millis, 0) << 80))


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

    def __init__(self, read_after: ReadAfter, on_follow: Callable[[], None] | None = None) -> None:
        self._read_after = read_after
        self._on_follow = on_follow
        self._queues: set[asyncio.Queue[ControlFrame | None]] = set()
        self._known: dict[str, int] = {}
        """Ids delivered, with their milliseconds, back to `LATE_MS` before `_newest`."""
        self._newest = ids_now()
        """The milliseconds of the newest id delivered (or of now, see `skip_to`): a poll
        never reads what was stored before the feed existed."""
        self._prune_at = KNOWN_IDS

    @property
    def subscriber_count(self) -> int:
        """Live subscribers."""
        return len(self._queues)

    def resume_after(self) -> str:
        """Where the poller reads from: `LATE_MS` before the newest frame delivered. Every
        id from there on that was delivered is still remembered, so none goes out twice."""
        return floor_id(self._newest - LATE_MS)

    def skip_to(self, millis: int) -> None:
        """Nobody listens: the next poll need not read anything stored before `millis`
        (less `LATE_MS`), as a subscriber that comes now follows live from now."""
        self._newest = max(self._newest, millis)

    def publish(self, frame: ControlFrame) -> bool:
        """Offer a stored frame to every subscriber; `False` if it was delivered already."""
        if frame.id in self._known:
            return False
        millis = id_millis(frame.id)
        self._known[frame.id] = millis
        self._newest = max(self._newest, millis)
        if len(self._known) > self._prune_at:
            self._forget_passed()
        for queue in list(self._queues):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:  # too slow: end it; it resumes from the store
                self._queues.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)
        return True

    def _forget_passed(self) -> None:
        """Drop the ids the poller no longer reads (older than `resume_after`): they are
        never offered again."""
        floor = self._newest - LATE_MS
        self._known = {id_: ms for id_, ms in self._known.items() if ms >= floor}
        self._prune_at = max(KNOWN_IDS, 2 * len(self._known))

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
        if self._on_follow is not None:
            self._on_follow()
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
    "LATE_MS",
    "REPLAY_LIMIT",
    "ControlFeed",
    "ControlFrame",
    "component_frame",
    "control_frame",
    "floor_id",
    "id_millis",
    "ids_now",
    "micros_text",
]
