"""Leave when the terminal hangs up, even if no `SIGHUP` says so.

An SSH session that drops without its shell passing `SIGHUP` on (a killed multiplexer, a
session leader that ignores it) leaves the dashboard on a terminal that is gone. Textual's
input thread then finds its input at end-of-file over and over and spins a core, while the
writer waits forever on a screen nobody sees (Textualize/textual#6690): a jump host slowly
fills with dashboards burning CPU. This watcher waits — blocked in `poll`, costing nothing —
for the terminal to report a hang-up, and then does what the missing `SIGHUP` would have
done.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading

_started = False


def _wait_for_hangup(fd: int) -> None:
    watcher = select.poll()
    watcher.register(fd, 0)  # no events asked: poll reports only hang-up, error, invalid
    while True:
        try:
            events = watcher.poll()
        except InterruptedError:  # a signal arrived meanwhile; keep waiting
            continue
        if any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, mask in events):
            os.kill(os.getpid(), signal.SIGHUP)  # ends the process, as a hang-up does
            return


def exit_on_hangup() -> None:
    """Start watching standard input's terminal, once per process; nothing when it is not
    a terminal (tests, pipes, `shipdeck web`'s own sessions)."""
    global _started
    if _started or not hasattr(select, "poll"):
        return
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return
    if not os.isatty(fd):
        return
    _started = True
    threading.Thread(
        target=_wait_for_hangup, args=(fd,), name="shipdeck-hangup", daemon=True
    ).start()


__all__ = ["exit_on_hangup"]
