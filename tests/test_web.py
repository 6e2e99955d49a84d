"""`shipdeck web`: the dashboard in a real browser (Debian's Chromium, driven by Playwright).

What the page's terminal shows is read by replaying the bytes its WebSocket received into a
VT emulator (`pyte`) of the size the page asked for: xterm.js draws on a canvas, so there is
no text in the DOM to read, but those bytes are exactly what it drew.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pyte
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from shipdeck.cli import main
from shipdeck.cli_web import dashboard_argv
from shipdeck.web import DashboardServer, origin_allowed

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


@dataclass(frozen=True)
class WebDemo:
    """A running `shipdeck web --demo`: where it listens, and the address its banner told."""

    url: str
    """`http://127.0.0.1:PORT`, no token."""
    opened: str
    """What the banner says to open: the URL with `/?token=…`."""

    @property
    def token(self) -> str:
        return self.opened.rsplit("token=", 1)[1]


@pytest.fixture
def web_demo(tmp_path: Path) -> Iterator[WebDemo]:
    """`shipdeck web --demo` on a free loopback port, as `make web` runs it."""
    port = free_port()
    log_path = tmp_path / "web.log"
    log = log_path.open("w")
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
            assert proc.poll() is None, log_path.read_text()
            told = re.search(rf"{re.escape(url)}/\?token=[A-Za-z0-9_-]+", log_path.read_text())
            try:
                if told and httpx.get(told.group(), timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "shipdeck web did not answer"
            time.sleep(0.1)
        yield WebDemo(url, told.group())
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
    web_demo: WebDemo, tmp_path: Path
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
            page.goto(web_demo.opened)  # the address the banner told

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


def refused_socket(url: str, origin: str | None) -> int:
    """The status a WebSocket handshake to `url` is refused with."""
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin=origin, open_timeout=10)  # type: ignore[arg-type]
    return refused.value.response.status_code


def test_the_server_only_answers_its_own_pages(web_demo: WebDemo) -> None:
    base = web_demo.url.replace("http://", "ws://")
    socket = f"{base}/ws/{web_demo.token}?width=80&height=24"
    assert refused_socket(socket, "http://evil.example") == 403
    # A script outside a browser sends no Origin: it is refused even with the token.
    assert refused_socket(socket, None) == 403
    assert origin_allowed("http://localhost:8000", "127.0.0.1:8000", loopback=True)
    assert not origin_allowed("http://rebound.example:8000", "rebound.example:8000", True)
    assert origin_allowed("https://dash.internal", "dash.internal", loopback=False)
    assert not origin_allowed("http://dash.internal", "dash.internal:8000", loopback=False)


def test_the_page_and_its_socket_need_the_token(web_demo: WebDemo) -> None:
    """Another user of the machine reaches the port but cannot read the banner's token."""
    assert httpx.get(web_demo.url + "/").status_code == 403
    assert "token" in httpx.get(web_demo.url + "/").text
    assert httpx.get(web_demo.url + "/?token=guessed").status_code == 403
    page = httpx.get(web_demo.opened)
    assert page.status_code == 200
    assert f'data-session-websocket-url="{web_demo.url.replace("http", "ws")}/ws/' in page.text

    base, origin = web_demo.url.replace("http://", "ws://"), web_demo.url
    assert refused_socket(f"{base}/ws?width=80&height=24", origin) == 403  # textual-serve's
    assert refused_socket(f"{base}/ws/guessed?width=80&height=24", origin) == 403
    assert refused_socket(f"{base}/ws/{web_demo.token}x?width=80&height=24", origin) == 403


# textual-serve starts each session's process but never waits for it (AppService.run reads
# until end of file and returns): its transport is collected unclosed. That is the library's,
# and harmless here (`true` has exited), so it is collected and its warning ignored where
# the sessions were made, not in whichever test the collector happens to run next.
SESSION_PROCESS_LEFT_BY_TEXTUAL_SERVE = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture
async def served() -> AsyncIterator[tuple[DashboardServer, TestServer]]:
    """A `DashboardServer` in this loop on loopback, each session running `true` (the
    handshake is what is tested, not the dashboard)."""
    dashboard = DashboardServer("true", host="127.0.0.1", port=8000, target="a test")
    server = TestServer(await dashboard._make_app(), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield dashboard, server
    finally:
        await server.close()
        gc.collect()


@SESSION_PROCESS_LEFT_BY_TEXTUAL_SERVE
async def test_the_page_and_socket_follow_the_host_the_browser_asked_for(
    served: tuple[DashboardServer, TestServer],
) -> None:
    """Through `ssh -L 9000:localhost:8000` the browser asks for localhost:9000: the page
    must send it there, and its origin must be accepted (it is not the bound port)."""
    dashboard, server = served
    tunnel = {"Host": "localhost:9000"}
    async with aiohttp.ClientSession() as http:
        page_url = server.make_url(f"/?token={dashboard.token}")
        async with http.get(page_url, headers=tunnel) as page:
            assert page.status == 200
            text = await page.text()
        assert f'data-session-websocket-url="ws://localhost:9000/ws/{dashboard.token}"' in text
        assert 'href="http://localhost:9000/static/css/xterm.css"' in text
        assert "127.0.0.1" not in text and ":8000" not in text

        socket_url = server.make_url(f"/ws/{dashboard.token}?width=80&height=24")
        headers = {**tunnel, "Origin": "http://localhost:9000"}
        async with http.ws_connect(socket_url, headers=headers) as socket:
            assert not socket.closed  # 101: a session for the page of the tunnel's port
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            foreign = {**tunnel, "Origin": "http://localhost:9001"}
            await http.ws_connect(socket_url, headers=foreign)
        assert refused.value.status == 403


@SESSION_PROCESS_LEFT_BY_TEXTUAL_SERVE
async def test_a_remote_browser_is_sent_to_the_host_it_asked_for(
    served: tuple[DashboardServer, TestServer],
) -> None:
    """`--host 0.0.0.0 --allow-remote`: a browser elsewhere asked for `deploybox:8000`; its
    page must not point it at `0.0.0.0`."""
    dashboard, server = served
    dashboard.loopback = False  # as when bound to every interface
    async with aiohttp.ClientSession() as http:
        page_url = server.make_url(f"/?token={dashboard.token}")
        async with http.get(page_url, headers={"Host": "deploybox:8000"}) as page:
            text = await page.text()
        assert f'"ws://deploybox:8000/ws/{dashboard.token}"' in text
        socket_url = server.make_url(f"/ws/{dashboard.token}")
        headers = {"Host": "deploybox:8000", "Origin": "http://deploybox:8000"}
        async with http.ws_connect(socket_url, headers=headers) as socket:
            assert not socket.closed
    remote = DashboardServer("true", host="0.0.0.0", port=8000, target="t")
    assert "0.0.0.0" not in remote.banner(remote=True)
    assert f"/?token={remote.token}" in remote.banner(remote=True)


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
