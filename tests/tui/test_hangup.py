"""A dashboard whose terminal hangs up without a `SIGHUP` leaves instead of spinning."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
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


def test_a_terminal_gone_without_sighup_ends_the_dashboard(tmp_path: Path) -> None:
    """The SSH-drop case of Textual#6690: the terminal is not the process's controlling
    terminal (a new session), so closing it sends no signal at all; before the watcher, the
    process stayed, spinning a core, forever."""
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
        [sys.executable, "-m", "shipdeck"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,  # no controlling terminal: no kernel SIGHUP on close
    )
    os.close(terminal)
    try:
        _read_until(main, b"shipdeck", timeout=30)
        time.sleep(0.5)
        os.close(main)  # the SSH session is gone
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGHUP
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
