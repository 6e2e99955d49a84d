"""`MatrixGrid`: services × environments, drawn line by line (only what is visible)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain import Status
from ..format import status_css
from ..model import MatrixModel
from ._line_scroll import move_thumb, scroll_drawn_lines
from .matrix_cells import (
    AGE_WIDTH,
    GridLayout,
    cell_padding,
    cell_parts,
    grid_layout,
    merged_parts,
    service_label,
    shown_ages,
)

__all__ = ["LOADING", "MatrixGrid"]

LOADING = "…"
"""A cell of a row whose cells have not come from the engine yet."""
AGE_REFRESH_S = 2.0
KEPT_LINES = 1_000
"""Drawn lines the grid keeps for reuse; beyond, it forgets them all and starts again."""


class MatrixGrid(ScrollView, can_focus=True):
    """The environment matrix with a cell cursor (arrows or hjkl)."""

    COMPONENT_CLASSES = {
        "matrix-grid--service",
        "matrix-grid--cursor",
        "matrix-grid--cursor-row",
        "matrix-grid--empty",
        "matrix-grid--dim",
        "matrix-grid--version",
        "matrix-grid--next",
        "matrix-grid--sent",
        *(f"matrix-grid--{status.value}" for status in Status),
    }

    DEFAULT_CSS = (
        """
    MatrixGrid { background: $surface; overflow-x: hidden; }
    MatrixGrid > .matrix-grid--service { text-style: bold; }
    MatrixGrid > .matrix-grid--cursor { background: $accent 40%; text-style: bold; }
    MatrixGrid:focus > .matrix-grid--cursor { background: $accent; color: $text; }
    MatrixGrid > .matrix-grid--cursor-row { background: $panel; }
    MatrixGrid > .matrix-grid--empty { color: $text-disabled; }
    MatrixGrid > .matrix-grid--dim { color: $text-muted; }
    MatrixGrid > .matrix-grid--next { color: $warning; }
    MatrixGrid > .matrix-grid--sent { color: $warning; text-style: bold; }
    """
        + status_css("MatrixGrid", "matrix-grid")
        + """
    """
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "up,k", "cursor(0, -1)", "Up", show=False, id="matrix.up", tooltip="Previous service"
        ),
        Binding(
            "down,j", "cursor(0, 1)", "Down", show=False, id="matrix.down", tooltip="Next service"
        ),
        Binding(
            "left,h",
            "cursor(-1, 0)",
            "Left",
            show=False,
            id="matrix.left",
            tooltip="Previous environment",
        ),
        Binding(
            "right,l",
            "cursor(1, 0)",
            "Right",
            show=False,
            id="matrix.right",
            tooltip="Next environment",
        ),
        Binding(
            "pageup",
            "page(-1)",
            "Page up",
            show=False,
            id="matrix.page-up",
            tooltip="One screen up",
        ),
        Binding(
            "pagedown",
            "page(1)",
            "Page down",
            show=False,
            id="matrix.page-down",
            tooltip="One screen down",
        ),
        Binding(
            "home,g", "edge(-1)", "First", show=False, id="matrix.first", tooltip="First service"
        ),
        Binding("end,G", "edge(1)", "Last", show=False, id="matrix.last", tooltip="Last service"),
    ]

    # No automatic repaint: the watchers refresh just the rows the cursor left and entered
    # (a whole 40-line grid costs ~10 ms a move).
    cursor_row: reactive[int] = reactive(0, init=False, repaint=False)
    """Index of the focused service among those shown."""
    cursor_col: reactive[int] = reactive(0, init=False, repaint=False)
    """Index of the focused environment."""

    class WindowMoved(Message):
        """Other services came into view (scrolled, resized): their cells may be needed."""

    def __init__(self, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self.model = MatrixModel()
        self.services: list[str] = []
        self._layout: tuple[list[str], tuple[int, int, int], GridLayout] | None = None
        self._lines: dict[str, tuple[tuple[object, ...], Strip]] = {}
        """Per service: its last drawn line and what it was drawn from (`_line_key`). A
        scroll by one line redraws every visible line; these make that one new line."""
        self._drawn = 0
        """Moves when every kept line may be out of date (styles, a new model)."""

    # -- data --------------------------------------------------------------------------

    def show(self, model: MatrixModel, services: list[str], keep: str | None = None) -> None:
        """Show `services` (filtered and sorted) of `model`, keeping the cursor on `keep`."""
        if model is not self.model:
            self._drawn += 1  # kept lines are of the old model's cells
            self._lines.clear()
        self.model = model
        self.services = services
        self._set_rows(len(services))
        row = services.index(keep) if keep in services else min(self.cursor_row, len(services) - 1)
        self.cursor_row = max(0, row)
        self.cursor_col = min(self.cursor_col, max(0, len(model.environments) - 1))
        self.refresh()

    def _set_rows(self, count: int) -> None:
        """The grid's height in rows (its virtual size), for a new listing.

        Setting `virtual_size` lays out the whole screen (16–54 ms at 160×48: every filter
        keystroke), which a new listing needs only when the scrollbar comes or goes (the
        rows get narrower or wider). Otherwise the scrollbar and the scroll's limits are
        updated as Textual does after a layout (`_scroll_update`), and only the grid is
        repainted.
        """
        size = Size(0, count)
        if size == self.virtual_size:
            return
        update_scrollbars = getattr(self, "_scroll_update", None)
        height = self.container_size.height
        bar_changes = (count > height) != self.show_vertical_scrollbar
        if update_scrollbars is None or not height or bar_changes:
            self.virtual_size = size
            return
        self.set_reactive(MatrixGrid.virtual_size, size)
        update_scrollbars(size)

    def notify_style_update(self) -> None:
        # Focus, hover and theme change the component styles every kept line was drawn with.
        super().notify_style_update()
        self._drawn += 1
        self._lines.clear()

    @property
    def focused_slot(self) -> tuple[str | None, str | None]:
        """`(service, environment)` under the cursor."""
        service = self.services[self.cursor_row] if self.services else None
        envs = self.model.environments
        env = envs[self.cursor_col] if envs else None
        return service, env

    @property
    def layout_widths(self) -> GridLayout:
        """Current column widths (the column header uses the same)."""
        # Every drawn line needs this, and measuring every service name per line made a
        # 2,000-service grid cost ~1 ms a line; `show` replaces `services`, never mutates it.
        services, envs = self.services, self.model.environments
        key = (self.size.width, len(services), len(envs))
        if self._layout is None or self._layout[0] is not services or self._layout[1] != key:
            self._layout = (services, key, grid_layout(self.size.width, services, envs))
        return self._layout[2]

    def on_mount(self) -> None:
        # Ages ("45s", "3m") move on even when no row arrives.
        self.set_interval(AGE_REFRESH_S, self._refresh_ages)

    def _refresh_ages(self) -> None:
        """Repaint the visible lines whose ages moved on: none while the cells are too
        narrow to show ages (a whole grid drawn anew is ~10 ms: a cursor step that lands on
        that frame waits for it)."""
        layout = self.layout_widths
        if layout.cell_width - 1 < AGE_WIDTH:
            return
        top, width, base = self.scroll_offset.y, self.size.width, self.rich_style
        for index in range(top, min(top + self.size.height, len(self.services))):
            service = self.services[index]
            key = self._line_key(service, index == self.cursor_row, layout, base)
            kept = self._lines.get(service)
            if key is None or kept is None or not _same(kept[0], key):
                self.refresh(Region(0, index - top, width, 1))

    def refresh_services(self, services: set[str]) -> None:
        """Repaint only the visible lines of these services."""
        for service in services:
            self._lines.pop(service, None)
        top, height = self.scroll_offset.y, self.size.height
        for index in range(top, min(top + height, len(self.services))):
            if self.services[index] in services:
                self.refresh(Region(0, index - top, self.size.width, 1))

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self.services))
        # The slot panel below grows and shrinks with what it shows: keep the cursor in view.
        self.call_after_refresh(self._keep_cursor_in_view)
        self.post_message(self.WindowMoved())

    def _keep_cursor_in_view(self) -> None:
        self.scroll_to_region(Region(0, self.cursor_row, 1, 1), animate=False, force=True)

    def window(self, margin: int | None = None) -> list[str]:
        """The services on screen, and `margin` rows (default: a screenful) either side."""
        height = max(1, self.size.height)
        margin = height if margin is None else margin
        top = int(self.scroll_offset.y)
        return self.services[max(0, top - margin) : top + height + margin]

    def watch_scroll_y(self, old: float, new: float) -> None:
        # A scroll by a few rows moves the rows already drawn (`scroll_drawn_lines`): a
        # cursor step past the edge draws one row, not the whole grid.
        moved = round(new) - round(old)
        if moved and abs(moved) < self.size.height and scroll_drawn_lines(self, moved):
            if self.show_vertical_scrollbar:
                move_thumb(self.vertical_scrollbar, new)
        else:
            super().watch_scroll_y(old, new)
        if int(old) != int(new):
            self.post_message(self.WindowMoved())

    # -- cursor ------------------------------------------------------------------------

    def action_cursor(self, dx: int, dy: int) -> None:
        if dx:
            self.cursor_col = max(0, min(self.cursor_col + dx, len(self.model.environments) - 1))
        if dy:
            self.cursor_row = max(0, min(self.cursor_row + dy, len(self.services) - 1))

    def action_page(self, direction: int) -> None:
        self.action_cursor(0, direction * max(1, self.size.height - 1))

    def action_edge(self, direction: int) -> None:
        self.cursor_row = 0 if direction < 0 else max(0, len(self.services) - 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, force=True)
        self._refresh_rows(old, new)

    def watch_cursor_col(self) -> None:
        self._refresh_rows(self.cursor_row)

    def _refresh_rows(self, *rows: int) -> None:
        top = self.scroll_offset.y
        for row in rows:
            self.refresh(Region(0, row - top, self.size.width, 1))

    # -- drawing -----------------------------------------------------------------------

    def _style(self, kind: str) -> Style:
        return self.get_component_rich_style(f"matrix-grid--{kind}", partial=True)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        index = self.scroll_offset.y + y
        base = self.rich_style
        if not 0 <= index < len(self.services):
            return Strip.blank(width, base)
        service = self.services[index]
        layout = self.layout_widths
        on_row = index == self.cursor_row
        key = self._line_key(service, on_row, layout, base)
        if key is not None:
            kept = self._lines.get(service)
            if kept is not None and _same(kept[0], key):
                return kept[1]
        strip = self._draw(service, on_row, layout, base, width)
        if key is not None:
            if len(self._lines) >= KEPT_LINES:
                self._lines.clear()
            self._lines[service] = (key, strip)
        return strip

    def _line_key(
        self, service: str, on_row: bool, layout: GridLayout, base: Style
    ) -> tuple[object, ...] | None:
        """What `service`'s line is drawn from, compared by identity (`_same`): its cells are
        frozen states replaced on every change. None: not kept (an action in flight there)."""
        model = self.model
        if model.pending and any(key[0] == service for key in model.pending):
            return None
        cells = model.cells.get(service)
        row = tuple(cells.get(env) for env in model.environments) if cells is not None else ()
        cursor = self.cursor_col if on_row else -1
        ages = shown_ages(row, layout.cell_width - 1, self._clock)
        # `show` moves `_drawn` for a new model: the model itself is not named. The listing
        # matters only through the layout (the service column's width).
        return (self._drawn, layout, base, cursor, model.loaded(service), ages, *row)

    def _draw(
        self, service: str, on_row: bool, layout: GridLayout, base: Style, width: int
    ) -> Strip:
        row_style = base + self._style("cursor-row") if on_row else base
        label = service_label(service, layout.service_width)
        segments = [Segment(label, row_style + self._style("service"))]
        if not self.model.loaded(service):
            # On its way from the engine (scrolled into view); painted again when it comes.
            cells = LOADING.ljust(layout.cell_width) * len(self.model.environments)
            segments.append(Segment(cells, row_style + self._style("dim")))
            return Strip(segments).adjust_cell_length(width, base)
        now = self._clock()
        for col, env in enumerate(self.model.environments):
            cell = self.model.cell(service, env)
            cell_style = row_style
            if on_row and col == self.cursor_col:
                cell_style = base + self._style("cursor")
            sent = self.model.pending.get((service, env)) if self.model.pending else None
            parts = cell_parts(cell, layout.cell_width - 1, now, sent)
            for text, kind in merged_parts(parts):
                segments.append(Segment(text, cell_style + self._style(kind)))
            segments.append(Segment(" " * cell_padding(parts, layout.cell_width), cell_style))
        return Strip(segments).adjust_cell_length(width, base)


def _same(kept: tuple[object, ...], key: tuple[object, ...]) -> bool:
    """Whether a kept line was drawn from these: the same objects, mostly (cells are replaced
    on every change), or equal ones (a style made again, a cell folded to the same state)."""
    return len(kept) == len(key) and all(a is b or a == b for a, b in zip(kept, key, strict=True))
