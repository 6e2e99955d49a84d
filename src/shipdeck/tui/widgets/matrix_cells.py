"""What a matrix line says, as plain data: column widths, a cell's text parts at a width,
the service label. Pure functions (no widget, no styles), so they are tested on their own
and `MatrixGrid` only turns them into styled segments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from rich.cells import cell_len

from ...domain import DeploymentEvent, Status
from ..format import (
    EMPTY_CELL,
    GLYPHS,
    NEXT_MARK,
    PREV_FAILED_MARK,
    SENT_MARK,
    SHORT_WORDS,
    WORDS,
    age,
    version_text,
)
from ..model import Cell, PendingAction, previous_failed, upcoming
from ..sanitize import sanitize

MIN_CELL = 8
AGE_WIDTH = 30
"""Cells at least this wide (text, without the gap) show the current row's age."""
Part = tuple[str, str]  # (text, component suffix)


def cell_parts(
    cell: Cell | None, width: int, now: datetime, sent: PendingAction | None = None
) -> list[Part]:
    """A cell's text for a column `width` wide.

    What is shown depends on the width only, so a column reads the same on every row:
    wide columns get the word, version, age and the next version; narrow ones a short word.
    An action sent to the slot and not yet confirmed puts `◌` first. Anything still too long
    is cut with an ellipsis.
    """
    if cell is None or (cell.current is None and upcoming(cell) is None):
        if sent is not None:
            return truncate_parts([(SENT_MARK, "sent"), (f" {sent.action}", "sent")], width)
        return [(EMPTY_CELL, "empty")]
    wide, roomy = width >= AGE_WIDTH, width >= 24
    nxt = upcoming(cell)
    parts: list[Part] = [(SENT_MARK, "sent")] if sent is not None else []
    if cell.current is not None:
        event = cell.current.ref
        status = event.status
        mark = PREV_FAILED_MARK if previous_failed(cell) else ""
        parts.append((f"{mark}{GLYPHS[status]}", status.value))
        parts.append((f" {_word(event, short=width < 18)}", status.value))
        parts.append((f" {version_text(event)}", "version"))
        if wide:
            parts.append((f" {age(event.happened_at, now)}", "dim"))
    if nxt is not None:
        parts.append((f" {NEXT_MARK}{GLYPHS[nxt.status]}", "next"))
        if roomy or cell.current is None:
            parts.append((f" {version_text(nxt)}", "next"))
    if parts_width(parts) <= width:
        return parts
    return truncate_parts(parts, width)


def shown_ages(
    cells: Sequence[Cell | None], width: int, clock: Callable[[], datetime]
) -> tuple[str, ...]:
    """The ages a line's cells show at `width` (`cell_parts`): none below `AGE_WIDTH`
    (the clock is not even read then). A kept line is drawn again when these change: the
    clock alone moves no other text of a line."""
    if width < AGE_WIDTH:
        return ()
    now = clock()
    return tuple(
        age(cell.current.ref.happened_at, now)
        for cell in cells
        if cell is not None and cell.current is not None
    )


def merged_parts(parts: list[Part]) -> list[Part]:
    """`parts` with neighbours of the same kind joined (a glyph and its word): the same
    text in the same styles, in fewer segments — Textual styles and cuts a line segment
    by segment on every repaint."""
    merged: list[Part] = []
    for text, kind in parts:
        if merged and merged[-1][1] == kind:
            merged[-1] = (merged[-1][0] + text, kind)
        else:
            merged.append((text, kind))
    return merged


def _word(event: DeploymentEvent, *, short: bool) -> str:
    status = event.status
    word = sanitize(event.phase) if status is Status.IN_PROGRESS and event.phase else ""
    word = word or WORDS[status]
    return SHORT_WORDS.get(word, word[:4]) if short else word


def parts_width(parts: list[Part]) -> int:
    """How many cells `parts` take."""
    return sum(cell_len(text) for text, _ in parts)


def truncate_parts(parts: list[Part], width: int) -> list[Part]:
    """The parts that fit in `width` cells: the first that does not is cut with `…` (when
    at least two cells are left for it), and the rest are dropped."""
    out: list[Part] = []
    room = width
    for text, kind in parts:
        if cell_len(text) <= room:
            out.append((text, kind))
            room -= cell_len(text)
        else:
            if room > 1:
                out.append((text[: room - 1] + "…", kind))
            break
    return out


@dataclass(frozen=True, slots=True)
class GridLayout:
    """Column widths for a given widget width."""

    service_width: int
    cell_width: int


@lru_cache(maxsize=1 << 16)
def name_width(service: str) -> int:
    """Cells a service name takes (kept: each filter keystroke measures every name shown)."""
    return cell_len(service)


def grid_layout(width: int, services: list[str], environments: list[str]) -> GridLayout:
    """Fit the service column and equal cells into `width`; cells never go below a glyph+version."""
    columns = max(1, len(environments))
    longest = max(map(name_width, services), default=8)
    service_width = min(max(longest + 2, 10), 28)
    while service_width > 10 and (width - service_width) // columns < 16:
        service_width -= 1
    cell_width = max(MIN_CELL, (width - service_width) // columns)
    return GridLayout(service_width, cell_width)


def service_label(service: str, width: int) -> str:
    """The service column of a row, `width` cells: the sanitised name, cut with `…` when it
    would leave no gap before the first cell."""
    name = sanitize(service)
    if cell_len(name) > width - 1:
        name = name[: width - 2] + "…"
    return name.ljust(width)


def cell_padding(parts: list[Part], cell_width: int) -> int:
    """Spaces after a cell's text, so the next cell starts on its column."""
    return cell_width - parts_width(parts)
