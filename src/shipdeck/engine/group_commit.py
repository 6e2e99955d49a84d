"""Group commit: concurrent ingests share one write transaction.

Each `append` waits in one queue; a single task commits every row waiting (up to
`GROUP_COMMIT_ROWS`) in one transaction — one lock hold, one WAL flush — and answers each
caller once that commit is durable. Nothing waits for a batch to fill: a lone row commits
at once. A batch that fails on its data is retried row by row, so one bad row cannot fail
the others; one that meets an absent database answers every row with that error (it may
even have committed before the answer was lost: never twice).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from .store import AuditEntry, NewDeploymentRow, Store, StoredEvent, StoreUnavailable

GROUP_COMMIT_ROWS = 256
"""Rows committed in one transaction at most (the rest wait for the next)."""

Write = Callable[..., Awaitable[Any]]
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

    def __init__(self, store: Store, write: Write) -> None:
        self._store = store
        self._write = write
        self._waiting: list[_Waiting] = []
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
        while self._waiting:
            batch = self._waiting[:GROUP_COMMIT_ROWS]
            del self._waiting[:GROUP_COMMIT_ROWS]
            try:
                stored = await self._write(
                    self._store.append_deployments, [(row, audit) for row, audit, _ in batch]
                )
            except Exception as exc:
                if len(batch) > 1 and not isinstance(exc, StoreUnavailable):
                    await self._one_by_one(batch)
                else:
                    for _, _, future in batch:
                        _settle(future, exc=exc)
                continue
            for (_, _, future), event in zip(batch, stored, strict=True):
                _settle(future, event)

    async def _one_by_one(self, batch: list[_Waiting]) -> None:
        for row, audit, future in batch:
            try:
                one = await self._write(self._store.append_deployment, row, audit)
            except Exception as alone:
                _settle(future, exc=alone)
            else:
                _settle(future, one)
