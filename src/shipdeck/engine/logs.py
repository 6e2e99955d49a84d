"""Deployment logs: masked appends, pages, and followers that read history, then live lines.

Lines are numbered per logical deployment by the store. Live lines fan out through a
per-deployment hub: each follower has a bounded queue, publishing never waits, and a
follower whose queue overflowed (or who sees a gap) reads the store instead, so a slow
reader loses nothing, sees nothing twice and never slows an append down. A follower ends
once the deployment's latest row is final (success, failure, cancelled, rejected) and every
line stored by then has been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, TypeVar, cast

from ..domain import (
    FINAL,
    MASK,
    DeploymentFilters,
    LogLevel,
    LogLine,
    LogLineIngest,
    LogPage,
    LogStream,
    Status,
    fit_line,
    mask_pattern,
    to_micros,
    utc_now,
)
from .config import LogsConfig
from .errors import InvalidRequest, NotFound
from .store import DeploymentQuery, NewLogLine, Store, StoredLogLine

T = TypeVar("T")

MAX_PAGE = 500
CATCH_UP_BATCH = 500
KNOWN_DEPLOYMENTS = 4096
"""Deployments remembered to exist (rows are never deleted), so appends skip the lookup."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Runner(Protocol):
    """Runs a blocking store call on one of the engine's worker threads."""

    def __call__(self, fn: Callable[..., T], /, *args: object) -> Awaitable[T]: ...


def _log_line(stored: StoredLogLine) -> LogLine:
    return LogLine.model_construct(
        seq=stored.seq,
        at=_EPOCH + timedelta(microseconds=stored.at),
        # The store holds only what a `LogLineIngest` allowed.
        level=cast(LogLevel, stored.level),
        stream=cast(LogStream, stored.stream),
        message=stored.message,
    )


class _Inbox:
    """One follower's bounded buffer of published lines (`None` only wakes it)."""

    def __init__(self, size: int) -> None:
        self.lines: asyncio.Queue[LogLine | None] = asyncio.Queue(size)
        self.overflowed = False
        self.rows_changed = True  # so a new follower looks the status up once
        self.closed = False

    def offer(self, line: LogLine) -> None:
        try:
            self.lines.put_nowait(line)
        except asyncio.QueueFull:
            self.overflowed = True

    def wake(self) -> None:
        # A full queue needs no wake-up: its reader is not waiting.
        with contextlib.suppress(asyncio.QueueFull):
            self.lines.put_nowait(None)

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()


