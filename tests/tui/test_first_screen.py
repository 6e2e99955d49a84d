"""What the matrix says before it has anything to show, the footer at 80 columns, and a
freeze window on the calendar."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from textual.widgets._footer import FooterKey

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.engine import EngineConfig
from shipdeck.tui.app import ASKING
from shipdeck.tui.widgets.deck_footer import DeckFooter
from shipdeck.tui.widgets.matrix_grid import MatrixGrid

from .conftest import ENVIRONMENTS, NOW, make_app, screen_lines, screen_text, seed, wait_for


async def test_an_empty_local_engine_says_how_to_start(db_url: str) -> None:
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "Three ways to start" in screen_text(app))
        text = screen_text(app)
        assert "shipdeck demo" in text
        assert "shipdeck --url http://HOST:8080" in text
        assert "shipdeck report --status success" in text and "docs/ci.md" in text
        assert "waiting for the first deployment" not in text


async def test_an_unreachable_server_is_said_then_used_once_it_answers(
    db_url: str, server_factory
) -> None:
    """A start without the server: the panel says so and what to check; once the server
    answers, the dashboard learns what the user may do (not `still asking…` for ever) and
    shows the matrix, without a restart."""
    await seed(db_url)
    server = server_factory(db_url)
    app = make_app(RemoteClient(server.url, connect_timeout=0.5, backoff_base=0.1))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "The engine does not answer" in screen_text(app))
        text = screen_text(app)
        assert "The engine does not answer: connection refused" in text
        assert "Is shipdeck serve running there?" in text and "shipdeck demo" in text
        assert "waiting for the first deployment" not in text
        await asyncio.to_thread(server.start)
        await wait_for(pilot, lambda: bool(app.screen.query_one(MatrixGrid).services))
        await wait_for(pilot, lambda: app.capabilities.reason != ASKING)
        assert "The engine does not answer" not in screen_text(app)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_footer_keeps_help_commands_and_quit(db_url: str, size: tuple[int, int]) -> None:
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query_one(MatrixGrid).services))
        await pilot.pause(0.2)
        footer = screen_lines(app)[-1]
        assert footer.rstrip().endswith("? Help  : Commands  Q Quit"), footer
        assert footer.startswith(" / Filter  s Sort")
        shown = footer.split()
        assert "Rol" not in shown and all(not word.endswith("…") for word in shown)
        await pilot.press("H")
        await wait_for(pilot, lambda: "q Back  ? Help  : Commands  Q Quit" in screen_lines(app)[-1])


PINNED = "? Help  : Commands  Q Quit"


async def test_the_footer_is_composed_anew_only_when_its_keys_change(db_url: str) -> None:
    """Bindings are refreshed often (a focus, an answer of the engine); the footer's keys are
    mounted anew only when what they show changed."""
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query_one(MatrixGrid).services))
        await wait_for(pilot, lambda: "d Deploy" in screen_lines(app)[-1])
        footer = app.screen.query_one(DeckFooter)
        keys, shown = list(footer.query(FooterKey)), screen_lines(app)[-1]
        for _ in range(3):
            app.refresh_bindings()
            await pilot.pause(0.05)
        assert list(footer.query(FooterKey)) == keys  # the same widgets
        assert screen_lines(app)[-1] == shown
        app.force_read_only = app.read_only = True  # the actions' keys go
        app.refresh_bindings()
        # At rest: the footer is recomposed (its old keys go before the new ones come).

        def read_only_keys() -> bool:
            line = screen_lines(app)[-1]
            return "d Deploy" not in line and line.rstrip().endswith(PINNED)

        await wait_for(pilot, read_only_keys)
        assert list(footer.query(FooterKey)) != keys


async def test_a_freeze_ahead_shows_when_it_starts(db_url: str) -> None:
    await seed(db_url)
    start, end = NOW + timedelta(hours=3), NOW + timedelta(hours=5)
    window = {"name": "year-end", "start": start.isoformat(), "end": end.isoformat()}
    config = EngineConfig(
        environments=[{"name": env} for env in ENVIRONMENTS],
        policies={"prod": {"freeze": [window]}},
    )
    app = make_app(EmbeddedClient(db_url, config))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "prod ❄ in 3h" in screen_lines(app)[1])
        assert "qa ❄" not in screen_lines(app)[1]
        await pilot.press("right", "right", "right")  # the prod slot of the first service
        await wait_for(pilot, lambda: "prod freezes in 3h: year-end" in screen_text(app))
