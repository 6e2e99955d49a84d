"""The live feed over SSE, resumed after every loss.

`SseFeed.pump` follows `/api/events/stream` and, after any loss, reconnects with
`Last-Event-ID` behind a jittered exponential backoff, so a client that reconnects to
shipdeck misses nothing and sees nothing twice. Replay is trusted only from a server whose
stream opens with its own position (shipdeck's numbered events): after reconnecting to any
other (a contract-only server with UUID ids, which may have restarted with other data and
replays nothing) the feed asks for a resync first, and the TUI refetches. A refusal of the
key (`401`/`403`) ends the feed: retrying cannot help. With several servers (replicas of
one engine, whose event ids are the same), a loss that says the server stopped answering
resumes on the next one at once; the backoff waits between full rounds of servers that all
failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse
from pydantic import ValidationError

from ..domain import DeploymentEvent, utc_now
from ..domain.promotions import EnvironmentView, PromotionView
from ._backoff import Attempts, Backoff
from ._replicas import FAILOVER_STATUSES, Replicas
from ._wire import error_text, where, why
from .base import (
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    EnvironmentChanged,
    FeedItem,
    LinkState,
    PromotionChanged,
    ResyncNeeded,
)

STREAM_PATH = "/api/events/stream"
QUEUE_SIZE = 1000
"""Feed items the pump may get ahead of its reader."""
FeedOut = asyncio.Queue[FeedItem | None]
"""What the pump fills; `None` only wakes the reader."""


class _Refused(Exception):
    """The server refused our key on the stream: retrying cannot help."""


class _Lost(Exception):
    """The stream cannot be used; the message says why, in words."""

    def __init__(self, reason: str, *, failover: bool = True) -> None:
        super().__init__(reason)
        self.failover = failover
        """Whether the server stopped answering (try the next one) rather than answered."""


@dataclass
class FeedState:
    """Where the feed is in the server's event sequence."""

    last_id: str | None = None
    """What to send as `Last-Event-ID`: the last id seen, integer or opaque."""
    last_seq: int | None = None
    live_at: float | None = None
    """Loop time at which the current connection went live."""
    positioned: bool = False
    """The last connection opened with the server's position (a numbered `id:` and no
    event, as shipdeck's stream does): a reconnection's replay can be checked for gaps."""

    def note_opening(self, sse: ServerSentEvent) -> None:
        """Remember whether a connection's first block announced the server's position."""
        self.positioned = (
            sse.event == "message" and not sse.data and sse.id.isascii() and sse.id.isdigit()
        )

    def accept(self, sse: ServerSentEvent) -> list[FeedItem]:
        """The feed items one SSE event stands for (none for unknown types and repeats)."""
        items: list[FeedItem] = []
        seq = int(sse.id) if sse.id.isascii() and sse.id.isdigit() else None
        if sse.id and seq is None:
            self.last_id = sse.id  # opaque (e.g. a contract-only server's UUIDs): no gap check
        elif seq is not None:
            if sse.event != "resync" and self.last_seq is not None:
                if seq == self.last_seq:
                    return []  # delivered already (a server that replays inclusively)
                if seq != self.last_seq + 1:
                    items.append(ResyncNeeded())  # a gap, or a sequence that went back
            self.last_seq, self.last_id = seq, sse.id
        if sse.event == "resync":
            items.append(ResyncNeeded())
        elif sse.event == "deployment":
            try:
                event = DeploymentEvent.model_validate_json(sse.data)
            except ValidationError:
                return items or [ResyncNeeded()]  # an unreadable row: refetch rather than lose it
            items.append(DeploymentArrived(-1 if seq is None else seq, event))
        elif sse.event in ("promotion", "environment"):
            try:
                items.append(_governance_item(sse))
            except ValidationError:
                return items or [ResyncNeeded()]
        return items


