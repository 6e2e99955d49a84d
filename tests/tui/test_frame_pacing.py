"""When a screen's frames are drawn: at once when due, never a period later than that.

Textual's update timer, resumed after a pause, schedules the frame after the next one a
period too late (1–2 periods after the last frame, not 0–1): one clock repaint held back the
next keystroke's frame by up to 33 ms. `FramePacer` replaces it on every shipdeck screen, and
a key press is drawn without waiting out the period at all. One cursor step draws the grid
and the slot panel in one frame (the panel used to follow through a message, a frame later).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest
from textual.app import App

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.tui.pacing import FramePacer, InputFirst
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.filter_box import FilterBox
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from shipdeck.tui.widgets.slot_panel import SlotPanel

from .conftest import make_app, screen_text, seed, wait_for

PERIOD = 1 / 60


class Drawn:
    """The loop's clock at each draw."""

    def __init__(self) -> None:
        self.at: list[float] = []

    def __call__(self) -> None:
        self.at.append(asyncio.get_running_loop().time())


def pacer(app: App[object] | None = None) -> tuple[FramePacer, Drawn]:
    drawn = Drawn()
    return FramePacer(PERIOD, drawn, app or InputFirst()), drawn


async def settle(until: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not until():
        assert asyncio.get_running_loop().time() < deadline, "the frame was never drawn"
        await asyncio.sleep(0.001)


async def test_a_frame_asked_for_after_a_quiet_spell_is_drawn_at_once() -> None:
    pace, drawn = pacer()
    pace.resume()
    assert pace.due == -math.inf  # on the loop's next turn, not after a period
    await asyncio.sleep(0)
    assert len(drawn.at) == 1
    assert pace.due is None


async def test_the_next_frame_comes_one_period_after_the_last_never_two() -> None:
    pace, drawn = pacer()
    pace.resume()
    await settle(lambda: len(drawn.at) == 1)
    pace.resume()  # something changed right after the frame
    assert pace.due == pytest.approx(drawn.at[0] + PERIOD, abs=1e-4)
    pace.resume()  # and again: still the one frame
    assert pace.due == pytest.approx(drawn.at[0] + PERIOD, abs=1e-4)
    await settle(lambda: len(drawn.at) == 2)
    assert drawn.at[1] - drawn.at[0] == pytest.approx(PERIOD, abs=0.01)


async def test_pausing_drops_the_frame_asked_for() -> None:
    pace, drawn = pacer()
    pace.resume()
    await settle(lambda: len(drawn.at) == 1)
    pace.resume()
    pace.pause()
    assert pace.due is None
    await asyncio.sleep(PERIOD * 3)
    assert len(drawn.at) == 1


async def test_a_key_pressed_since_the_last_frame_is_drawn_without_waiting() -> None:
    app = InputFirst()
    pace, drawn = pacer(app)
    pace.resume()
    await settle(lambda: len(drawn.at) == 1)
    pace.resume()  # a live row: waits out the period
    assert pace.due == pytest.approx(drawn.at[0] + PERIOD, abs=1e-4)
    app.input_at = asyncio.get_running_loop().time()  # then a key press
    pace.resume()
    assert pace.due == -math.inf  # brought forward
    await asyncio.sleep(0)
    assert len(drawn.at) == 2
    pace.resume()  # what follows the drawn key press waits again
    assert pace.due == pytest.approx(drawn.at[1] + PERIOD, abs=1e-4)


async def test_an_app_without_input_stamps_keeps_the_period() -> None:
    pace, drawn = pacer(App())
    pace.resume()
    await settle(lambda: len(drawn.at) == 1)
    pace.resume()
    assert pace.due == pytest.approx(drawn.at[0] + PERIOD, abs=1e-4)


async def test_a_cursor_step_is_one_frame_with_the_slot_panel(db_url: str) -> None:
    """The real app: every screen is paced, and `down` repaints grid and panel together."""
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        assert isinstance(screen._update_timer, FramePacer)
        grid, panel = screen.query_one(MatrixGrid), screen.query_one(SlotPanel)
        await pilot.pause()
        frames: list[str] = []
        display = app._display

        def counted(shown_screen: object, renderable: object) -> None:
            display(shown_screen, renderable)  # type: ignore[arg-type]
            if renderable is not None:
                frames.append(str(panel.render()))

        app._display = counted  # type: ignore[method-assign]
        try:
            before = str(panel.render())
            await pilot.press("down")
            await pilot.pause()
            await asyncio.sleep(4 * PERIOD)  # a late second frame would be drawn by now
            await pilot.pause()
        finally:
            del app._display
        assert grid.cursor_row == 1
        assert len(frames) == 1, f"{len(frames)} frames for one cursor step"
        assert frames[0] != before  # the panel of the new slot, in that one frame
        assert grid.focused_slot[0] in frames[0]


async def test_typing_a_filter_lays_nothing_out_and_keeps_the_cursor_in_view(db_url: str) -> None:
    """`FilterBox`: a keystroke repaints the box and the grid, without laying out the screen
    (Textual's `Input` asked for a whole-screen layout per character); a filter longer than
    the box still scrolls to keep its cursor in view."""
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=(80, 30)) as pilot:
        await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        await pilot.press("slash")
        await pilot.pause()
        layouts: list[object] = []
        relayout = screen._refresh_layout

        def counted(*args: object, **kwargs: object) -> None:
            layouts.append(args)
            relayout(*args, **kwargs)  # type: ignore[arg-type]

        screen._refresh_layout = counted  # type: ignore[method-assign]
        try:
            await pilot.press(*"checkout")
            await pilot.pause()
        finally:
            del screen._refresh_layout
        assert layouts == []
        assert screen.query_one(MatrixGrid).services == ["checkout-api"]
        box = screen.query_one("#matrix-filter", FilterBox)
        await pilot.press(*("x" * 70))
        await pilot.pause()
        assert box.value == "checkout" + "x" * 70
        assert box.scroll_x > 0
        # In view: on the text or on the cell after it (the box's padding), as `Input` does.
        assert box.content_region.x <= box.cursor_screen_offset.x <= box.content_region.right
