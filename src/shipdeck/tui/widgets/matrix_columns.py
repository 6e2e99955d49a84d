"""`MatrixColumns`: the environment names above the grid, at the grid's column widths, each
marked when the environment is locked or frozen, or when a freeze starts within a day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from ...domain.policy import FreezeWindow
from ...domain.promotions import EnvironmentView
from ..format import FREEZE_MARK, LOCK_MARK, age
from ..sanitize import sanitize, truncate
from .matrix_cells import GridLayout

_MARKS = ((LOCK_MARK, "locked", "bold red"), (FREEZE_MARK, "frozen", "bold cyan"))
FREEZE_AHEAD = timedelta(hours=24)
"""A freeze starting within this long is announced on the matrix."""


def freeze_ahead(
    state: EnvironmentView | None, now: datetime | None
) -> tuple[FreezeWindow, datetime] | None:
    """The freeze window that starts within `FREEZE_AHEAD` of `now`, and when (none while
    a freeze is in force: the heading says `frozen` then)."""
    if state is None or now is None or state.frozen is not None:
        return None
    ahead = state.policy.next_freeze(now)
    return ahead if ahead is not None and ahead[1] - now <= FREEZE_AHEAD else None


def environment_marks(
    state: EnvironmentView | None, room: int, now: datetime | None = None
) -> list[tuple[str, str]]:
    """`⊠ locked`, `❄ frozen`, `❄ in 2h` (text, style) when the words fit in `room` cells,
    else the glyphs alone (`❄2h` for a freeze ahead); nothing for an environment that is
    none of these."""
    if state is None:
        return []
    marks = [
        (glyph, word, style, glyph)
        for (glyph, word, style), on in zip(
            _MARKS, (state.lock is not None, state.frozen is not None), strict=True
        )
        if on
    ]
    ahead = freeze_ahead(state, now)
    if ahead is not None and now is not None:
        soon = age(now, ahead[1])
        marks.append((FREEZE_MARK, f"in {soon}", "cyan", f"{FREEZE_MARK}{soon}"))
    worded = [(f" {glyph} {word}", style) for glyph, word, style, _ in marks]
    if sum(cell_len(text) for text, _ in worded) <= room:
        return worded
    return [
        (f" {short}" if index == 0 else short, style)
        for index, (_, _, style, short) in enumerate(marks)
    ]


class MatrixColumns(Widget):
    """One line: `service` then each environment, aligned with `MatrixGrid`."""

    DEFAULT_CSS = """
    MatrixColumns { height: 1; background: $panel; color: $text; text-style: bold; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._environments: list[str] = []
        self._layout = GridLayout(10, 10)
        self._title = "service"
        self._states: Mapping[str, EnvironmentView] = {}
        self._now: datetime | None = None

    def show(
        self,
        environments: list[str],
        layout: GridLayout,
        title: str = "service",
        states: Mapping[str, EnvironmentView] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Redraw for these environments and widths (`states`: locks and freezes by name;
        `now`: to tell how soon a freeze starts)."""
        self._environments = list(environments)
        self._layout = layout
        self._title = title
        self._states = dict(states or {})
        self._now = now
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self._title[: self._layout.service_width - 1].ljust(self._layout.service_width))
        width = self._layout.cell_width
        for env in self._environments:
            name = sanitize(env)
            marks = environment_marks(self._states.get(env), width - 1 - cell_len(name), self._now)
            marked = sum(cell_len(mark) for mark, _ in marks)
            # The marks stay whole; a long name gives way to them.
            name = truncate(name, max(1, width - 1 - marked))
            text.append(name)
            for mark, style in marks:
                text.append(mark, style=style)
            text.append(" " * max(0, width - cell_len(name) - marked))
        return text
