"""The live feed of a connector: the platform's deployments refreshed on a timer (sooner when
something says they changed), each new row passed on once.

A foreign platform has no event log to resume, so the feed never trusts one: every refresh
compares the platform's deployments with the rows seen, and passes on what is new. After a
loss (the platform down, a stream cut) the first refresh that succeeds asks for a resync
before it reports `live`, and so does any refresh that finds deployments gone (a restart
with other data): the TUI refetches the matrix, which is then the platform's. A refused
token ends the feed `offline`, with how to sign in again.

An active deployment is followed live (`follow`) until its follower ends. A follower that
ends while the platform still lists its deployment as active (a stream that closed before
the listing caught up, a stream refused) is not started again at once: it rests for a
backoff delay (never less than the backoff's base, longer after each such end), so an
inconsistent platform is asked again and again, but never in a tight loop; the rest is
forgotten once the deployment ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..domain import DeploymentEvent, utc_now
from ._backoff import Attempts, Backoff
from ._feed import FeedOut
from ._platform_http import SignInNeeded
from ._rows import Refreshed
from .base import (
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    EngineError,
    LinkState,
    ResyncNeeded,
)

Follow = Callable[[DeploymentEvent], Coroutine[Any, Any, None]]
"""Follows one active deployment live until it ends (a platform's own stream), reporting
its rows through the client's `News`."""


@dataclass
class News:
    """Rows found outside the feed's refreshes (a read, a live stream), for the feed to
    pass on; setting `wake` makes it look at once."""

    rows: list[DeploymentEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def report(self, rows: list[DeploymentEvent]) -> None:
        """Rows to pass on (and wake the feed)."""
        self.rows.extend(rows)
        self.wake.set()

    def take(self) -> list[DeploymentEvent]:
        """What was reported since the last take, oldest first."""
        taken, self.rows = self.rows, []
        return sorted(taken, key=lambda row: row.happened_at)


@dataclass
class Watcher:
    """Refreshes until refused or cancelled; follows active deployments with `follow`."""

    refresh: Callable[[], Awaitable[Refreshed]]
    """Reads the platform and syncs the client's rows (new rows go to `news`)."""
    news: News
    backoff: Backoff
    poll_interval: float = 5.0
    """Seconds between refreshes when nothing wakes the feed earlier."""
    healthy_after: float = 5.0
    follow: Follow | None = None
    active: Callable[[], list[DeploymentEvent]] = list
    """The latest row of each deployment still queued or running (to `follow`)."""
    _followed: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    """Per followed deployment: the loop time its follower started."""
    _rests: dict[str, _Rest] = field(default_factory=dict)
    """Per deployment whose follower ended while it was still active: when to follow again."""

    async def pump(self, out: FeedOut) -> None:
        """Refresh, pass new rows on, and wait; reconnect after losses."""
        loop = asyncio.get_running_loop()
        tries = Attempts(self.healthy_after)
        live_at: float | None = None
        lost = False
        await out.put(_changed(LinkState.CONNECTING))
        try:
            while True:
                try:
                    refreshed = await self.refresh()
                except SignInNeeded as exc:
                    await out.put(_changed(LinkState.OFFLINE, since=utc_now(), detail=str(exc)))
                    return
                except EngineError as exc:
                    status = tries.lost(live_at, loop.time(), str(exc))
                    live_at, lost = None, True
                    await out.put(ConnectionChanged(status))
                    await asyncio.sleep(self.backoff.delay(status.attempt))
                    continue
                if refreshed.gone or lost:
                    await out.put(ResyncNeeded())  # before `live`: refetched, then live
                for row in self.news.take():
                    await out.put(DeploymentArrived(-1, row))
                if live_at is None:
                    live_at, lost = loop.time(), False
                    await out.put(_changed(LinkState.LIVE))
                self._follow_active()
                await self._wait(out)
        finally:
            await self._stop_following()

    async def _wait(self, out: FeedOut) -> None:
        """Until the next refresh is due; rows reported meanwhile are passed on at once."""
        deadline = asyncio.get_running_loop().time() + self.poll_interval
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            self.news.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.news.wake.wait(), left)
            rows = self.news.take()
            for row in rows:
                await out.put(DeploymentArrived(-1, row))
            if any(row.status.value in _FINAL for row in rows) or not rows:
                return  # a deployment ended (or a follower asked): refresh now

    def _follow_active(self) -> None:
        """Start following every active deployment not followed (or resting) yet."""
        if self.follow is None:
            return
        now = asyncio.get_running_loop().time()
        for key, task in list(self._followed.items()):
            if task.done():
                del self._followed[key]
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error  # a bug: followers say their own failures
                self._rest(key, self._started.pop(key, now), now)
        active = {row.deployment_id: row for row in self.active()}
        for key in [key for key in self._rests if key not in active]:
            del self._rests[key]  # it ended: its next follower (a retry's?) starts afresh
        for key, row in active.items():
            rest = self._rests.get(key)
            if key in self._followed or (rest is not None and now < rest.until):
                continue
            task = asyncio.create_task(self.follow(row), name=f"shipdeck follow {key}")
            self._followed[key], self._started[key] = task, now

    def _rest(self, key: str, started: float, now: float) -> None:
        """A follower of `key` ended at loop time `now`: when it may be followed again
        (it may still be listed active). A follower that lasted `healthy_after` starts the
        count over."""
        rest = self._rests.setdefault(key, _Rest(Attempts(self.healthy_after)))
        attempt = rest.tries.lost(started, now, "its follower ended").attempt
        rest.until = now + max(self.backoff.base, self.backoff.delay(attempt))

    async def _stop_following(self) -> None:
        tasks = list(self._followed.values())
        self._followed.clear()
        self._started.clear()
        self._rests.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


@dataclass
class _Rest:
    """How often a deployment's follower ended while it was active, and until when (loop
    time) it is not followed again."""

    tries: Attempts
    until: float = 0.0


_FINAL = frozenset({"success", "failure", "cancelled", "rejected"})


def _changed(state: LinkState, **fields: Any) -> ConnectionChanged:
    return ConnectionChanged(ConnectionStatus(state, **fields))


__all__ = ["Follow", "News", "Watcher"]
