"""What keeps a keystroke's repaint small at 10,000 services, and that it shows the truth.

The grid keeps each service's drawn line and reuses it while the line's cells are the same
objects; the slot panel only grows while the cursor moves (a relayout reflows the whole
screen); a filter typed on tries only the previous matches; the model's repr is short
(Textual describes a worker by its arguments' reprs). Each of these is checked for what it
must not break: a changed cell is drawn anew, and the filter shows what `fuzzy_match` says.
"""

from __future__ import annotations

import random

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.tui.model import MatrixModel, fuzzy_match
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from shipdeck.tui.widgets.slot_panel import SlotPanel

from .conftest import NOW, make_app, screen_text, seed, wait_for


def _grid(app: object) -> MatrixGrid:
    return app.screen.query_one(MatrixGrid)  # type: ignore[attr-defined, no-any-return]


def test_a_big_model_has_a_short_repr() -> None:
    """`@work` calls repr() on its arguments: a model's must not walk its cells."""
    model = MatrixModel(environments=["dev", "prod"])
    model.names = [f"svc-{index:05d}" for index in range(10_000)]
    model.cells = {name: {} for name in model.names}
    assert len(repr(model)) < 120
    assert "10000 services" in repr(model)


async def test_a_kept_line_is_reused_until_its_cells_change(db_url: str) -> None:
    """Scrolled lines come from the grid's store; a live row draws its line anew."""
    await seed(db_url)
    client = EmbeddedClient(db_url)
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
        grid = _grid(app)
        index = grid.services.index("payments")
        first = grid.render_line(index)
        assert grid.render_line(index) is first  # nothing changed: the same strip
        engine = client.engine
        await engine.ingest(
            DeploymentEventIngest(
                deployment_id="gh-77",
                service="payments",
                environment="prod",
                status=Status.SUCCESS,
                version="7.7.7",
                happened_at=NOW,
            )
        )
        await wait_for(pilot, lambda: "7.7.7" in grid.render_line(index).text)
        assert "7.7.7" in screen_text(app)
        # Moving the cursor onto the row draws it with the cursor, and off it without.
        plain = grid.render_line(index).text
        grid.cursor_row = index
        await pilot.pause()
        assert grid.render_line(index) is not first
        assert grid.render_line(index).text.rstrip() == plain.rstrip()


async def test_the_slot_panel_only_grows_while_the_cursor_moves(db_url: str) -> None:
    """From a slot of several lines to one of fewer: the panel keeps its height (the grid
    above does not jump); a new filter or a resize fits it to what it shows again."""
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        grid, panel = screen.query_one(MatrixGrid), screen.query_one(SlotPanel)
        grid.cursor_row = grid.services.index("checkout-api")
        grid.cursor_col = app.matrix.environments.index("prod")  # current, last success
        await wait_for(pilot, lambda: "last successful" in screen_text(app))
        tall = panel.size.height
        grid.cursor_row = grid.services.index("search")
        grid.cursor_col = app.matrix.environments.index("prod")  # never deployed: 2 lines
        await wait_for(pilot, lambda: "Never deployed here." in screen_text(app))
        assert panel.size.height == tall
        await pilot.press("/", "s", "e", "a", "enter")
        await wait_for(pilot, lambda: grid.services == ["search"])
        await wait_for(pilot, lambda: panel.size.height < tall)


async def test_typing_a_filter_shows_what_fuzzy_match_says(db_url: str) -> None:
    """Each keystroke, a backspace, and a text that is no extension: the matches of the
    screen's shortcut equal a test of every name."""
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    rng = random.Random(7)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        model = app.matrix
        extra = [
            f"{rng.choice(['api', 'web', 'svc'])}-{rng.randrange(10**6):06d}" for _ in range(300)
        ]
        model.names = sorted({*model.names, *extra})
        for text in ("c", "ch", "che", "ch", "chk", "a", "ap", "api", "pi", "9", "90", "905"):
            expected = {name for name in model.names if fuzzy_match(text, name)}
            assert screen._matching(model, text) == expected, text


def _painted(app: object) -> list[list[tuple[str, object]]]:
    """What the terminal shows, segment by segment (text and style)."""
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return [[(segment.text, segment.style) for segment in strip] for strip in strips]


async def test_a_scrolled_grid_shows_what_a_full_redraw_shows(db_url: str) -> None:
    """A cursor step past the grid's edge moves the rows already drawn (`_line_scroll`) and
    draws only what came into view: the screen must equal the one drawn from scratch, at
    every step down and back up, with the scrollbar's thumb where it belongs."""
    await seed(db_url)
    client = EmbeddedClient(db_url)
    app = make_app(client)
    async with app.run_test(size=(100, 18)) as pilot:
        await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
        for number in range(24):
            await client.engine.ingest(
                DeploymentEventIngest(
                    deployment_id=f"gh-{number}",
                    service=f"svc-{number:02d}",
                    environment=("dev", "prod")[number % 2],
                    status=(Status.SUCCESS, Status.FAILURE, Status.IN_PROGRESS)[number % 3],
                    version=f"1.{number}.0",
                    happened_at=NOW,
                )
            )
        grid = _grid(app)
        await wait_for(pilot, lambda: len(grid.services) == 28)
        assert len(grid.services) > grid.size.height + 3, "the test needs a grid to scroll"
        drawn: list[int] = []
        render_line = grid.render_line

        def counted(y: int) -> object:
            drawn.append(y)
            return render_line(y)

        grid.render_line = counted  # type: ignore[method-assign]
        scrolled = 0
        for key in ["down"] * len(grid.services) + ["up"] * len(grid.services):
            before = grid.scroll_offset.y
            drawn.clear()
            await pilot.press(key)
            await pilot.pause()
            seen = _painted(app)
            if grid.scroll_offset.y != before:
                scrolled += 1
                # One step: the row come into view and the two cursor rows, not the grid.
                assert len(set(drawn)) <= 3, (key, sorted(set(drawn)))
            grid._lines.clear()
            grid._styles_cache.clear()
            grid.refresh()
            grid.vertical_scrollbar.refresh()
            await pilot.pause()
            assert seen == _painted(app), f"after {key} at row {grid.cursor_row}"
        assert scrolled >= 2 * (len(grid.services) - grid.size.height)
