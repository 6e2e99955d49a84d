"""How one log line is drawn: time, level word, stream mark, then the sanitised message.

Pure functions of the line and the width, so `LogView` can cache what they return. The
message is sanitised here and only ever becomes `Segment` text: escape sequences are gone and
markup stays literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style

from ..sanitize import sanitize, truncate
from .log_window import HeldLine

LEVEL_LABELS = {"debug": "DBG ", "info": "INFO", "warning": "WARN", "error": "ERR "}
"""A word per level: the level never reads by colour alone."""
STREAM_MARKS = {"stdout": " ", "stderr": "▌", "system": "·"}
"""A mark per stream, before the message: stderr stands out."""
WIDE_TIME = 60
"""From this width on, times show milliseconds."""
MIN_ROOM = 8
"""The fewest cells a message gets, however narrow the view."""

StyleOf = Callable[[str], Style]
"""Component name (`time`, a level, a stream, `match`, `match-current`) → full style."""


def time_text(at: datetime, *, millis: bool) -> str:
    """`HH:MM:SS` (or `HH:MM:SS.mmm`) in UTC, like the detail screen's `Z` timestamps."""
    utc = at.astimezone(UTC)
    if millis:
        return f"{utc:%H:%M:%S}.{utc.microsecond // 1000:03d}"
    return f"{utc:%H:%M:%S}"


def prefix_width(width: int) -> int:
    """Cells before the message: time, level word, stream mark and their spaces."""
    return (13 if width >= WIDE_TIME else 9) + 5 + 2


def message_room(width: int) -> int:
    """Cells left for the message in a view `width` wide."""
    return max(MIN_ROOM, width - prefix_width(width))


def wrapped_rows(text: str, room: int) -> int:
    """Rows `text` takes when wrapped at `room` cells (at least 1)."""
    if cell_len(text) <= room:
        return 1
    return max(1, len(chop_cells(text, room)))


def line_segments(
    line: HeldLine,
    sub: int,
    width: int,
    *,
    wrap: bool,
    needle: re.Pattern[str] | None,
    current: bool,
    style: StyleOf,
) -> list[Segment]:
    """Row `sub` of `line` (0 unless wrapping): the prefix, or its blank width on later rows,
    then the message cut with `…` (or the row's piece of it), with the needle highlighted."""
    room = message_room(width)
    level = style(line.level)
    if sub == 0:
        segments = [
            Segment(time_text(line.at, millis=width >= WIDE_TIME) + " ", style("time")),
            Segment(LEVEL_LABELS[line.level] + " ", level),
            Segment(STREAM_MARKS[line.stream] + " ", style(line.stream)),
        ]
    else:
        segments = [Segment(" " * prefix_width(width), style("info"))]
    message = sanitize(line.message)
    if wrap:
        chunks = chop_cells(message, room) or [""]
        start = sum(len(chunk) for chunk in chunks[:sub])
        text = chunks[sub] if sub < len(chunks) else ""
    else:
        start, text = 0, truncate(message, room)
    mark = style("match-current" if current else "match")
    segments.extend(highlighted(message, start, text, needle, level, level + mark))
    return segments


def highlighted(
    message: str,
    start: int,
    text: str,
    needle: re.Pattern[str] | None,
    plain: Style,
    mark: Style,
) -> list[Segment]:
    """`text` (which is `message[start:…]`) with every match of `needle` in `mark` style.

    Matches are found in the whole message, so one that a wrapped row cuts is still marked on
    both rows.
    """
    if needle is None or not text:
        return [Segment(text, plain)]
    end = start + len(text)
    out: list[Segment] = []
    position = start
    # From a needle's length back: the pattern is an escaped literal, never shorter.
    for match in needle.finditer(message, max(0, start - len(needle.pattern))):
        a, b = match.span()
        if a >= end:
            break
        a, b = max(a, start), min(b, end)
        if a > position:
            out.append(Segment(text[position - start : a - start], plain))
        if b > a:
            out.append(Segment(text[a - start : b - start], mark))
        position = max(position, b)
    if position < end:
        out.append(Segment(text[position - start :], plain))
    return out
