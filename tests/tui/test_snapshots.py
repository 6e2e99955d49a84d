"""SVG snapshots of every screen, at 80×24 and at 160×48, on a known store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from shipdeck.client.embedded import EmbeddedEngine
from shipdeck.engine import load_config
from shipdeck.tui.screens.detail import DetailScreen
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.history_table import HistoryTable
from shipdeck.tui.widgets.matrix_grid import MatrixGrid

from .conftest import engine_config_file, make_app, seed, wait_for

SIZES = [(80, 24), (160, 48)]


async def _matrix(pilot: Pilot[None]) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, MatrixScreen) and app.screen.query_one(MatrixGrid).services,
    )
    await pilot.press("down", "right", "right", "right")


async def _history(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("H")
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, HistoryScreen)
            and len(app.screen.query_one(HistoryTable).rows) == 10
        ),
    )
    await pilot.press("down")


async def _detail(pilot: Pilot[None]) -> None:
    await _history(pilot)
    await pilot.press("down", "down", "enter")
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, DetailScreen)
            and app.screen.rows
            and app.screen.query_one("#detail-recent").option_count > 0
        ),
    )


async def _help(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("question_mark")


async def _filter(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("slash", *"pay")


async def _palette(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("colon", *"history serv")
    await pilot.pause(0.5)


SCREENS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "matrix": _matrix,
    "matrix-filter": _filter,
    "history": _history,
    "detail": _detail,
    "help": _help,
    "palette": _palette,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    screen: str, size: tuple[int, int], snap_compare, db_url, tmp_path
) -> None:
    import asyncio

    asyncio.run(seed(db_url))
    client = EmbeddedEngine(db_url, load_config(engine_config_file(tmp_path)))  # type: ignore[arg-type]
    app = make_app(client)

    async def run_before(pilot: Pilot[None]) -> None:
        await SCREENS[screen](pilot)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
