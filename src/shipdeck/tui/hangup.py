"""Leave when the terminal hangs up, even if no `SIGHUP` says so.

An SSH session that drops without its shell passing `SIGHUP` on (a killed multiplexer, a
session leader that ignores it) leaves the dashboard on a terminal that is gone. Textual's
input thread then finds its input at end-of-file over and over and spins a core, while the
writer waits forever on a screen nobody sees (Textualize/textual#6690): a jump host slowly
fills with dashboards burning CPU. This watcher waits — blocked in `poll`, costing nothing —
for the terminal to report a hang-up, and then does what the missing `SIGHUP` would have
done.

A process that inherited `SIGHUP` ignored (`trap '' HUP`, `nohup`, a supervisor that sets
`SIG_IGN`) was asked to survive hang-ups, and the dashboard keeps that disposition: a
`SIGHUP` alone — say its shell exited while the terminal stays open in a multiplexer or an
emulator — does not end it, and nothing here resets the signal to `SIG_DFL`. What ends it
is the terminal itself being gone, which the watcher sees in `poll`, not through the
signal: then there is nothing left to survive for (no one can ever see or reach the
dashboard again) and staying would spin a core as above. So, the signal being ignored,
the watcher ends the process itself with the status a shell gives a process a `SIGHUP`
killed (128 + 1), skipping the clean-up that would only wait on the dead terminal, as the
signal would. (Emacs, likewise, leaves an inherited `SIG_IGN` alone only in batch mode;
an interactive session has no use for outliving its terminal.)
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
            _hang_up()
            return


def _hang_up() -> None:
    """End the process as a hang-up does, even when `SIGHUP` is ignored (see above)."""
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        # Only the main thread may change a disposition: exit with the signal's status.
        os._exit(128 + signal.SIGHUP)
    # By default the kernel ends the process; a handler (should a program embedding the
    # dashboard install one) decides for itself.
    os.kill(os.getpid(), signal.SIGHUP)


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
