"""Log lines in batches: a background pump fills a queue, the reader takes what is ready.

Both clients follow a deployment's log the same way: a pump task (the WebSocket for the
remote engine, the engine's follower for the embedded one) puts lines and link changes on a
bounded queue, and `batched` turns everything already queued into one `LogLinesArrived`, so a
burst of lines costs the reader one item (one repaint), not one per line. A full queue makes
the pump wait, which stops it reading: a slow reader slows the source, it never loses lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..domain import LogLine
from ._pump import Pump, Pumps
from .base import (
    ConnectionStatus,
    LinkState,
    LogItem,
    LogLinesArrived,
    LogLinkChanged,
    LogStreamEnded,
)

MAX_BATCH = 500
"""The most lines one `LogLinesArrived` carries."""
QUEUE_SIZE = 2 * MAX_BATCH
"""Lines (and link changes) a pump may get ahead of its reader."""

LogSignal = LogLine | LogLinkChanged | LogStreamEnded
LogOut = asyncio.Queue[LogSignal | None]
"""What a pump fills: lines in order, link changes, the end; `None` only wakes the reader."""
LogPump = Pump[LogSignal | None]


def link(state: LinkState, **fields: Any) -> LogLinkChanged:
    """A change of the log stream's link."""
    return LogLinkChanged(ConnectionStatus(state, **fields))


def is_final(item: LogSignal) -> bool:
    """Whether nothing follows `item`: the stream ended, or stopped for good."""
    if isinstance(item, LogStreamEnded):
        return True
    return isinstance(item, LogLinkChanged) and item.status.state is LinkState.OFFLINE


async def batched(pump: LogPump, *, after: int, name: str, pumps: Pumps) -> AsyncIterator[LogItem]:
    """Run `pump` in the background and yield what it queues, lines in batches.

    Args:
        pump: fills the queue; it ends after putting a final item (or when cancelled).
        after: the position the stream starts after; no line at or before it is yielded.
        name: the pump task's name.
        pumps: the owner's running pumps (it cancels them when it closes, and the
            iteration then ends).

    Raises:
        Exception: whatever the pump raised (a bug: network failures never leave a pump).
    """
    out: LogOut = asyncio.Queue(QUEUE_SIZE)
    last = after
    async with pumps.run(pump, out, name=name) as run:
        while (item := await run.next()) is not None:
            if not isinstance(item, LogLine):
                yield item
                if is_final(item):
                    break
                continue
            lines, held = _take_ready(item, out, last)
            if lines:
                last = lines[-1].seq
                yield LogLinesArrived(tuple(lines))
            if held is not None:
                yield held
                if is_final(held):
                    break


def _take_ready(
    first: LogLine, out: LogOut, last: int
) -> tuple[list[LogLine], LogLinkChanged | LogStreamEnded | None]:
    """`first` and the lines queued behind it (up to a batch), without waiting.

    Returns the lines, each newer than `last` and than the one before (a repeat is dropped),
    and the non-line item that stopped the batch, if one did.
    """
    lines = [first] if first.seq > last else []
    while len(lines) < MAX_BATCH and not out.empty():
        item = out.get_nowait()
        if item is None:
            break
        if not isinstance(item, LogLine):
            return lines, item
        if item.seq > (lines[-1].seq if lines else last):
            lines.append(item)
    return lines, None
