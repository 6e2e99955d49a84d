"""`LogView`: one deployment's log, drawn line by line, with a bounded memory.

Only a window of the log is held (`LogWindow`, at most `max_lines` lines near what is shown);
rows of lines not held show a placeholder and the view asks its owner to fetch them
(`LinesWanted`), so a pane that has followed a million lines holds a few thousand.

Appending a batch costs O(batch): the lines are kept as they came (sanitised only when drawn),
and layout, scrolling and repaint happen at most once a frame (`_sync`, coalesced behind a
flag and a timer). Following keeps the end in view; paused, the view stays where it is while
lines keep arriving, and the owner is told how many came (`StatusChanged`).

Every message goes through `sanitize` and into `Segment`s, never markup. Search highlights
the needle (case-insensitive) in the rows drawn, and `find` jumps between matches **among
the lines held in memory only**: matches in lines that were dropped or never fetched are
skipped until those lines are fetched again (scroll to them).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain import LogLine
from ..sanitize import sanitize
from .log_line import line_segments, message_room, wrapped_rows
from .log_window import HeldLine, LogWindow

MAX_LINES = 10_000
"""Default bound of lines held in memory per view."""
FETCH_MARGIN = 200
"""Lines fetched beyond the rows that need them, either side (fewer fetches when scrolling)."""
FRAME_S = 1 / 60
"""At most one layout and repaint per frame (Textual's default 60 fps)."""


@dataclass(frozen=True, slots=True)
class _Status:
    following: bool
    new_lines: int
    total: int


class LogView(ScrollView, can_focus=True, inherit_bindings=False):
    """A deployment's log with follow/pause, wrap and search; holds a bounded window."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "up,k", "scroll_up", "Up", show=False, id="logs.up", tooltip="One line up (pauses)"
        ),
        Binding(
            "down,j", "scroll_down", "Down", show=False, id="logs.down", tooltip="One line down"
        ),
        Binding(
            "pageup",
            "page_up",
            "Page up",
            show=False,
            id="logs.page-up",
            tooltip="One screen up (pauses)",
        ),
        Binding(
            "pagedown",
            "page_down",
            "Page down",
            show=False,
            id="logs.page-down",
            tooltip="One screen down",
        ),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--time",
        "log-view--debug",
        "log-view--info",
        "log-view--warning",
        "log-view--error",
        "log-view--stdout",
        "log-view--stderr",
        "log-view--system",
        "log-view--match",
        "log-view--match-current",
        "log-view--placeholder",
    }

    DEFAULT_CSS = """
    LogView { background: $surface; overflow-x: hidden; scrollbar-size-vertical: 1; }
    LogView > .log-view--time { color: $text-muted; }
    LogView > .log-view--debug { color: $text-muted; }
    LogView > .log-view--warning { color: $warning; }
    LogView > .log-view--error { color: $error; text-style: bold; }
    LogView > .log-view--stderr { color: $error; }
    LogView > .log-view--system { color: $text-muted; }
    LogView > .log-view--match { background: $warning 50%; text-style: underline; }
    LogView > .log-view--match-current { background: $accent; color: $text; text-style: bold; }
    LogView > .log-view--placeholder { color: $text-disabled; text-style: italic; }
    """

    empty_text: reactive[str] = reactive("waiting for lines…")
    """What an empty log shows."""

    class LinesWanted(Message):
        """Lines `first..last` are needed on screen but not in memory: fetch them and
        hand them to `put_fetched`."""

        def __init__(self, view: LogView, first: int, last: int) -> None:
            super().__init__()
            self.view = view
            self.first = first
            self.last = last

    class StatusChanged(Message):
        """Following or paused (with how many lines came since), and the log's length."""

        def __init__(self, view: LogView, following: bool, new_lines: int, total: int) -> None:
            super().__init__()
            self.view = view
            self.following = following
            self.new_lines = new_lines
            self.total = total

    def __init__(self, max_lines: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.window = LogWindow(MAX_LINES if max_lines is None else max_lines)
        """The lines held and the row layout."""
        self.following = True
        """Keep the end in view as lines arrive."""
        self.wrap = False
        """Wrap long lines instead of cutting them with `…`."""
        self._paused_total = 0
        self._needle: re.Pattern[str] | None = None
        self._needle_text = ""
        self._match_seq: int | None = None
        self._sync_pending = False
        self._last_sync = 0.0
        self._anchor: tuple[int, int] | None = None
        self._auto_scrolling = False
        self._layout_width = 0
        self._missing: tuple[int, int] | None = None
        self._wanted: tuple[int, int] | None = None
        self._fetch_failed = False
        self._strips: dict[tuple[int, int], Strip] = {}
        self._strips_width = 0
        self._styles: dict[str, Style] = {}
        self._status: _Status | None = None
        self.syncs = 0
        """Layout-and-repaint passes so far (benchmarks count them against frames)."""

    # -- lines in ----------------------------------------------------------------------

    def append(self, lines: tuple[LogLine, ...] | list[LogLine]) -> None:
        """Add newly arrived lines (ascending seq; repeats are dropped). O(len(lines))."""
        window = self.window
        if not window.append(lines, following=self.following):
            return
        if len(window.lines) > window.max_lines:
            self._trim()
        self._schedule()

    def put_fetched(self, first: int, last: int, lines: list[LogLine]) -> None:
        """Lines fetched after a `LinesWanted(first, last)`."""
        if self._wanted == (first, last):
            self._wanted = None
        if not lines:
            self._fetch_failed = True  # nothing there: do not ask again until a scroll
        self._keep_anchor()
        self.window.merge(lines)
        self._trim()
        self._strips.clear()
        self._schedule()

    def fetch_failed(self) -> None:
        """The last fetch failed: placeholders say so, and no new fetch until a scroll."""
        self._wanted = None
        self._fetch_failed = True
        self._strips.clear()
        self.refresh()

    @property
    def held(self) -> int:
        """Lines in memory."""
        return len(self.window.lines)

    @property
    def last_seq(self) -> int:
        """The newest line's seq (0 before any)."""
        return self.window.total

    # -- follow, pause, wrap -------------------------------------------------------------

    def follow(self) -> None:
        """Keep the end in view from now on."""
        self.following = True
        self._schedule()

    def pause(self) -> None:
        """Keep the view still while lines arrive."""
        if self.following:
            self.following = False
            self._paused_total = self.window.total
            self._schedule()

    def toggle_follow(self) -> None:
        """Follow when paused, pause when following."""
        if self.following:
            self.pause()
        else:
            self.follow()

    def go_start(self) -> None:
        """Pause and show the first line."""
        self.pause()
        self._anchor = (1, 0)
        self._schedule()

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines (or cut them), keeping the top line in place."""
        if wrap == self.wrap:
            return
        self._keep_anchor()
        self.wrap = wrap
        self._relayout()

    # -- search --------------------------------------------------------------------------

    @property
    def needle(self) -> str:
        """The text searched for ("" when none)."""
        return self._needle_text

    def search(self, needle: str) -> bool:
        """Highlight `needle` and jump to its next match from the top of the view.

        Returns:
            Whether a held line matches (an empty needle clears the search).
        """
        self._needle_text = needle
        self._needle = re.compile(re.escape(needle), re.IGNORECASE) if needle else None
        self._match_seq = None
        self._strips.clear()
        self.refresh()
        if self._needle is None:
            return False
        return self.find(1, start=self._top_seq() - 1)

    def find(self, direction: int, start: int | None = None) -> bool:
        """Jump to the next (`1`) or previous (`-1`) held line matching, wrapping around.

        Lines not in memory are skipped. A jump pauses following.
        """
        window, needle = self.window, self._needle
        if needle is None or not window.lines:
            return False
        if start is None:
            start = self._match_seq if self._match_seq is not None else self._top_seq() - 1
        count = len(window.lines)
        index = start - window.lo + direction
        if not 0 <= index < count:
            index = 0 if direction > 0 else count - 1
        for _ in range(count):
            if needle.search(sanitize(window.lines[index].message)):
                self._jump_to(window.lo + index)
                return True
            index = (index + direction) % count
        return False

    def _jump_to(self, seq: int) -> None:
        self.pause()
        self._match_seq = seq
        self._strips.clear()
        first, last = self._top_seq(), self._bottom_seq()
        if not first <= seq <= last:
            height = self.scrollable_content_region.height
            row = max(0, self.window.row_of(seq) - height // 3)
            self._anchor = self.window.at_row(row)
        self._schedule()

    # -- layout and repaint --------------------------------------------------------------

    def _schedule(self) -> None:
        """One `_sync` per frame at most, however many batches arrive."""
        if self._sync_pending:
            return
        self._sync_pending = True
        wait = self._last_sync + FRAME_S - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._sync)
        else:
            self.call_later(self._sync)

    def _sync(self) -> None:
        self._sync_pending = False
        self._last_sync = time.monotonic()
        self.syncs += 1
        self._ensure_layout()
        window = self.window
        self._auto_scrolling = True
        try:
            self.virtual_size = Size(0, window.rows())
            if self.following:
                self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
            elif self._anchor is not None:
                seq, sub = self._anchor
                self.scroll_to(y=window.row_of(seq) + sub, animate=False, force=True)
        finally:
            self._auto_scrolling = False
        self._anchor = None
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        total = self.window.total
        new = 0 if self.following else total - self._paused_total
        status = _Status(self.following, new, total)
        if status != self._status:
            self._status = status
            self.post_message(self.StatusChanged(self, self.following, new, total))

    def _ensure_layout(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._layout_width:
            self._layout_width = width
            self._relayout(schedule=False)

    def _relayout(self, *, schedule: bool = True) -> None:
        self._strips.clear()
        if self.wrap:
            room = message_room(self._layout_width)
            self.window.set_measure(lambda line: wrapped_rows(sanitize(line.message), room))
        else:
            self.window.set_measure(None)
        if schedule:
            self._schedule()

    def _trim(self) -> None:
        """Keep the window within its bound, around where the reader is (or will be)."""
        window = self.window
        if len(window.lines) <= window.max_lines:
            return
        self._keep_anchor()
        shown = (self._top_seq(), self._bottom_seq())
        window.trim(window.total if self.following else self._view_center(), shown)

    def _keep_anchor(self) -> None:
        """Remember the top line before the layout above it may change."""
        if self._anchor is None and not self.following and self.window.total:
            self._anchor = self.window.at_row(int(self.scroll_offset.y))

    def on_resize(self) -> None:
        self._keep_anchor()
        self._schedule()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._auto_scrolling:
            return
        # The reader scrolled: a scroll up pauses, and a failed fetch may be tried again.
        self._anchor = None
        self._fetch_failed = False
        if new < old and new < self.max_scroll_y:
            self.pause()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    # -- what is shown -------------------------------------------------------------------

    def _top_seq(self) -> int:
        return self.window.at_row(int(self.scroll_offset.y))[0]

    def _bottom_seq(self) -> int:
        height = self.scrollable_content_region.height
        return min(self.window.total, self.window.at_row(int(self.scroll_offset.y) + height - 1)[0])

    def _view_center(self) -> int:
        height = self.scrollable_content_region.height
        return self.window.at_row(int(self.scroll_offset.y) + height // 2)[0]

    def line_at(self, y: int) -> int | None:
        """The seq of the line drawn on row `y` of the view, if any."""
        row = int(self.scroll_offset.y) + y
        if not 0 <= row < self.window.rows():
            return None
        return self.window.at_row(row)[0]

    # -- drawing -------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            # Whole styles: a partial one loses colours with alpha (`$text-muted` → white).
            style = self.get_component_rich_style(f"log-view--{name}")
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        row = int(self.scroll_offset.y) + y
        window = self.window
        if window.total == 0:
            text = self.empty_text if y == 0 else ""
            return Strip([Segment(text, base + self._style("placeholder"))]).adjust_cell_length(
                width, base
            )
        if row >= window.rows():
            return Strip.blank(width, base)
        seq, sub = window.at_row(row)
        key = (seq, sub)
        if width != self._strips_width:
            self._strips.clear()
            self._strips_width = width
        strip = self._strips.get(key)
        if strip is None:
            line = window.get(seq)
            if line is None:
                return self._placeholder(seq, width, base)
            strip = self._line_strip(line, sub, width, base)
            if len(self._strips) > 1024:
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def _placeholder(self, seq: int, width: int, base: Style) -> Strip:
        if not self._fetch_failed:
            self._want(seq)
        state = "could not be fetched (scroll to retry)" if self._fetch_failed else "loading…"
        text = f"… line {seq:,} {state}"
        return Strip([Segment(text, base + self._style("placeholder"))]).adjust_cell_length(
            width, base
        )

    def _line_strip(self, line: HeldLine, sub: int, width: int, base: Style) -> Strip:
        segments = line_segments(
            line,
            sub,
            width,
            wrap=self.wrap,
            needle=self._needle,
            current=line.seq == self._match_seq,
            style=lambda name: base + self._style(name),
        )
        return Strip(segments).adjust_cell_length(width, base)

    # -- fetching what is not held -------------------------------------------------------

    def _want(self, seq: int) -> None:
        wanted = self._wanted
        if wanted is not None and wanted[0] <= seq <= wanted[1]:
            return
        if self._missing is None:
            self._missing = (seq, seq)
            self.call_later(self._ask)
        else:
            self._missing = (min(self._missing[0], seq), max(self._missing[1], seq))

    def _ask(self) -> None:
        missing, self._missing = self._missing, None
        if missing is None:
            return
        window = self.window
        if self.following:
            # Asked by a frame drawn before the view caught up with the end: only the rows
            # at the end will be shown.
            height = self.scrollable_content_region.height
            missing = (max(missing[0], window.total - height + 1), missing[1])
        if missing[0] > missing[1] or window.lo <= missing[0] <= missing[1] <= window.hi:
            return
        limit = window.max_lines * 3 // 4
        first = max(1, missing[0] - FETCH_MARGIN)
        last = min(window.total, missing[1] + FETCH_MARGIN, first + limit - 1)
        self._wanted = (first, last)
        self.post_message(self.LinesWanted(self, first, last))