@dataclass
class SseFeed:
    """Follows the server's event stream, reconnecting until refused or cancelled."""

    http: Callable[[str], httpx.AsyncClient]
    """The client's HTTP client of a server, by base URL (raises when not started)."""
    replicas: Replicas
    """The servers, and the one in use (shared with the client's requests)."""
    backoff: Backoff
    timeout: float = 10.0
    connect_timeout: float = 5.0
    idle_timeout: float = 45.0
    """Seconds the stream may stay silent (not even a ping) before it is dropped."""
    healthy_after: float = 5.0
    """Seconds a connection must last for the backoff to start over."""

    async def pump(self, out: FeedOut) -> None:
        """Connect, stream, and reconnect forever (until refused or cancelled)."""
        state = FeedState()
        tries = Attempts(self.healthy_after)
        replicas = self.replicas
        await out.put(_changed(LinkState.CONNECTING, replica=replicas.replica()))
        while True:
            state.live_at = None
            index, moved = replicas.index, True
            try:
                await self._stream(index, state, out, resync_on_live=tries.attempt > 0)
                reason = "the server ended the stream"
            except _Refused as exc:
                detail = f"the server refused the key: {exc}"
                replica = replicas.replica(index)
                await out.put(
                    _changed(LinkState.OFFLINE, since=utc_now(), detail=detail, replica=replica)
                )
                return
            except _Lost as exc:
                reason, moved = str(exc), exc.failover
            except httpx.ReadTimeout:
                reason = f"nothing arrived for {self.idle_timeout:g} s"
            except (httpx.HTTPError, httpx.StreamError, SSEError) as exc:
                reason = why(exc)
            if moved:
                replicas.failed(index)
            # A stream that was healthy starts the backoff over.
            now = asyncio.get_running_loop().time()
            status = tries.lost(state.live_at, now, reason)
            await out.put(ConnectionChanged(replace(status, replica=replicas.replica())))
            step = replicas.backoff_step(status.attempt, moved=moved)
            if step is not None:
                await asyncio.sleep(self.backoff.delay(step))

    async def _stream(
        self, index: int, state: FeedState, out: FeedOut, *, resync_on_live: bool
    ) -> None:
        """One connection to server `index`: open it, report it live, pass its events on
        until it ends."""
        headers = {"Last-Event-ID": state.last_id} if state.last_id else {}
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout, read=self.idle_timeout)
        http = self.http(self.replicas.urls[index])
        connecting = aconnect_sse(http, "GET", STREAM_PATH, headers=headers, timeout=timeout)
        async with connecting as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                if response.status_code in (401, 403):
                    raise _Refused(error_text(response, detail_only=True))
                failover = response.status_code in FAILOVER_STATUSES
                raise _Lost(error_text(response), failover=failover)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                not_sse = f"{where(response)} did not answer with an event stream"
                raise _Lost(not_sse, failover=False)
            state.live_at = asyncio.get_running_loop().time()
            if resync_on_live and not state.positioned:
                # Nothing says this server replays what was missed (or nothing to resume
                # from): refetch. Before `live`, so the TUI says live once it has refetched.
                await out.put(ResyncNeeded())
            await out.put(_changed(LinkState.LIVE, replica=self.replicas.replica(index)))
            opening = True
            async for sse in source.aiter_sse():
                if opening:
                    state.note_opening(sse)
                    opening = False
                for item in state.accept(sse):
                    await out.put(item)


def _governance_item(sse: ServerSentEvent) -> PromotionChanged | EnvironmentChanged:
    """A `promotion` or `environment` event (raises `ValidationError` when unreadable)."""
    if sse.event == "promotion":
        return PromotionChanged(PromotionView.model_validate_json(sse.data))
    return EnvironmentChanged(EnvironmentView.model_validate_json(sse.data))


def _changed(state: LinkState, **fields: Any) -> ConnectionChanged:
    return ConnectionChanged(ConnectionStatus(state, **fields))
