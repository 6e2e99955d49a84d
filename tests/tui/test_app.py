"""The TUI as a person uses it: keys in, screen content out — on both engines."""

from __future__ import annotations

import httpx

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.tui.screens.detail import DetailScreen
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.history_table import HistoryTable
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from tests.conftest import ServerProcess, create_key
from tests.connectors.platforms import PlatformServer

from .conftest import make_app, row, screen_text, wait_for


async def ingest(client, server, body) -> None:
    """Report a row the way CI does for this engine (on another platform: what CI would
    have made it do)."""
    if isinstance(client, EmbeddedClient):
        await client.engine.ingest(body)
        return
    if isinstance(server, PlatformServer):
        server.report(body)
        return
    key = create_key(server.database_url)
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/api/deployments",
            content=body.model_dump_json(exclude_none=True),
            headers={"X-Api-Key": key, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text


def version(server, text: str) -> str:
    """How a SEED version shows on this engine (Pushpaka has none: its commit shows)."""
    return server.shown(text) if isinstance(server, PlatformServer) else text


def grid(app) -> MatrixGrid:
    return app.screen.query_one(MatrixGrid)


async def open_history(pilot, app, rows: int) -> HistoryTable:
    """Press H and wait until the history shows its first `rows` rows."""
    await pilot.press("H")
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, HistoryScreen)
            and len(app.screen.query_one(HistoryTable).rows) == rows
        ),
    )
    return app.screen.query_one(HistoryTable)


async def loaded(pilot, app) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen) and grid(app).services)


async def test_matrix_shows_every_slot_with_glyph_word_version_and_badges(deck_client) -> None:
    client, server = deck_client
    app = make_app(client)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        text = screen_text(app)
        header = next(line for line in text.splitlines() if line.startswith("service"))
        assert header.split()[2:] == ["dev", "qa", "uat", "prod"]
        checkout = next(line for line in text.splitlines() if line.startswith("checkout-api"))
        assert f"✓ success {version(server, '1.4.2')}" in checkout
        assert f"▸◷ {version(server, '1.4.4')}" in checkout  # qa's queued next
        assert f"✗ failure {version(server, '1.4.3')}" in checkout  # prod
        payments = next(line for line in text.splitlines() if line.startswith("payments"))
        # In progress after a failure, with its phase (Appaloft reported none yet, and
        # Pushpaka says `building`).
        phase = {"appaloft": "deploying", "pushpaka": "building"}.get(
            getattr(server, "kind", ""), "pushing"
        )
        assert f"!◐ {phase} {version(server, '2.0.1')}" in payments
        assert "● live" in text
        # The embedded engine acts as the local user (an admin); a server without a key is
        # read-only; the connectors were given a token.
        assert ("read-only" in text) is isinstance(server, ServerProcess)


async def test_cursor_moves_with_arrows_and_hjkl_and_panel_follows(deck_client) -> None:
    client, server = deck_client
    app = make_app(client)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        assert grid(app).focused_slot == ("[bold]evil[/bold]", "dev")
        await pilot.press("down", "l", "right", "right")
        assert grid(app).focused_slot == ("checkout-api", "prod")
        text = screen_text(app)
        assert "checkout-api → prod" in text
        assert "current" in text and "✗ failure" in text
        assert "last successful" in text and version(server, "1.4.2") in text
        if isinstance(server, PlatformServer):  # no CI runs there: the deployment's id
            assert "id gh-5" in text
        else:
            assert "run #5" in text and "https://ci.example.com/runs/gh-5" in text
        await pilot.press("h", "k", "j")
        assert grid(app).focused_slot == ("checkout-api", "uat")
        assert "Never deployed here." in screen_text(app)


async def test_filter_substring_and_fuzzy_then_clear(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"chkapi")
        await wait_for(pilot, lambda: grid(app).services == ["checkout-api"])
        await pilot.press("enter")
        assert app.focused is grid(app)
        await pilot.press("escape")
        assert len(grid(app).services) == 4


async def test_sort_by_last_change(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, app)
        assert grid(app).services[1:] == ["checkout-api", "payments", "search"]
        await pilot.press("s")
        assert grid(app).services == ["payments", "checkout-api", "[bold]evil[/bold]", "search"]


