"""`PacedFrames`: a screen draws a frame as soon as one is due, at most one per period.

A Textual screen paints what changed on a 60-per-second update timer that it resumes when
something changes and pauses after each frame. After a tick that comes late — nearly every
tick, as the timer sleeps paused between changes — Textual's interval timer skips to the
next multiple of the period *after the next one* (`Timer._run`: `count = int(elapsed /
interval + 1)`), so the following frame waits one to two periods (16.7–33 ms). The header's
clock paints once a second: a key pressed up to 33 ms after that waited for its frame, the
whole tail of "cursor move → repaint" at 10,000 services (p99 20–45 ms, median 5 ms).

`FramePacer` stands in for that timer (the screen only resumes and pauses it): a frame asked
for a period or more after the previous one is drawn at once, one asked for sooner when the
period is up — unless a person pressed a key or clicked since the last frame (`InputFirst`
on the app stamps that): then what they did is drawn at once, as a browser gives input the
next frame. Other changes (live rows, the clock) stay within Textual's cap on frames per
second (`TEXTUAL_FPS`); input comes no faster than a person types.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import cast

from textual import constants, events
from textual.app import App
from textual.screen import Screen
from textual.timer import Timer


class FramePacer:
    """Calls `draw` once after each `resume()`: now, or one `period` after the last call."""

    def __init__(self, period: float, draw: Callable[[], object], app: App[object]) -> None:
        self.period = period
        self._draw = draw
        self._app = app
        self._last = -math.inf
        self._due: asyncio.TimerHandle | asyncio.Handle | None = None

    @property
    def due(self) -> float | None:
        """When the next frame is drawn (the loop's clock; None: no frame asked for)."""
        if self._due is None:
            return None
        return self._due.when() if isinstance(self._due, asyncio.TimerHandle) else -math.inf

    def resume(self) -> None:
        """Something changed: draw it when the period since the last frame is up (at once
        when it may be what a person just did)."""
        loop = asyncio.get_running_loop()
        app = self._app
        urgent = isinstance(app, InputFirst) and app.input_at > self._last
        if self._due is not None:
            if not urgent or not isinstance(self._due, asyncio.TimerHandle):
                return
            self._due.cancel()  # a frame waiting out the period: input goes first
        wait = 0.0 if urgent else self._last + self.period - loop.time()
        self._due = loop.call_later(wait, self._tick) if wait > 0 else loop.call_soon(self._tick)

    def pause(self) -> None:
        """Drop the frame asked for (the screen drew it already, or is going away)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None

    def _tick(self) -> None:
        self._due = None
        self._last = asyncio.get_running_loop().time()
        if self._app._exit:  # as Textual's timer: no frame once the app is leaving
            return
        try:
            self._draw()
        except Exception as error:  # as Textual's timer: the app shows it and exits
            self._app._handle_exception(error)


class PacedFrames:
    """Mixin for a `Screen`: its frames come from a `FramePacer` instead of Textual's timer."""

    _pacer: FramePacer | None = None

    @property
    def _update_timer(self) -> Timer:
        # Typed as what it replaces: a `Screen` calls only `resume()` and `pause()` on it.
        if self._pacer is None:
            screen: Screen[object] = self  # type: ignore[assignment]
            self._pacer = FramePacer(1 / constants.MAX_FPS, screen._on_timer_update, screen.app)
        return cast("Timer", self._pacer)

    def _on_unmount(self) -> None:
        if self._pacer is not None:
            self._pacer.pause()


class InputFirst(App[None]):
    """Mixin for the `App`: stamps when a person last pressed a key or clicked, so that the
    screens' `FramePacer` draws its effect without waiting out the frame period."""

    input_at = -math.inf
    """The event loop's clock at the last key press or click."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self.input_at = asyncio.get_running_loop().time()
        await super().on_event(event)
