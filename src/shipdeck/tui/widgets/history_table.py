"""`HistoryTable`: rows newest first, drawn line by line, fetched page by page."""

from __future__ import annotations

from collections.abc import Callable
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
from ..format import age, status_css, status_label
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
        for event in events:
            if event.id not in self._ids:
                self._ids.add(event.id)
                self.rows.append(event)
                self._keys.append(_sort_key(event))
        self.has_more = has_more
        self.fetching = False
        self._resize()
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

    def _resize(self) -> None:
        tail = 1 if self.has_more or self.trimmed else 0
        self.virtual_size = Size(0, len(self.rows) + tail)
        self.refresh()

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

    def header_text(self) -> str:
        """Column titles at the widget's width (the screen shows them above the table)."""
        return "".join(t.ljust(w) for t, w in visible_columns(self.size.width))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        index = self.scroll_offset.y + y
        base = self.rich_style
        if index == len(self.rows) and self.trimmed:
            note = "  older rows were dropped from memory — ctrl+r reloads from the newest"
            return Strip([Segment(note, base + self._style("dim"))]).adjust_cell_length(width, base)
        if index == len(self.rows) and self.trimmed:
            note = "  older rows were dropped from memory — ctrl+r reloads from the newest"
            return Strip([Segment(note, base + self._style("dim"))]).adjust_cell_length(width, base)
        if index == len(self.rows) and self.has_more:
            return Strip(
                [Segment("  loading older rows…", base + self._style("dim"))]
            ).adjust_cell_length(width, base)
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, base)
        event = self.rows[index]
        style = base + self._style("cursor") if index == self.cursor else base
        values = {
            "when": event.happened_at.strftime("%m-%d %H:%M:%S")
            if width >= 90
            else age(event.happened_at, self._clock()),
            "service": sanitize(event.service),
            "env": sanitize(event.environment),
            "status": status_label(event.status, sanitize(event.phase) or None),
            "version": sanitize(event.version) or "-",
            "actor": sanitize(event.actor) or "-",
            "deployment": sanitize(event.deployment_id),
        }
        segments = []
        for title, size in visible_columns(width):
            text = values[title]
            if cell_len(text) > size - 1:
                text = text[: max(0, size - 2)] + "…"
            kind = event.status.value if title == "status" else ("dim" if title == "when" else "")
            segments.append(Segment(text.ljust(size), style + self._style(kind) if kind else style))
        return Strip(segments).adjust_cell_length(width, base)
