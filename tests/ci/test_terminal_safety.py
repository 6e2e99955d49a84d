"""What a server says reaches the CI job's log, and often a terminal, with no escape
sequence or other control character in it: a hostile or broken server answering
`shipdeck report` on loopback cannot retitle the window, clear the screen or plant a link.

The server here is a real HTTP server on loopback that answers as a compromised one would;
the real `shipdeck serve` quotes what it echoes (`!r`), so it cannot be made to send these.
`tests/ci/test_wait.py` drives the same paths of `deploy|promote --wait` with a real one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import shipdeck

HOSTILE = "deploy\x1b]0;pwned\x07 failed\x1b[2J\x9b31m here\x1b]8;;https://evil.example\x1b\\x"
"""A window title, a screen clear, an 8-bit CSI and an OSC 8 hyperlink, with BEL and ST."""
SHOWN = "deploy failed herex"
"""What is left of it to print."""


def assert_inert(text: str) -> None:
    """No ESC, BEL or any other C0/C1 control but the line ends; nothing of the sequences."""
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)
    assert "pwned" not in text and "evil.example" not in text, repr(text)


class HostileHandler(BaseHTTPRequestHandler):
    """Answers `POST /api/deployments` by the row's deployment id: refused, busy, stored."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer: tuple[int, dict[str, Any], dict[str, str]]
        match body["deployment_id"]:
            case "refused":
                problem = {
                    "type": "https://shipdeck.dev/problems/invalid-request",
                    "title": "Invalid request",
                    "detail": HOSTILE,
                    "errors": [{"pointer": "/version\x1b[2J", "message": f"bad {HOSTILE}"}],
                }
                answer = (422, problem, {})
            case "busy":
                answer = (503, {"title": "Busy", "detail": HOSTILE}, {"Retry-After": "60"})
            case _:
                answer = (201, {"id": HOSTILE}, {})
        status, document, headers = answer
        payload = json.dumps(document).encode()
        self.send_response(status)
        kind = "application/json" if status == 201 else "application/problem+json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # the base's name
        pass


@pytest.fixture
def hostile_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def report(url: str, deployment_id: str) -> Any:
    return shipdeck(
        "report",
        "--url",
        url,
        "--status",
        "success",
        "--service",
        "api",
        "--environment",
        "prod",
        "--deployment-id",
        deployment_id,
        "--timeout",
        "5",
        env={"SHIPDECK_TOKEN": "k"},
    )


def test_a_refusal_is_printed_without_the_servers_escapes(hostile_url: str) -> None:
    done = report(hostile_url, "refused")

    assert done.returncode == 3, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert_inert(done.stderr)
    assert done.stderr == f"shipdeck report: {SHOWN} (/version: bad {SHOWN})\n"


def test_a_busy_servers_words_are_printed_without_escapes(hostile_url: str) -> None:
    done = report(hostile_url, "busy")

    assert done.returncode == 5, done.stderr
    assert_inert(done.stderr)
    assert f"answered HTTP 503: {SHOWN} (gave up after 1 attempts)" in done.stderr


def test_a_stored_rows_id_is_printed_without_escapes(hostile_url: str) -> None:
    done = report(hostile_url, "stored")

    assert done.returncode == 0, done.stderr
    assert_inert(done.stdout)
    assert done.stdout == f"reported success: api → prod, deployment stored (row {SHOWN})\n"


def test_an_option_with_escapes_is_printed_without_them(hostile_url: str) -> None:
    """The job's own values are echoed too (a branch name, a message pasted in)."""
    done = report(hostile_url, f"stored-{HOSTILE}")

    assert done.returncode == 0, done.stderr
    assert_inert(done.stdout)
    assert f"deployment stored-{SHOWN} (row {SHOWN})" in done.stdout
