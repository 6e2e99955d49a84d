"""When the TUI's objects leave the cycle collector's full passes, and when they come back.

A loaded 10,000-service matrix and a history page are ~100,000 objects that live on; a full
collection walks every one (60–150 ms at that size: a keystroke's repaint several times
over). `freeze()` after loading them moves them out of those passes (`gc.freeze` only splices
the generations' lists). Frozen objects are never collected, but most garbage is freed by
reference counting anyway; what needs the collector is a closed screen (Textual's widgets
hold reference cycles). So whenever a screen goes, `release_later()` gives everything back to
the collector, then collects once and freezes what lives on.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc

SETTLE_DELAY = 0.25
"""Seconds between a screen's leaving and the collection that frees it (Textual lets go of a
screen after its unmount)."""


def freeze() -> None:
    """Move everything alive now out of the collector's passes."""
    gc.freeze()


def settle() -> None:
    """Collect once, then freeze what lives on (what the app keeps: the matrix, its screens)."""
    gc.collect()
    gc.freeze()


def release_later() -> None:
    """A screen closed: unfreeze now, and settle once Textual has let go of it.

    The callback runs in an empty context: the current one names the closing screen
    (Textual's active message pump) and would keep it alive through that collection.
    """
    gc.unfreeze()
    asyncio.get_running_loop().call_later(SETTLE_DELAY, settle, context=contextvars.Context())