class _LogHub:
    """Fans each deployment's new lines (and news of its rows) out to its followers."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._inboxes: dict[str, set[_Inbox]] = {}

    @property
    def follower_count(self) -> int:
        return sum(len(inboxes) for inboxes in self._inboxes.values())

    def attach(self, deployment_id: str) -> _Inbox:
        inbox = _Inbox(self.queue_size)
        self._inboxes.setdefault(deployment_id, set()).add(inbox)
        return inbox

    def detach(self, deployment_id: str, inbox: _Inbox) -> None:
        inboxes = self._inboxes.get(deployment_id)
        if inboxes is not None:
            inboxes.discard(inbox)
            if not inboxes:
                del self._inboxes[deployment_id]

    def publish(self, deployment_id: str, lines: Sequence[LogLine]) -> None:
        for inbox in self._inboxes.get(deployment_id, ()):
            for line in lines:
                inbox.offer(line)

    def row_appended(self, deployment_id: str) -> None:
        for inbox in self._inboxes.get(deployment_id, ()):
            inbox.rows_changed = True
            inbox.wake()

    def lines_elsewhere(self, deployment_id: str | None) -> None:
        """Lines were stored by another replica: followers read them from the store."""
        targets = (
            self._inboxes.values()
            if deployment_id is None
            else ([self._inboxes[deployment_id]] if deployment_id in self._inboxes else [])
        )
        for inboxes in targets:
            for inbox in inboxes:
                inbox.overflowed = True  # a follower that overflowed reads the store
                inbox.wake()

    def close_all(self) -> None:
        for inboxes in self._inboxes.values():
            for inbox in inboxes:
                inbox.closed = True
                inbox.wake()


class LogFollower:
    """A deployment's lines after a position: history first, then live, then the end.

    Use as `async with engine.follow_logs(deployment_id, after=n) as lines:
    async for line in lines: …`. Lines come in `seq` order without gaps or repeats. The
    iteration ends once the deployment's latest row is final and every line is delivered,
    or when the engine shuts down (`closed` is then true).
    """

    def __init__(self, logs: DeploymentLogs, hub: _LogHub, deployment_id: str, after: int):
        self._logs = logs
        self._hub = hub
        self.deployment_id = deployment_id
        self.position = after
        """The `seq` of the last line delivered (or the start position)."""
        self._inbox: _Inbox | None = None
        self._pending: deque[LogLine] = deque()
        self._reading = True  # history first: the store is the source until caught up
        self._final = False
        self._done = False

    async def __aenter__(self) -> LogFollower:
        self._attach()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> LogFollower:
        return self

    async def __anext__(self) -> LogLine:
        inbox = self._attach()
        while not self._pending:
            if self._done:
                self.close()
                raise StopAsyncIteration
            await self._fill(inbox)
        line = self._pending.popleft()
        self.position = line.seq
        return line

    @property
    def closed(self) -> bool:
        """Whether the engine ended this follower (it is shutting down)."""
        return self._inbox is not None and self._inbox.closed

    def close(self) -> None:
        """Detach from the hub; further lines are not buffered."""
        if self._inbox is not None:
            self._hub.detach(self.deployment_id, self._inbox)

    def _attach(self) -> _Inbox:
        if self._inbox is None:
            # Attach before the first store read, so no line falls between the two.
            self._inbox = self._hub.attach(self.deployment_id)
        return self._inbox

    async def _fill(self, inbox: _Inbox) -> None:
        """Queue more lines, or mark the end; waits only when nothing is due."""
        if inbox.closed:
            self._done = True
            return
        if inbox.rows_changed:
            inbox.rows_changed = False
            # Known before the next store read, so that read holds every line
            # appended before the final row.
            self._final = await self._logs.is_over(self.deployment_id)
        if self._reading or inbox.overflowed or self._final:
            await self._read_store(inbox)
            return
        self._accept(await inbox.lines.get())

    async def _read_store(self, inbox: _Inbox) -> None:
        # Everything queued is in the store too: while reading, the store is the one source.
        inbox.overflowed = False
        inbox.drain()
        lines = await self._logs.read(self.deployment_id, self.position, CATCH_UP_BATCH)
        self._pending.extend(lines)
        self._reading = len(lines) == CATCH_UP_BATCH
        if not lines and self._final:
            self._done = True

    def _accept(self, line: LogLine | None) -> None:
        """Queue a live line if it is the next one; a gap means reading the store."""
        if line is None:
            return
        expected = (self._pending[-1].seq if self._pending else self.position) + 1
        if line.seq > expected:
            self._reading = True
        elif line.seq == expected:
            self._pending.append(line)


class DeploymentLogs:
    """Log lines of logical deployments: masked appends, pages and live followers."""

    def __init__(
        self,
        store: Store,
        config: LogsConfig,
        *,
        read: Runner,
        write: Runner,
        queue_size: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_line_bytes = config.max_line_bytes
        self._secrets = frozenset(v for values in config.secrets.values() for v in values)
        self._read = read
        self._write = write
        self._hub = _LogHub(queue_size)
        self._known: set[str] = set()

    @property
    def follower_count(self) -> int:
        """Followers attached right now (WebSocket streams, embedded log views)."""
        return self._hub.follower_count

    async def append(
        self, deployment_id: str, lines: Sequence[LogLineIngest], secrets: Iterable[str] = ()
    ) -> list[LogLine]:
        """Mask, number and store lines; live followers get them at once.

        Every configured secret and every value of `secrets` becomes `••••` before the
        line is stored; lines over `max_line_bytes` are cut.

        Raises:
            NotFound: the deployment has no rows yet (report its status first).
        """
        if not lines:
            return []
        await self._require(deployment_id)
        extra = frozenset(secrets)
        pattern = mask_pattern(self._secrets | extra if extra else self._secrets)
        now = to_micros(self._clock())
        new = [
            NewLogLine(
                now if line.at is None else to_micros(line.at),
                line.level,
                line.stream,
                fit_line(
                    line.message if pattern is None else pattern.sub(MASK, line.message),
                    self._max_line_bytes,
                ),
            )
            for line in lines
        ]
        stored = await self._write(self._store.append_logs, deployment_id, new)
        appended = [_log_line(line) for line in stored]
        self._hub.publish(deployment_id, appended)
        return appended

    async def page(self, deployment_id: str, after: int = 0, limit: int = MAX_PAGE) -> LogPage:
        """Lines numbered after `after`, oldest first, at most `limit`.

        Raises:
            InvalidRequest: `after` or `limit` is out of range.
            NotFound: the deployment has no rows.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", pointer="/limit")
        _check_after(after)
        lines = await self.read(deployment_id, after, limit + 1)
        if not lines:
            await self._require(deployment_id)
        more = len(lines) > limit
        items = lines[:limit]
        return LogPage(items=items, next_after=items[-1].seq if more else None)

    def follow(self, deployment_id: str, after: int = 0) -> LogFollower:
        """Lines after `after` (history, then live) until the deployment is over.

        Raises:
            InvalidRequest: `after` is negative.
        """
        _check_after(after)
        return LogFollower(self, self._hub, deployment_id, after)

    async def read(self, deployment_id: str, after: int, limit: int) -> list[LogLine]:
        """Stored lines after `after`, oldest first (no existence check)."""
        stored = await self._read(self._store.logs, deployment_id, after, limit)
        return [_log_line(line) for line in stored]

    async def status(self, deployment_id: str) -> Status | None:
        """The status of the deployment's latest row, or `None` when it has none."""
        query = DeploymentQuery(DeploymentFilters(deployment_id=deployment_id), limit=1)
        rows = await self._read(self._store.list_deployments, query)
        return None if not rows else Status(json.loads(rows[0][2])["status"])

    async def is_over(self, deployment_id: str) -> bool:
        """Whether the deployment's latest row is final: no more lines are expected."""
        return await self.status(deployment_id) in FINAL

    def row_appended(self, deployment_id: str) -> None:
        """Tell the deployment's followers that its status may have changed."""
        self._hub.row_appended(deployment_id)

    def lines_elsewhere(self, deployment_id: str | None) -> None:
        """Another replica stored lines of `deployment_id` (`None`: of any deployment)."""
        self._hub.lines_elsewhere(deployment_id)

    def close_followers(self) -> None:
        """End every follower now (the server is shutting down)."""
        self._hub.close_all()

    async def _require(self, deployment_id: str) -> None:
        if deployment_id in self._known:
            return
        if await self.status(deployment_id) is None:
            raise NotFound(f"no deployment has deployment_id {deployment_id!r}")
        if len(self._known) >= KNOWN_DEPLOYMENTS:
            self._known.clear()
        self._known.add(deployment_id)


def _check_after(after: int) -> None:
    if after < 0:
        raise InvalidRequest("after must be 0 or a line's seq", pointer="/after")


__all__ = ["DeploymentLogs", "LogFollower"]
