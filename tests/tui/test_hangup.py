"""A dashboard whose terminal hangs up without a `SIGHUP` leaves instead of spinning."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"the dashboard never drew {marker!r}: {seen[-400:]!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            seen += os.read(fd, 65536)
    return seen


def _dashboard(tmp_path: Path, command: Sequence[str]) -> tuple[subprocess.Popen[bytes], int]:
    """`command` (which runs the dashboard) on a new terminal of its own, and the terminal's
    other end, once the dashboard has drawn its first screen."""
    main, terminal = os.openpty()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TERM": "xterm-256color",
        "COLUMNS": "100",
        "LINES": "30",
    }
    proc = subprocess.Popen(
        command,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,  # no controlling terminal: no kernel SIGHUP on close
    )
    os.close(terminal)
    try:
        _read_until(main, b"shipdeck", timeout=30)
    except BaseException:
        proc.kill()
        proc.wait()
        os.close(main)
        raise
    return proc, main


def _ignored_signals(pid: int) -> int:
    """The process's mask of ignored signals, as the kernel has it (bit n-1: signal n)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn in /proc/{pid}/status")


def test_a_terminal_gone_without_sighup_ends_the_dashboard(tmp_path: Path) -> None:
    """The SSH-drop case of Textual#6690: the terminal is not the process's controlling
    terminal (a new session), so closing it sends no signal at all; before the watcher, the
    process stayed, spinning a core, forever."""
    proc, main = _dashboard(tmp_path, [sys.executable, "-m", "shipdeck"])
    try:
        time.sleep(0.5)
        os.close(main)  # the SSH session is gone
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGHUP
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_ignored_sighup_stays_ignored_but_a_dead_terminal_still_ends_it(
    tmp_path: Path,
) -> None:
    """Started with `SIGHUP` ignored (`trap '' HUP`, as `nohup` does): a hang-up signal alone
    leaves the dashboard running (the user asked for that), and it keeps the disposition;
    its terminal going away ends it all the same, with a hang-up's exit status. Before, the
    watcher's own `SIGHUP` was ignored too and the dashboard spun on a dead terminal."""
    command = f"trap '' HUP; exec {sys.executable} -m shipdeck"
    proc, main = _dashboard(tmp_path, ["/bin/sh", "-c", command])
    try:
        hup = 1 << (signal.SIGHUP - 1)
        assert _ignored_signals(proc.pid) & hup, "the shell did not leave SIGHUP ignored"
        os.kill(proc.pid, signal.SIGHUP)  # discarded by the kernel: it is ignored
        os.write(main, b"?")  # the dashboard still answers keys: it opens its help
        _read_until(main, b"Keys of", timeout=30)
        assert proc.poll() is None
        assert _ignored_signals(proc.pid) & hup, "the dashboard stopped ignoring SIGHUP"

        os.close(main)  # the terminal is gone
        proc.wait(timeout=10)
        assert proc.returncode == 128 + signal.SIGHUP
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
