"""The history keeps its pages out of the collector's full passes, and is freed when closed."""

from __future__ import annotations

import gc
import weakref

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.widgets.history_table import HistoryTable

from .conftest import SEED, make_app, screen_text, seed, wait_for


async def test_pages_are_frozen_and_a_closed_history_is_collected(db_url: str) -> None:
    """A page freezes what is alive; closing the history unfreezes, and it is collected."""
    await seed(db_url)
    app = make_app(EmbeddedClient(db_url))
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: "checkout-api" in screen_text(app))
            gc.unfreeze()
            await pilot.press("H")
            await wait_for(
                pilot,
                lambda: (
                    isinstance(app.screen, HistoryScreen)
                    and len(app.screen.query_one(HistoryTable).rows) == len(SEED)
                ),
            )
            assert gc.get_freeze_count() > 0  # the page's rows and everything else alive
            closed = weakref.ref(app.screen)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen))
            # Frozen, the closed screen (reference cycles) would stay for good.
            await wait_for(pilot, lambda: closed() is None, timeout=5)
    finally:
        gc.unfreeze()  # leave the test process's collector as it was
