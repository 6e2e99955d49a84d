"""The log pane's title bar says why a stream ended or stopped in the server's or the
client's words: sanitised, whoever set them, so no escape sequence reaches the terminal."""

from __future__ import annotations

from textual.app import App, ComposeResult

from shipdeck.client import ConnectionStatus, LinkState
from shipdeck.tui.widgets.log_pane import PaneTitle, link_text

HOSTILE = "deploy\x1b]0;pwned\x07 failed\x1b[2J\x9b31m here\x1b]8;;https://evil.example\x1b\\x"
"""A window title, a screen clear, an 8-bit CSI, an OSC 8 hyperlink: what a hostile or
broken server could put in the reason a log stream ended."""


def _inert(text: str) -> None:
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)
    assert "pwned" not in text and "evil.example" not in text, repr(text)


def test_why_a_stream_ended_is_sanitised() -> None:
    text, style = link_text(ConnectionStatus(LinkState.LIVE), HOSTILE, roomy=True)

    _inert(text)
    assert text == "■ ended: deploy failed herex"
    assert style == "bold"


def test_why_a_stream_stopped_is_sanitised() -> None:
    status = ConnectionStatus(LinkState.OFFLINE, detail=HOSTILE)

    text, style = link_text(status, None, roomy=True)

    _inert(text)
    assert text == "■ deploy failed herex"
    assert style == "bold red"


class _TitleApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PaneTitle("d-1")


async def test_the_title_bar_draws_no_escape_from_the_server() -> None:
    app = _TitleApp()
    async with app.run_test(size=(120, 3)) as pilot:
        title = app.query_one(PaneTitle)
        title.ended = HOSTILE  # as a caller that forgot to sanitise would set it
        await pilot.pause()
        ended = title.render().plain
        title.ended = None
        title.link = ConnectionStatus(LinkState.OFFLINE, detail=HOSTILE)
        await pilot.pause()
        stopped = title.render().plain

    _inert(ended)
    _inert(stopped)
    assert "ended: deploy failed herex" in ended
    assert "■ deploy failed herex" in stopped
