"""`/api/events/stream`: Server-Sent Events, resumable with `Last-Event-ID`."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from ...domain import DeploymentEvent
from ...domain.promotions import EnvironmentView, PromotionView
from ...domain.stream import ResyncNotice
from ...engine import Engine, Resync, StoredEvent, StreamItem
from ..deps import EngineDep, ReadAccess
from ..openapi import sse_response

router = APIRouter(tags=["stream"], dependencies=[ReadAccess])

RETRY_MS = 2000
BATCH_EVENTS = 32
"""Events per write at most. A live tick carries a few; a stream catching up writes ≤ 32
rows at a time (≤ ~200 KB at the largest rows), so what a slow or departed client holds in
the server stays small and the transport's back-pressure applies between writes."""
_DIGITS = re.compile(r"^\d{1,18}$")


def _frame(event: str, seq: int, data: str) -> bytes:
    return f"id: {seq}\nevent: {event}\ndata: {data}\n\n".encode()


@functools.lru_cache(maxsize=4096)
def event_frame(event: StoredEvent) -> bytes:
    """An event's SSE frame, encoded once however many clients it goes to."""
    return _frame(event.type, event.seq, event.data)


def resync_frame(seq: int) -> bytes:
    """Tells the client to refetch state: what it missed is no longer replayable."""
    return _frame("resync", seq, ResyncNotice(seq=seq, reason="refetch state").model_dump_json())


async def resolve_position(engine: Engine, last_event_id: str | None) -> tuple[int | None, bool]:
    """Where to resume: `(after, resync_first)`.

    Ids are event sequence numbers; a deployment row id (UUID) is also accepted, for
    clients that kept a row id. Anything else cannot be resumed: live, after a resync.
    """
    if last_event_id is None or not last_event_id.strip():
        return None, False
    text = last_event_id.strip()
    if _DIGITS.match(text):
        return int(text), False
    try:
        row_id = str(uuid.UUID(text))
    except ValueError:
        return None, True
    seq = await engine.event_position_of_row(row_id)
    return (None, True) if seq is None else (seq, False)


async def sse_frames(
    engine: Engine, after: int | None, resync_first: bool, service: str | None
) -> AsyncIterator[bytes]:
    """The stream's bytes: events, resyncs and pings, until the client or the server goes.

    The opening block carries the current position as `id:` (no event is dispatched), so
    a client that loses the stream before any event still resumes without a gap. Events
    that are ready together go out as one chunk: a burst costs one write per client.
    """
    ping = engine.config.stream.ping_interval
    async with engine.subscribe(after) as subscription:
        yield f"retry: {RETRY_MS}\nid: {subscription.position}\n\n".encode()
        if resync_first:
            yield resync_frame(subscription.position)
        while True:
            batch = await subscription.next_batch(timeout=ping, limit=BATCH_EVENTS)
            if subscription.closed:
                return
            if batch is None:
                yield b": ping\n\n"
                continue
            chunk = chunks.of(batch, service)
            if chunk:
                yield chunk


def _wanted(event: StoredEvent, service: str | None) -> bool:
    return service is None or event.service is None or event.service == service


class _Chunks:
    """A batch's bytes for one filter, built once for every stream that gets that batch.

    Live subscribers of one engine receive the same runs of events at each tick, so the
    frames are joined once per run and filter, not once per subscriber. Keyed by the run's
    first and last event (values, not positions: two engines in one process never share a
    chunk by accident).
    """

    SIZE = 16
    """Runs kept: live streams share the newest few; catch-up runs differ and pass through."""
    LARGEST = 64 * 1024
    """Bytes of the largest chunk kept (with `SIZE`, at most 1 MiB held)."""

    def __init__(self) -> None:
        self._built: dict[tuple[StoredEvent, StoredEvent, int, str | None], bytes] = {}

    def of(self, batch: list[StreamItem], service: str | None) -> bytes:
        """The frames of `batch` that `service` wants (a resync always)."""
        first, last = batch[0], batch[-1]
        if isinstance(first, Resync) or isinstance(last, Resync):
            return self._build(batch, service)
        key = (first, last, len(batch), service)
        chunk = self._built.get(key)
        if chunk is None:
            chunk = self._build(batch, service)
            if len(chunk) > self.LARGEST:
                return chunk
            if len(self._built) >= self.SIZE:
                del self._built[next(iter(self._built))]
            self._built[key] = chunk
        return chunk

    @staticmethod
    def _build(batch: list[StreamItem], service: str | None) -> bytes:
        return b"".join(
            resync_frame(item.seq) if isinstance(item, Resync) else event_frame(item)
            for item in batch
            if isinstance(item, Resync) or _wanted(item, service)
        )


chunks = _Chunks()


@router.get(
    "/api/events/stream",
    operation_id="streamEvents",
    summary="Server-Sent Events stream of newly-appended deployment events.",
    response_class=StreamingResponse,
    responses=sse_response(
        "`event: deployment` for each appended row (its data as `GET /api/deployments/{id}`"
        " shows it), `event: promotion` and `event: environment` for approvals, locks and"
        " policies, `event: resync` when a missed stretch cannot be replayed. `: ping`"
        " comments keep an idle stream open.",
        {
            "deployment": DeploymentEvent,
            "promotion": PromotionView,
            "environment": EnvironmentView,
            "resync": ResyncNotice,
        },
        with_id=True,
    ),
)
async def stream_events(
    engine: EngineDep,
    service: Annotated[str | None, Query(description="Only this service's events.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """`event: deployment` frames with `id:` sequence numbers; `: ping` when idle.

    With `Last-Event-ID`, everything strictly after it is replayed first. When that is no
    longer possible, an `event: resync` frame says so and the stream goes on live.
    """
    after, resync_first = await resolve_position(engine, last_event_id)
    return StreamingResponse(
        sse_frames(engine, after, resync_first, service),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
