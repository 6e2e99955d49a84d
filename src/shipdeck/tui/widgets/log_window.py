"""`LogWindow`: the part of one deployment's log held in memory, and where its lines sit.

A deployment's lines are numbered from 1 without gaps, so the log is `1..total` and a window
of it is one contiguous run `lo..hi`. Lines outside the window are known to exist but are
not held: the view shows a placeholder for them and fetches them again when they come into
view. The window never holds more than `max_lines`; when it would, it is cut back to three
quarters of that around the line the reader is looking at, so every line costs O(1)
amortised to keep.

Rows: without wrapping, line `seq` is row `seq - 1`. With wrapping, a held line takes as
many rows as its text needs and a line not held takes one (its placeholder), so the rows of
held lines are kept as prefix sums, measured lazily: appending costs nothing until the next
layout, which measures only the new lines.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from ...domain import LogLine


class HeldLine(NamedTuple):
    """A line as the window keeps it.

    A tuple of plain values is much smaller than a pydantic model (no `__dict__`, no
    fields-set), and the garbage collector stops tracking it, so a full window adds nothing
    to the cost of a collection.
    """

    seq: int
    at: datetime
    level: str
    stream: str
    message: str
    """Verbatim: sanitised when drawn."""


def held_line(line: LogLine) -> HeldLine:
    """The tuple the window keeps for `line`."""
    return HeldLine(line.seq, line.at, line.level, line.stream, line.message)


Measure = Callable[[HeldLine], int]
"""Rows a held line takes (at least 1)."""


class LogWindow:
    """A bounded, contiguous run of a deployment's lines, and the row layout of the log."""

    def __init__(self, max_lines: int) -> None:
        self.max_lines = max(4, max_lines)
        """The most lines held at once."""
        self.lines: list[HeldLine] = []
        """Held lines, `lines[i].seq == lo + i`."""
        self.lo = 1
        """Seq of `lines[0]`."""
        self.total = 0
        """The newest seq known to exist (the log is `1..total`)."""
        self._measure: Measure | None = None
        self._starts: list[int] = [0]
        """`_starts[i]`: rows of `lines[:i]`, for the lines measured so far (wrap only)."""

    # -- reading -------------------------------------------------------------------------

    @property
    def hi(self) -> int:
        """Seq of the last held line (`lo - 1` when none is held)."""
        return self.lo + len(self.lines) - 1

    def get(self, seq: int) -> HeldLine | None:
        """The held line `seq`, or `None` when it is not in memory."""
        index = seq - self.lo
        return self.lines[index] if 0 <= index < len(self.lines) else None

    # -- changing ------------------------------------------------------------------------

    def append(self, lines: Sequence[LogLine], *, following: bool) -> bool:
        """Take newly arrived lines (ascending); repeats of lines already seen are dropped.

        Lines that continue the window are held. Otherwise, when `following`, they start a
        new window (the reader looks at the end); when not, only `total` moves and they are
        fetched again if the reader scrolls to them.

        Returns:
            Whether anything changed.
        """
        if lines and lines[0].seq <= self.total:
            lines = [line for line in lines if line.seq > self.total]
        if not lines:
            return False
        first = lines[0].seq
        if self.lines and first == self.hi + 1:
            self.lines.extend(map(held_line, lines))
        elif following or not self.lines:
            self._replace(list(map(held_line, lines)))
        self.total = max(self.total, lines[-1].seq)
        return True

    def merge(self, lines: Sequence[LogLine]) -> None:
        """Take fetched lines (ascending, contiguous): joined to the window if they touch it,
        else they replace it. Lines past `total` are ignored (the stream brings them)."""
        fetched = [held_line(line) for line in lines if 1 <= line.seq <= self.total]
        if not fetched:
            return
        if not self.lines or fetched[-1].seq < self.lo - 1 or fetched[0].seq > self.hi + 1:
            self._replace(fetched)
            return
        before = [line for line in fetched if line.seq < self.lo]
        after = [line for line in fetched if line.seq > self.hi]
        if before:
            self.lines[:0] = before
            self.lo = before[0].seq
            self._starts = [0]
        self.lines.extend(after)

    def trim(self, center: int, shown: tuple[int, int] | None = None) -> None:
        """Cut the window back to 3/4 of `max_lines` around `center` when it is over the bound.

        The lines kept are the run nearest `center` inside the window, so the reader's view
        stays held whichever end grew; the lines `shown` on screen now are kept too when the
        bound allows (a follow view is moved to `center` only at the next frame).
        """
        if len(self.lines) <= self.max_lines:
            return
        keep = self.max_lines * 3 // 4
        start = min(max(center - keep // 2, self.lo), self.hi - keep + 1)
        end = start + keep - 1
        if shown is not None:
            wider = (max(min(start, shown[0]), self.lo), min(max(end, shown[1]), self.hi))
            if wider[1] - wider[0] < self.max_lines:
                start, end = wider
        drop = start - self.lo
        if drop:
            del self.lines[:drop]
            self.lo = start
            starts = self._starts
            if len(starts) > drop:
                base = starts[drop]
                self._starts = [row - base for row in starts[drop:]]
            else:
                self._starts = [0]
        kept = end - start + 1
        del self.lines[kept:]
        del self._starts[kept + 1 :]

    def clear(self) -> None:
        """Forget every held line (`total` stays)."""
        self._replace([])

    def _replace(self, lines: list[HeldLine]) -> None:
        self.lines = lines
        self.lo = lines[0].seq if lines else 1
        self._starts = [0]

    # -- rows ----------------------------------------------------------------------------

    def set_measure(self, measure: Measure | None) -> None:
        """Rows per held line (`None`: one row each, no wrapping); remeasured lazily."""
        self._measure = measure
        self._starts = [0]

    def _measured(self) -> list[int]:
        starts = self._starts
        measure = self._measure
        if measure is not None and len(starts) <= len(self.lines):
            rows = starts[-1]
            for line in self.lines[len(starts) - 1 :]:
                rows += measure(line)
                starts.append(rows)
        return starts

    def rows(self) -> int:
        """Rows of the whole log."""
        if self._measure is None or not self.lines:
            return self.total
        return self.lo - 1 + self._measured()[-1] + (self.total - self.hi)

    def at_row(self, row: int) -> tuple[int, int]:
        """`(seq, sub-row)` of the line drawn on `row` (0-based)."""
        if self._measure is None or not self.lines or row < self.lo - 1:
            return row + 1, 0
        starts = self._measured()
        offset = row - (self.lo - 1)
        if offset < starts[-1]:
            index = bisect_right(starts, offset) - 1
            return self.lo + index, offset - starts[index]
        return self.hi + 1 + offset - starts[-1], 0

    def row_of(self, seq: int) -> int:
        """The first row of line `seq`."""
        if self._measure is None or not self.lines or seq < self.lo:
            return seq - 1
        starts = self._measured()
        if seq <= self.hi:
            return self.lo - 1 + starts[seq - self.lo]
        return self.lo - 1 + starts[-1] + seq - self.hi - 1
