"""`tell`: every notification's severity, timeout, sanitising and markup are set in one place."""

from __future__ import annotations

import pytest
from textual.app import App

from shipdeck.tui.notify import KINDS, tell


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_a_kind_sets_severity_and_timeout(kind: str) -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        tell(app, kind, "deployed", title="checkout-api")  # type: ignore[arg-type]
        await pilot.pause()
        (shown,) = list(app._notifications)
        assert (shown.severity, shown.timeout) == KINDS[kind]  # type: ignore[index]
        assert (shown.message, shown.title) == ("deployed", "checkout-api")


async def test_text_from_outside_is_sanitised_and_never_markup() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        tell(app, "error", "\x1b[2J[b]v1.2[/b]\x07 failed", title="\x1b]0;owned\x07api")
        await pilot.pause()
        (shown,) = list(app._notifications)
        assert shown.markup is False
        assert "\x1b" not in shown.message and "\x07" not in shown.message
        assert "[b]v1.2[/b]" in shown.message
        assert "\x1b" not in shown.title
        assert shown.severity == "error"
