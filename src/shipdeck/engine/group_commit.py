"""Group commit: concurrent ingests share one write transaction.

Each `append` waits in one queue; a single task commits every row waiting (up to
`GROUP_COMMIT_ROWS`) in one transaction — one lock hold, one WAL flush — and answers each
caller once that commit is durable. Nothing waits for a batch to fill: a lone row commits
at once. A batch that fails on its data is retried row by row, so one bad row cannot fail
the others; one that meets an absent database answers every row with that error (it may
even have committed before the answer was lost: never twice). Every committed row is handed
to `committed` (the engine publishes it) as soon as its transaction is, in order, whether or
not its caller still waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .store import AuditEntry, NewDeploymentRow, Store, StoredEvent, StoreUnavailable

GROUP_COMMIT_ROWS = 256
"""Rows committed in one transaction at most (the rest wait for the next)."""
TURN_BATCHES = 8
"""Transactions committed in one turn of the writer thread before other writes may run."""

Write = Callable[..., Awaitable[Any]]
Committed = Callable[[NewDeploymentRow, StoredEvent], None]
_Waiting = tuple[NewDeploymentRow, AuditEntry | None, "asyncio.Future[StoredEvent]"]


def _settle(
    future: asyncio.Future[StoredEvent],
    event: StoredEvent | None = None,
    exc: BaseException | None = None,
) -> None:
    if future.done():  # the caller went away (its request was cancelled)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert event is not None
        future.set_result(event)


class GroupCommit:
    """The engine's queue of rows to append (see the module docstring)."""

    def __init__(self, store: Store, write: Write, committed: Committed) -> None:
        self._store = store
        self._write = write
        self._committed = committed
        self._waiting: deque[_Waiting] = deque()
        """Appended on the event loop, taken on the writer thread (a deque's ends are safe
        across threads)."""
        self._task: asyncio.Task[None] | None = None

    async def append(self, row: NewDeploymentRow, audit: AuditEntry | None) -> StoredEvent:
        """Append one row (with its audit entry); return its event once it is durable."""
        future: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, audit, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._commit_waiting())
        return await future

    async def drain(self) -> None:
        """Wait until every row accepted so far is committed (or refused)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def _commit_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            await self._write(self._commit_batches, loop)

    def _commit_batches(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer thread: commit batch after batch while rows wait, each answered
        (on the loop) as soon as it is durable. The next batch starts at once, not once the
        event loop has come back to this task: a loop busy with requests kept the writer
        idle ~3 ms between transactions, holding up every replica's writes. After
        `TURN_BATCHES` the thread is let go, so the engine's other writes get their turn."""
        for _ in range(TURN_BATCHES):
            batch: list[_Waiting] = []
            with contextlib.suppress(IndexError):
                while len(batch) < GROUP_COMMIT_ROWS:
                    batch.append(self._waiting.popleft())
            if not batch:
                return
            answers = self._commit(batch)
            with contextlib.suppress(RuntimeError):  # the loop closed: no one to answer
                loop.call_soon_threadsafe(self._answer, batch, answers)

    def _commit(self, batch: list[_Waiting]) -> list[StoredEvent | BaseException]:
        try:
            return list(self._store.append_deployments([(row, audit) for row, audit, _ in batch]))
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, StoreUnavailable):
                return [exc] * len(batch)
        answers: list[StoredEvent | BaseException] = []
        for row, audit, _ in batch:  # one bad row must not fail the others
            try:
                answers.append(self._store.append_deployment(row, audit))
            except Exception as alone:
                answers.append(alone)
        return answers

    def _answer(self, batch: list[_Waiting], answers: list[StoredEvent | BaseException]) -> None:
        for (row, _, future), answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException):
                _settle(future, exc=answer)
            else:
                self._committed(row, answer)
                _settle(future, answer)
