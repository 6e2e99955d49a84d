"""Terminal injection: hostile text in every field that reaches the screen stays inert.

A real `shipdeck` dashboard runs in a pseudo-terminal against a real server whose data holds
a corpus of escape sequences and markup in services, versions, actors, refs, messages, log
lines, approval comments and (through a refusal) problem details. The test walks the screens
by keyboard and reads every byte the app writes: none of the corpus's sequences may be there,
and the app must quit cleanly.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from fcntl import ioctl
from pathlib import Path

import httpx

from shipdeck.domain import Role
from tests.conftest import ServerProcess, create_key

CORPUS = [
    "\x1b]0;pwned-title\x07",  # OSC 0 ended by BEL
    "\x1b]0;pwned-title\x1b\\",  # OSC 0 ended by ST
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b]52;c;cGF3bmVk\x07",  # OSC 52 clipboard write
    "\x1bP1$r0m\x1b\\",  # DCS
    "\x1b_apc-payload\x1b\\",  # APC
    "\x1b[6n",  # CSI 6n: ask the terminal to type the cursor position
    "\x1bc",  # ESC c: reset the terminal
    "\x1b]0;unterminated",  # OSC never ended
    "\x9b31m",  # raw 8-bit CSI
    "\x9d0;c1-osc\x07",  # raw 8-bit OSC
    "over\rwrite",  # lone CR
    "back\x08\x08\x08space",  # BS
    "[bold red]markup[/]",  # markup-looking brackets
    "[link=https://evil.example]x[/link]",
]
FORBIDDEN_BYTES = [
    b"\x1b]0;",
    b"\x1b]8;",
    b"\x1b]52;",
    b"\x1bP",
    b"\x1b_",
    b"\x1b[6n",
    b"\x1bc",
    b"pwned-title",
    b"apc-payload",
    b"c1-osc",
]
FORBIDDEN_CHARS = ["\x9b", "\x9d", "\x07", "\x08"]
POLICY = """
[rate_limit]
per_second = 100000
burst = 100000
[executor]
driver = "slow"
[drivers.slow]
kind = "simulate"
scale = 20.0
failure_rate = 0.0
[policies.prod]
approvals_required = 2
"""


def seed(url: str, admin: str, reporter: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for n, text in enumerate(CORPUS):
            body = {
                "deployment_id": f"evil-{n}",
                "service": f"svc{n}{text}"[:128],
                "environment": ("dev", "qa", "prod")[n % 3],
                "status": ("success", "failure", "in-progress")[n % 3],
                "version": text[:50],
                "happened_at": f"2026-05-28T09:{n:02d}:00Z",
                "actor": text[:128],
                "ref": text[:256],
                "sha": "abc1234",
                "message": text,
            }
            response = http.post("/api/deployments", json=body, headers={"X-Api-Key": reporter})
            assert response.status_code == 201, response.text
            lines = {"lines": [{"message": t, "level": "error"} for t in CORPUS]}
            response = http.post(
                f"/api/deployments/evil-{n}/logs", json=lines, headers={"X-Api-Key": reporter}
            )
            assert response.status_code == 201, response.text
        # A promotion awaiting approval, with a hostile comment on it.
        good = {
            "deployment_id": "ok-qa",
            "service": "plain",
            "environment": "qa",
            "status": "success",
            "version": "1.0",
            "happened_at": "2026-05-28T09:30:00Z",
        }
        assert http.post("/api/deployments", json=good, headers={"X-Api-Key": reporter}).is_success
        promoted = http.post(
            "/api/promotions",
            json={"service": "plain", "from_environment": "qa", "to_environment": "prod"},
            headers={"X-Api-Key": admin},
        )
        assert promoted.status_code == 202, promoted.text


def run_dashboard(url: str, token: str, keys: list[tuple[bytes, float]]) -> tuple[bytes, int]:
    """Run `shipdeck --url` in a 160×48 pty, type `keys`; all output and the exit code."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the dashboard
        os.environ.update(
            {"TERM": "xterm-256color", "SHIPDECK_TOKEN": token, "COLUMNS": "160", "LINES": "48"}
        )
        os.execv(sys.executable, [sys.executable, "-m", "shipdeck", "--url", url])
    ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    output = bytearray()

    def drain(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    output.extend(os.read(fd, 65536))
                except OSError:
                    return

    drain(6.0)  # start-up, first paint
    for key, wait in keys:
        os.write(fd, key)
        drain(wait)
    deadline = time.monotonic() + 15
    status = None
    while time.monotonic() < deadline:
        drain(0.2)
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status = code
            break
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the dashboard did not quit")
    os.close(fd)
    return bytes(output), os.waitstatus_to_exitcode(status)


def test_hostile_text_never_reaches_the_terminal(
    db_url: str, tmp_path: Path, server_factory: type[ServerProcess]
) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(POLICY)
    admin = create_key(db_url, "root", Role.ADMIN)
    reporter = create_key(db_url, "ci", Role.REPORTER)
    server = server_factory(db_url, config).start()
    seed(server.url, admin, reporter)
    approver = create_key(db_url, "ana", Role.APPROVER)
    with httpx.Client(base_url=server.url) as http:
        pending = http.get("/api/promotions", params={"status": "awaiting-approval"}).json()
        promotion_id = pending["items"][0]["id"]
        answer = http.post(
            f"/api/promotions/{promotion_id}/approve",
            json={"comment": "".join(CORPUS)[:2000]},
            headers={"X-Api-Key": approver},
        )
        assert answer.status_code == 200, answer.text
    down, enter, esc = b"\x1b[B", b"\r", b"\x1b"
    keys = [
        (down, 0.3),
        (b"\r", 1.5),  # history of the focused slot
        (enter, 1.5),  # a deployment's detail
        (esc, 0.5),
        (esc, 0.5),
        (b"H", 1.5),  # all history
        (down * 5, 0.5),
        (enter, 1.5),
        (esc, 0.5),
        (esc, 0.5),
        (b"L", 2.5),  # logs of the focused slot
        (b"/", 0.3),
        (b"pwn\r", 1.0),
        (esc, 0.5),
        (esc, 0.5),
        (b"A", 2.0),  # approvals
        (enter, 1.5),  # the promotion's detail, with its comment
        (esc, 0.5),
        (esc, 0.5),
        (b"r", 2.0),  # a rollback with nothing to roll back to: the engine's refusal
        (esc, 0.5),
        (b":", 0.5),  # the command palette
        (b"hist", 0.5),
        (esc, 0.5),
        (b"Q", 1.0),
    ]
    output, code = run_dashboard(server.url, admin, keys)
    assert len(output) > 10_000, "the dashboard drew next to nothing"
    # Textual's own OSC: the mouse pointer's shape. Anything else starting an OSC is not ours.
    output = re.sub(rb"\x1b\]22;[\w-]*\x07", b"", output)
    assert b"\x1b]" not in output, "an OSC sequence reached the terminal"
    for sequence in FORBIDDEN_BYTES:
        assert sequence not in output, f"{sequence!r} reached the terminal"
    text = output.decode("utf-8")  # valid UTF-8 throughout: no raw 8-bit C1 bytes
    for char in FORBIDDEN_CHARS:
        assert char not in text, f"{char!r} reached the terminal"
    assert "Traceback" not in text
    assert code == 0, f"the dashboard exited with {code}"
    print(
        f"\nterminal injection: {len(CORPUS)} sequences × every field, {len(output):,} bytes read"
    )
