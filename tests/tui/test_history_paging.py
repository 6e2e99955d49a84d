"""Paging the history: pages appended without a relayout still size and draw the table."""

from __future__ import annotations

from shipdeck.client import EngineError, LinkState
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.engine import Engine, EngineConfig
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.widgets.history_table import HistoryTable

from .conftest import make_app, row, screen_text, wait_for

ROWS = 250


async def test_appended_pages_resize_the_table_and_show_on_screen(db_url: str) -> None:
    engine = await Engine.open(db_url, EngineConfig())
    try:
        for i in range(ROWS):  # newest first: gh-0 is the newest row
            await engine.ingest(row(f"gh-{i}", "payments", "dev", "success", i, f"1.0.{i}"))
    finally:
        await engine.close()
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "payments" in screen_text(app))
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        table = app.screen.query_one(HistoryTable)
        await wait_for(pilot, lambda: len(table.rows) >= 100)
        while table.cursor < ROWS - 1:
            await pilot.press("pagedown")
            await wait_for(pilot, lambda: not table.fetching)
        assert len(table.rows) == ROWS and not table.has_more
        assert table.virtual_size.height == ROWS  # no "loading" line left
        assert table.max_scroll_y == ROWS - table.size.height
        assert table.vertical_scrollbar.window_virtual_size == ROWS  # the thumb follows
        text = screen_text(app)
        assert f"1.0.{ROWS - 1}" in text  # the oldest row, from the last page, is drawn
        assert "loading older rows" not in text
        await pilot.press("home")
        await wait_for(pilot, lambda: "1.0.0 " in screen_text(app))


async def test_a_page_that_cannot_be_read_is_told(db_url: str, monkeypatch) -> None:
    """A screen's failed worker reaches the app's one error path (`Worker.StateChanged`
    does not bubble): the person sees why the history stays empty, once."""
    client = EmbeddedClient(db_url)
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.connection.state is LinkState.LIVE)
        await pilot.pause(0.3)

        calls: list[object] = []

        async def unreachable(*args: object, **kwargs: object) -> object:
            calls.append(args)
            raise EngineError("the engine did not answer in time")

        monkeypatch.setattr(client, "deployments", unreachable)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await wait_for(pilot, lambda: app._notifications)
        await pilot.pause(0.2)
        assert len(calls) == 1, calls
        assert [n.message for n in app._notifications] == ["the engine did not answer in time"]
