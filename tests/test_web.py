"""`shipdeck web`: the dashboard in a real browser (Debian's Chromium, driven by Playwright).

What the page's terminal shows is read by replaying the bytes its WebSocket received into a
VT emulator (`pyte`) of the size the page asked for: xterm.js draws on a canvas, so there is
no text in the DOM to read, but those bytes are exactly what it drew.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyte
import pytest
from click.testing import CliRunner
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from shipdeck.cli import main
from shipdeck.cli_web import dashboard_argv
from shipdeck.web import origin_allowed

from .conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVICES = ("checkout-api", "payments", "ledger")


@pytest.fixture
def web_demo(tmp_path: Path) -> Iterator[str]:
    """`shipdeck web --demo` on a free loopback port; its URL."""
    port = free_port()
    log = (tmp_path / "web.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipdeck", "web", "--demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "web.log").read_text()
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "shipdeck web did not answer"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


class BrowserTerminal:
    """The page's terminal as text: its WebSocket's bytes fed to a `pyte` screen."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.size: tuple[int, int] | None = None

    def sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith('["resize"'):
            size = json.loads(payload)[1]
            self.size = (size["width"], size["height"])

    def lines(self) -> list[str]:
        if self.size is None:
            return []
        screen = pyte.Screen(*self.size)
        stream = pyte.ByteStream(screen)
        for chunk in self.received:
            stream.feed(chunk)
        return list(screen.display)


def test_the_demo_in_chromium_shows_the_matrix_and_answers_a_key(
    web_demo: str, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with "
            "`apt-get install -y --no-install-recommends chromium` (.ci/run does it)"
        )
    from playwright.sync_api import WebSocket, sync_playwright

    terminal = BrowserTerminal()

    def follow(socket: WebSocket) -> None:
        socket.on(
            "framereceived", lambda p: terminal.received.append(p) if isinstance(p, bytes) else None
        )
        socket.on("framesent", terminal.sent)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = browser.new_page()
            page.on("websocket", follow)
            page.goto(web_demo)

            def shows(*texts: str) -> str:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    screen = "\n".join(terminal.lines())
                    if all(text in screen for text in texts):
                        return screen
                    page.wait_for_timeout(100)  # the browser's events run meanwhile
                raise AssertionError(f"never showed {texts}:\n" + "\n".join(terminal.lines()))

            matrix = shows(*SERVICES, "Matrix · demo")
            assert "Keys — Matrix" not in matrix
            page.focus(".xterm-helper-textarea")
            page.keyboard.press("?")
            helped = shows("Keys — Matrix")
            assert helped != matrix
        finally:
            browser.close()


def test_the_server_only_answers_its_own_pages(web_demo: str) -> None:
    socket = web_demo.replace("http://", "ws://") + "/ws?width=80&height=24"
    with pytest.raises(InvalidStatus) as refused:
        connect(socket, origin="http://evil.example", open_timeout=10)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    assert origin_allowed("http://localhost:8000", "127.0.0.1:8000", 8000, loopback=True)
    assert not origin_allowed("http://rebound.example:8000", "rebound.example:8000", 8000, True)
    assert origin_allowed("https://dash.internal", "dash.internal", 443, loopback=False)


def test_it_stays_on_loopback_unless_told() -> None:
    runner = CliRunner()
    refused = runner.invoke(main, ["web", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "--allow-remote" in refused.output
    both = runner.invoke(main, ["web", "--demo", "--url", "http://a:1"])
    assert both.exit_code == 2 and "drop --profile and --url" in both.output
    helped = runner.invoke(main, ["web", "--help"])
    assert "127.0.0.1" in helped.output and "--allow-remote" in helped.output


def test_every_dashboard_option_reaches_the_sessions() -> None:
    argv = dashboard_argv(
        {"urls": ("http://a:1", "http://b:2"), "read_only": True, "config_file": Path("c.toml")}
    )
    assert argv[1:] == [
        "-m",
        "shipdeck",
        "--config",
        "c.toml",
        "--url",
        "http://a:1",
        "--url",
        "http://b:2",
        "--read-only",
    ]
    assert dashboard_argv({"demo": True, "read_only": True})[3:] == ["demo", "--read-only"]
    assert dashboard_argv({"profile": "prod"})[3:] == ["--profile", "prod"]
