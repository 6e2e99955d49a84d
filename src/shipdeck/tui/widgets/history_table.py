"""`HistoryTable`: rows newest first, drawn line by line, fetched page by page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain import DeploymentEvent, Status, to_micros
from ..format import age, status_css, status_label, version_text
from ..sanitize import sanitize

# (title, width or 0 for "the rest", minimum widget width to show it)
COLUMNS: list[tuple[str, int, int]] = [
    ("when", 15, 0),
    ("service", 18, 0),
    ("env", 9, 0),
    ("status", 13, 0),
    ("version", 12, 0),
    ("actor", 16, 100),
    ("deployment", 0, 120),
]


def _sort_key(event: DeploymentEvent) -> tuple[int, str]:
    return (to_micros(event.happened_at), event.id)


def _position(keys: list[tuple[int, str]], key: tuple[int, str]) -> int:
    """Where `key` goes in `keys`, which are in descending order (the listing's order)."""
    low, high = 0, len(keys)
    while low < high:
        middle = (low + high) // 2
        if keys[middle] > key:
            low = middle + 1
        else:
            high = middle
    return low


def visible_columns(width: int) -> list[tuple[str, int]]:
    """Columns that fit; the last one takes whatever is left."""
    shown = [(title, size) for title, size, minimum in COLUMNS if width >= minimum]
    fixed = sum(size for _, size in shown[:-1])
    *head, (last, size) = shown
    return [*head, (last, max(size or 8, width - fixed))]


PREFETCH_SCREENS = 3
MAX_ROWS = 20_000
"""Rows kept in memory; live rows beyond it push the oldest out (ctrl+r reloads)."""


class HistoryTable(ScrollView, can_focus=True):
    """Deployment rows with a row cursor; asks for more when the end comes near."""

    COMPONENT_CLASSES = {
        "history-table--cursor",
        "history-table--dim",
        *(f"history-table--{s.value}" for s in Status),
    }
    DEFAULT_CSS = (
        """
    HistoryTable { background: $surface; overflow-x: hidden; }
    HistoryTable > .history-table--cursor { background: $accent 40%; }
    HistoryTable:focus > .history-table--cursor { background: $accent; color: $text; }
    HistoryTable > .history-table--dim { color: $text-muted; }
    """
        + status_css("HistoryTable", "history-table")
        + """
    """
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="history.up", tooltip="Newer row"),
        Binding("down,j", "move(1)", "Down", show=False, id="history.down", tooltip="Older row"),
        Binding(
            "pageup",
            "page(-1)",
            "Page up",
            show=False,
            id="history.page-up",
            tooltip="One screen up",
        ),
        Binding(
            "pagedown",
            "page(1)",
            "Page down",
            show=False,
            id="history.page-down",
            tooltip="One screen down",
        ),
        Binding(
            "home,g", "edge(-1)", "Newest", show=False, id="history.first", tooltip="Newest row"
        ),
        Binding(
            "end,G",
            "edge(1)",
            "Oldest loaded",
            show=False,
            id="history.last",
            tooltip="Oldest loaded row (loads more)",
        ),
        Binding("enter", "choose", "Open", id="history.open", tooltip="Open the deployment"),
    ]

    cursor: reactive[int] = reactive(0, init=False, repaint=False)
    """Index of the highlighted row."""

    class NeedMore(Message):
        """The cursor or the view is near the last loaded row."""

    class RowChosen(Message):
        """Enter on a row."""

        def __init__(self, event: DeploymentEvent) -> None:
            super().__init__()
            self.event = event

    def __init__(self, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self.rows: list[DeploymentEvent] = []
        self._keys: list[tuple[int, str]] = []
        self._ids: set[str] = set()
        self.has_more = False
        self.fetching = False
        self.trimmed = False
        """Older rows were dropped from memory to make room for live ones."""
        self._paint: _Paint | None = None
        """Styles and columns of the render pass under way (see `render_lines`)."""

    # -- data --------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every row (before a new filter's first page)."""
        self.rows, self._keys, self._ids = [], [], set()
        self.has_more = self.trimmed = False
        self.cursor = 0
        self.scroll_to(0, 0, animate=False)
        self._resize()

    def extend(self, events: list[DeploymentEvent], has_more: bool) -> None:
        """Append an older page."""
        first_new = len(self.rows)
        for event in events:
            if event.id not in self._ids:
                self._ids.add(event.id)
                self.rows.append(event)
                self._keys.append(_sort_key(event))
        self.has_more = has_more
        self.fetching = False
        self._resize(appended_from=first_new)
        self._maybe_need_more()

    def insert_live(self, event: DeploymentEvent) -> bool:
        """Put a live row in its place; the cursor stays on the row it was on."""
        if event.id in self._ids:
            return False
        key = _sort_key(event)
        index = _position(self._keys, key)
        if index == len(self.rows) and (self.has_more or self.trimmed):
            return False  # older than what is loaded: paging (or a reload) brings it
        self._ids.add(event.id)
        self.rows.insert(index, event)
        self._keys.insert(index, key)
        if len(self.rows) > MAX_ROWS:
            self._trim()
        self._resize()
        if len(self.rows) > 1 and index <= self.cursor:
            self.set_reactive(HistoryTable.cursor, self.cursor + 1)
        if index < self.scroll_offset.y:
            self.scroll_to(y=self.scroll_offset.y + 1, animate=False, force=True)
        return True

    def _trim(self) -> None:
        """Drop the oldest rows so a long live session stays within MAX_ROWS."""
        for event in self.rows[MAX_ROWS:]:
            self._ids.discard(event.id)
        del self.rows[MAX_ROWS:], self._keys[MAX_ROWS:]
        self.cursor = min(self.cursor, len(self.rows) - 1)
        self.has_more, self.trimmed = False, True

    def _resize(self, appended_from: int | None = None) -> None:
        """Fit the scroll area to the rows and repaint.

        `appended_from`: rows were only appended, from that index on. The table keeps its
        place on screen then, so the screen needs no new layout — which setting
        `virtual_size` asks for, and which repaints the whole table: one extra full frame
        for every page a held page-down fetches (one every two or three presses). Only
        the lines from the old end on are repainted (the "loading" line, and new rows
        when the view reaches them); the scrollbar is updated as a layout would.
        """
        tail = 1 if self.has_more or self.trimmed else 0
        size = Size(0, len(self.rows) + tail)
        update_scrollbars = getattr(self, "_scroll_update", None)
        if appended_from is None or update_scrollbars is None or not self.size.height:
            self.virtual_size = size
            self.refresh()
            return
        self.set_reactive(HistoryTable.virtual_size, size)
        update_scrollbars(size)  # Textual's own no-layout path (it lays out if they show/hide)
        top = appended_from - int(self.scroll_offset.y)
        if top < self.size.height:
            top = max(0, top)
            self.refresh(Region(0, top, self.size.width, self.size.height - top))

    @property
    def current(self) -> DeploymentEvent | None:
        """The highlighted row."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    # -- cursor ------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, len(self.rows) - 1))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 1))

    def action_edge(self, direction: int) -> None:
        self.cursor = 0 if direction < 0 else max(0, len(self.rows) - 1)

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.RowChosen(self.current))

    def watch_cursor(self, old: int, new: int) -> None:
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, force=True)
        top = self.scroll_offset.y
        for row in (old, new):
            self.refresh(Region(0, row - top, self.size.width, 1))
        self._maybe_need_more()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._maybe_need_more()

    def _maybe_need_more(self) -> None:
        # Three screens ahead: a held page-down never outruns the next page.
        ahead = PREFETCH_SCREENS * max(1, self.size.height)
        horizon = max(self.cursor, int(self.scroll_offset.y) + self.size.height) + ahead
        if self.has_more and not self.fetching and horizon >= len(self.rows):
            self.fetching = True
            self.post_message(self.NeedMore())

    # -- drawing -----------------------------------------------------------------------

    def _style(self, kind: str) -> Style:
        return self.get_component_rich_style(f"history-table--{kind}", partial=True)

    def _make_paint(self) -> _Paint:
        base = self.rich_style
        cursor = base + self._style("cursor")
        kinds = ["dim", *(s.value for s in Status)]
        components = {kind: self._style(kind) for kind in kinds}
        return _Paint(
            width=self.size.width,
            columns=visible_columns(self.size.width),
            base=base,
            plain={"": base} | {kind: base + style for kind, style in components.items()},
            cursor={"": cursor} | {kind: cursor + style for kind, style in components.items()},
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles and columns once per pass, not per line: `rich_style` walks the ancestors
        # and each component style looks its rules up (a third of a full repaint's time).
        self._paint = self._make_paint()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def header_text(self) -> str:
        """Column titles at the widget's width (the screen shows them above the table)."""
        return "".join(t.ljust(w) for t, w in visible_columns(self.size.width))

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._make_paint()
        width, base = paint.width, paint.base
        index = self.scroll_offset.y + y
        if index == len(self.rows) and self.trimmed:
            note = "  older rows were dropped from memory — ctrl+r reloads from the newest"
            return Strip([Segment(note, paint.plain["dim"])]).adjust_cell_length(width, base)
        if index == len(self.rows) and self.has_more:
            return Strip([Segment("  loading older rows…", paint.plain["dim"])]).adjust_cell_length(
                width, base
            )
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, base)
        event = self.rows[index]
        styles = paint.cursor if index == self.cursor else paint.plain
        values = {
            "when": event.happened_at.strftime("%m-%d %H:%M:%S")
            if width >= 90
            else age(event.happened_at, self._clock()),
            "service": sanitize(event.service),
            "env": sanitize(event.environment),
            "status": status_label(event.status, sanitize(event.phase) or None),
            "version": version_text(event),
            "actor": sanitize(event.actor) or "-",
            "deployment": sanitize(event.deployment_id),
        }
        # Neighbouring columns of one style go in one segment (the same cells, fewer
        # segments for Textual to crop, divide and filter on every frame).
        segments = []
        texts: list[str] = []
        style = None
        for title, size in paint.columns:
            text = values[title]
            if cell_len(text) > size - 1:
                text = text[: max(0, size - 2)] + "…"
            kind = event.status.value if title == "status" else ("dim" if title == "when" else "")
            if styles[kind] is not style and texts:
                segments.append(Segment("".join(texts), style))
                texts = []
            style = styles[kind]
            texts.append(text.ljust(size))
        segments.append(Segment("".join(texts), style))
        return Strip(segments).adjust_cell_length(width, base)


@dataclass(frozen=True, slots=True)
class _Paint:
    """What every line of one render pass shares."""

    width: int
    columns: list[tuple[str, int]]
    base: Style
    plain: dict[str, Style]
    """Segment style by kind (`""`, `dim`, a status) on a row without the cursor."""
    cursor: dict[str, Style]
    """The same on the cursor's row."""
