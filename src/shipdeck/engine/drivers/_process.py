"""Child processes that run in a process group of their own, and how to stop all of it.

Drivers start children with `start_new_session=True`, so the child leads a new process group
and everything it spawns (a shell's commands, git's ssh) is in that group unless it leaves on
purpose. Stopping signals the whole group, never only the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable

EXIT_POLL_S = 0.05
"""How often to look whether a child exited (see `wait_exit`)."""
REAP_WAIT_S = 5.0
"""How long to wait for a SIGKILLed group's leader to be reaped and its pipes to close."""


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to process group `pgid`; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def wait_exit(process: asyncio.subprocess.Process) -> int:
    """The child's exit status, as soon as the child itself exits.

    `Process.wait()` also waits for the child's pipes to close on some Python versions
    (CPython gh-119710), and a grandchild left running may hold them open for ever. The
    return code is set as soon as the child exits, whoever holds the pipes.
    """
    while (code := process.returncode) is None:  # noqa: ASYNC110 (no exit event to await)
        await asyncio.sleep(EXIT_POLL_S)
    return code


async def stop_group(
    process: asyncio.subprocess.Process,
    grace: float,
    readers: Iterable[asyncio.Task[None]] = (),
) -> None:
    """Stop the child's whole process group: SIGTERM, up to `grace` s, then SIGKILL.

    The group gets SIGKILL even when it seemed to go quietly: a grandchild that ignores
    SIGTERM, or that the child left behind, must not outlive the run. The grace period ends
    early once the child has exited and every reader of its output reached end of file
    (nobody holds the pipes any more). SIGKILL is sent even if this is cancelled.
    """
    pgid = process.pid
    signal_group(pgid, signal.SIGTERM)
    exited = asyncio.ensure_future(wait_exit(process))
    try:
        await asyncio.wait([exited, *readers], timeout=grace)
    finally:
        exited.cancel()
        signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wait_exit(process), REAP_WAIT_S)


async def finish_readers(readers: Iterable[asyncio.Task[None]], wait: float) -> None:
    """Give output readers `wait` s to reach end of file, then cancel those still reading.

    Raises:
        Exception: the first error a reader raised (e.g. from the reporter).
    """
    tasks = list(readers)
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, timeout=wait)
    finally:
        for task in tasks:
            task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result
