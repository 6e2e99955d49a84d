"""The logs screen: several deployments' logs at once, stacked or side by side."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Static

from ..notify import tell
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ..widgets.filter_box import FilterBox
from ..widgets.log_pane import LogPane
from ..widgets.log_view import LogView
from ._deck import DeckScreen

_PANE_ACTIONS = frozenset(
    {"close", "follow", "wrap", "search", "find", "end", "start", "cycle", "layout"}
)
"""Actions that need at least one pane."""


class LogsScreen(DeckScreen):
    """Log panes, each following one deployment."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open", "Open", id="logs.open", tooltip="Open a pane for a deployment id"),
        Binding("x", "close", "Close", id="logs.close", tooltip="Close the focused pane"),
        Binding(
            "f", "follow", "Follow/pause", id="logs.follow", tooltip="Follow the end, or pause"
        ),
        Binding("/", "search", "Search", id="logs.search", tooltip="Highlight text in the pane"),
        Binding(
            "n",
            "find(1)",
            "Next match",
            show=False,
            id="logs.next-match",
            tooltip="Next match (among the lines in memory)",
        ),
        Binding(
            "N",
            "find(-1)",
            "Previous match",
            show=False,
            id="logs.previous-match",
            tooltip="Previous match (among the lines in memory)",
        ),
        Binding("w", "wrap", "Wrap", id="logs.wrap", tooltip="Wrap long lines, or cut them"),
        Binding("L", "layout", "Layout", id="logs.layout", tooltip="Panes stacked or side by side"),
        Binding(
            "tab", "cycle(1)", "Next pane", show=False, id="logs.next-pane", tooltip="Next pane"
        ),
        Binding(
            "shift+tab",
            "cycle(-1)",
            "Previous pane",
            show=False,
            id="logs.previous-pane",
            tooltip="Previous pane",
        ),
        Binding("G,end", "end", "End", show=False, id="logs.end", tooltip="Last line, and follow"),
        Binding(
            "g,home", "start", "Start", show=False, id="logs.start", tooltip="First line (pauses)"
        ),
        Binding(
            "escape",
            "cancel_input",
            "Cancel",
            show=False,
            id="logs.cancel",
            tooltip="Close the open or search box",
        ),
    ]

    side_by_side: reactive[bool] = reactive(False, init=False)
    """Panes side by side (else stacked)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[LogPane] = []
        self._current: LogPane | None = None

    def compose(self) -> ComposeResult:
        yield DeckHeader(self.deck.clock)
        yield Static(
            "No log pane open: press o and type a deployment id, or press L on a slot "
            "of the matrix (l on a row of the history).",
            id="logs-empty",
        )
        yield Container(id="log-panes")
        yield FilterBox(
            placeholder="deployment id — enter opens a pane, esc cancels", id="logs-open"
        )
        yield FilterBox(placeholder="search — enter highlights, esc cancels", id="logs-search")
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "Logs"
        pending, self._pending = self._pending, []
        for pane in pending:
            self._mount_pane(pane)
        self._empty()

    # -- panes ---------------------------------------------------------------------------

    @property
    def panes(self) -> list[LogPane]:
        """Open panes, in order."""
        return list(self.query(LogPane)) if self.is_mounted else list(self._pending)

    def add_pane(self, deployment_id: str, title: str | None = None) -> None:
        """Follow `deployment_id` in a new pane, or focus its pane if one is open."""
        for pane in self.panes:
            if pane.deployment_id == deployment_id:
                self._focus(pane)
                return
        pane = LogPane(self.deck.client, deployment_id, title)
        if self.is_mounted:
            self._mount_pane(pane)
        else:
            self._pending.append(pane)

    def _mount_pane(self, pane: LogPane) -> None:
        self.query_one("#log-panes").mount(pane)
        self._current = pane
        self.call_after_refresh(self._focus, pane)
        self.call_after_refresh(self._empty)

    def _focus(self, pane: LogPane) -> None:
        if pane.is_attached:
            self._current = pane
            pane.view.focus()

    def _empty(self) -> None:
        self.query_one("#logs-empty").display = not self.query(LogPane)

    @property
    def current_pane(self) -> LogPane | None:
        """The focused pane, or the last one focused."""
        focused = self.focused
        while focused is not None and not isinstance(focused, LogPane):
            parent = focused.parent
            focused = parent if isinstance(parent, Widget) else None
        if isinstance(focused, LogPane):
            self._current = focused
        panes = self.panes
        if self._current not in panes:
            self._current = panes[0] if panes else None
        return self._current

    def _view(self) -> LogView | None:
        pane = self.current_pane
        return pane.view if pane is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pane actions are greyed out without panes; escape only closes an open box."""
        if action == "cancel_input":
            return any(box.display for box in self.query(Input))
        if action in _PANE_ACTIONS and not self.panes:
            return None
        return True

    # -- actions -------------------------------------------------------------------------

    def action_open(self) -> None:
        self._show_box("#logs-open", "")

    def action_close(self) -> None:
        pane = self.current_pane
        if pane is None:
            return
        panes = self.panes
        rest = [p for p in panes if p is not pane]
        index = panes.index(pane)
        pane.remove()
        self._current = None
        if rest:
            self._focus(rest[min(index, len(rest) - 1)])
        # From `rest`, not a query: the pane is still mounted until its removal completes.
        self.query_one("#logs-empty").display = not rest

    def action_cycle(self, step: int) -> None:
        panes = self.panes
        pane = self.current_pane
        if pane is None:
            return
        self._focus(panes[(panes.index(pane) + step) % len(panes)])

    def action_follow(self) -> None:
        if (view := self._view()) is not None:
            view.toggle_follow()

    def action_wrap(self) -> None:
        if (view := self._view()) is not None:
            view.set_wrap(not view.wrap)

    def action_end(self) -> None:
        if (view := self._view()) is not None:
            view.follow()

    def action_start(self) -> None:
        if (view := self._view()) is not None:
            view.go_start()

    def action_layout(self) -> None:
        self.side_by_side = not self.side_by_side

    def watch_side_by_side(self, side: bool) -> None:
        self.query_one("#log-panes").set_class(side, "-side")

    def action_search(self) -> None:
        view = self._view()
        self._show_box("#logs-search", view.needle if view is not None else "")

    def action_find(self, direction: int) -> None:
        view = self._view()
        if view is None:
            return
        if not view.needle:
            tell(self, "hint", "Search first (/)")
        elif not view.find(direction):
            tell(self, "nudge", "No match among the lines in memory")

    def action_cancel_input(self) -> None:
        for box in self.query(Input):
            box.display = False
        if (view := self._view()) is not None:
            view.focus()

    def _show_box(self, selector: str, value: str) -> None:
        for box in self.query(Input):
            box.display = False
        box = self.query_one(selector, Input)
        box.value = value
        box.display = True
        # At once, not after the queued messages: keys typed right after `/` belong in it.
        self.set_focus(box)

    @on(Input.Submitted, "#logs-open")
    def _open_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        deployment_id = event.value.strip()
        if deployment_id:
            self.add_pane(deployment_id)
        elif (view := self._view()) is not None:
            view.focus()

    @on(Input.Submitted, "#logs-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        view = self._view()
        if view is None:
            return
        view.focus()
        if not view.search(event.value) and event.value:
            tell(self, "nudge", "No match among the lines in memory")