async def test_history_detail_parent_link_and_back(deck_client) -> None:
    client, server = deck_client
    app = make_app(client)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, app)
        await open_history(pilot, app, rows=10)
        table = app.screen.query_one(HistoryTable)
        assert [r.deployment_id for r in table.rows[:2]] == ["gh-7", "gh-3"]  # newest first
        await pilot.press("slash", *"status:failure", "enter")
        await wait_for(pilot, lambda: [r.deployment_id for r in table.rows] == ["gh-5", "gh-6"])
        await pilot.press("enter")
        shown = version(server, "1.4.3")
        await wait_for(
            pilot, lambda: isinstance(app.screen, DetailScreen) and shown in screen_text(app)
        )
        text = screen_text(app)
        assert "gh-5" in text and "checkout-api → prod" in text
        assert "gh-4" in text  # the slot's other recent deployment
        if getattr(server, "kind", None) == "pushpaka":  # its deployments name no parent
            assert "(none)" in text
            await pilot.press("escape", "escape")
            assert isinstance(app.screen, MatrixScreen)
            return
        assert "gh-2" in text
        await wait_for(
            pilot, lambda: app.focused is not None and app.focused.id == "detail-parents"
        )
        await pilot.press("enter")  # follow the parent link
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, DetailScreen) and app.screen.deployment_id == "gh-2",
        )
        await pilot.press("q")
        assert isinstance(app.screen, DetailScreen) and app.screen.deployment_id == "gh-5"
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, MatrixScreen)
        await pilot.press("q")  # nothing below the matrix: stays
        assert isinstance(app.screen, MatrixScreen)


async def test_enter_opens_the_focused_slots_history(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, app)
        await pilot.press("down", "right", "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, HistoryScreen)
                and len(app.screen.query_one(HistoryTable).rows) == 2
            ),
        )
        assert "service:checkout-api env:qa" in screen_text(app)


async def test_help_lists_every_key_of_the_screen(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(120, 48)) as pilot:  # every key fits without scrolling
        await loaded(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for words in (
            "Filter",
            "Sort",
            "Slot history",
            "History",
            "Help",
            "Quit",
            "Back",
            "Commands",
            "Previous environment",
        ):
            assert words in text, words
        await pilot.press("escape")
        assert isinstance(app.screen, MatrixScreen)


async def test_palette_opens_history_of_a_service(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        await pilot.press("colon", *"history service payments")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, HistoryScreen)
                and len(app.screen.query_one(HistoryTable).rows) == 3
            ),
        )
        assert {r.service for r in app.screen.query_one(HistoryTable).rows} == {"payments"}


async def test_live_row_repaints_its_cell_and_failure_notifies(deck_client) -> None:
    client, server = deck_client
    app = make_app(client)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        await ingest(client, server, row("gh-11", "search", "prod", "failure", 0, "0.9.1"))
        shown = version(server, "0.9.1")
        await wait_for(pilot, lambda: f"✗ failure {shown}" in screen_text(app))
        await wait_for(
            pilot,
            lambda: any(f"search {shown} failed in prod" in n.message for n in app._notifications),
        )


async def test_live_rows_enter_history_without_moving_the_cursor(deck_client) -> None:
    client, server = deck_client
    app = make_app(client)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, app)
        await open_history(pilot, app, rows=10)
        table = app.screen.query_one(HistoryTable)
        await pilot.press("down", "down")
        chosen = table.current
        await ingest(client, server, row("gh-12", "search", "qa", "in-progress", 0, "0.9.2"))
        await wait_for(pilot, lambda: len(table.rows) == 11)
        assert table.rows[0].deployment_id == "gh-12"
        assert table.current == chosen


async def test_hostile_text_is_inert(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        text = screen_text(app)
        assert "[bold]evil[/bold]" in text  # shown literally, not as markup
        assert "\x1b" not in text and "\x07" not in text
        assert "red" in text  # the version's text survives, its escape codes do not


async def test_read_only_flag(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client, read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, app)
        assert app.read_only and "read-only" in screen_text(app)


async def test_quit_with_capital_q(deck_client) -> None:
    client, _ = deck_client
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, app)
        await pilot.press("Q")
        await pilot.pause()
    assert app.return_code == 0


async def test_history_memory_is_bounded_during_long_live_runs(db_url, monkeypatch) -> None:
    """Live rows beyond the limit push the oldest out; the table says so."""
    from shipdeck.tui.widgets import history_table

    from .conftest import seed

    monkeypatch.setattr(history_table, "MAX_ROWS", 12)
    await seed(db_url)
    client = EmbeddedClient(db_url)
    app = make_app(client)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, app)
        await open_history(pilot, app, rows=10)
        for n in range(5):
            await client.engine.ingest(row(f"gh-{50 + n}", "search", "qa", "success", -n, "1"))
        table = app.screen.query_one(HistoryTable)
        await wait_for(pilot, lambda: table.rows[0].deployment_id == "gh-54")
        assert len(table.rows) == 12 and table.trimmed
        assert "older rows were dropped from memory" in screen_text(app)
