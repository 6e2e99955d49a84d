"""The matrix screen: services × environments, live, with the focused slot's details."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.reactive import reactive
from textual.widgets import Input

from ...client import ConnectionStatus, DeploymentFilters, LinkState
from ...domain import Status
from ..actions import ActionTarget, slot_target
from ..context import SortOrder
from ..format import version_text
from ..messages import (
    EnvironmentUpdated,
    MatrixOrdered,
    PendingChanged,
    ResyncRequested,
    RowsArrived,
    RowsLoaded,
)
from ..model import MatrixModel, matcher, upcoming
from ..notify import tell
from ..sanitize import sanitize
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ..widgets.filter_box import FilterBox
from ..widgets.matrix_columns import MatrixColumns
from ..widgets.matrix_grid import MatrixGrid
from ..widgets.slot_panel import SlotPanel
from ._acting import ActingScreen, action_bindings
from ._deck import key_bindings

COLUMNS_EVERY_S = 30.0
FIRST_STEPS = (
    "No deployments yet. Three ways to start:\n"
    "• shipdeck demo: try it on simulated CI traffic, with colleagues\n"
    "• shipdeck --url http://HOST:8080: watch a server (shipdeck serve)\n"
    "• shipdeck report --status success --service S --environment E: from CI\n"
    "  (docs/ci.md: one line in a GitHub Actions or GitLab CI job)"
)
NO_SERVICES_REMOTE = (
    "No services yet: waiting for the first deployment to be reported.\n"
    "Report one from CI: shipdeck report --url URL --status success --service S "
    "--environment E --version V (docs/ci.md)"
)
REMOTE_FIX = (
    "Is shipdeck serve running there? Check the URL (--url, the profile's url)\n"
    "and $SHIPDECK_TOKEN; shipdeck keeps trying. Without a server: shipdeck demo"
)
REFUSED_FIX = (
    "Check the URL (--url, the profile's url) and the token ($SHIPDECK_TOKEN, or the\n"
    "profile's token_env), then start shipdeck again. Without a server: shipdeck demo"
)
EMBEDDED_FIX = (
    "Check its database (--profile's database, or the user data folder that\n"
    "shipdeck config names), or try shipdeck demo"
)


class MatrixScreen(ActingScreen):
    """The default screen."""

    AUTO_FOCUS = "#matrix-grid"

    BINDINGS: ClassVar[list[BindingType]] = [
        *key_bindings(
            "matrix",
            ("/", "filter", "Filter", "filter", "Filter services by name (substring or fuzzy)"),
            ("s", "sort", "Sort", "sort", "Sort services by name or by last change"),
            (
                "enter",
                "slot_history",
                "Slot history",
                "slot-history",
                "History of the focused slot",
            ),
            ("H", "history", "History", "history", "History of every deployment"),
            (
                "L",
                "logs",
                "Logs",
                "logs",
                "Logs of the focused slot's deployment (its next when queued or running)",
            ),
            ("escape", "clear_filter", "Clear filter", "clear-filter", "Clear the service filter"),
            hidden=("clear-filter",),
        ),
        *action_bindings("matrix"),
        # After the action keys: at 80 columns the footer keeps those (A is in `?` and `:`).
        *key_bindings(
            "matrix",
            (
                "A",
                "approvals",
                "Approvals",
                "approvals",
                "Promotions awaiting approval: those waiting for you, and all pending",
            ),
            (
                "I",
                "insights",
                "Insights",
                "insights",
                "DORA keys and charts over 7, 14 or 30 days (of the filtered service)",
            ),
            # In `?` and `:` only: at 160 columns the footer has room for it on the matrix,
            # but not with `q Back` beside it under a modal.
            hidden=("insights",),
        ),
    ]

    # Not repainting reactives: their watchers repaint the grid, the headings and the panel;
    # a repaint of the screen redrew all of it too (7–14 ms of each filter keystroke).
    filter_text: reactive[str] = reactive("", init=False, repaint=False)
    """Services shown must match this (substring or fuzzy)."""
    sort_by: reactive[SortOrder] = reactive[SortOrder]("name", init=False, repaint=False)
    """`name` or `change` (most recent first)."""

    _columns_shown = 0
    _link = ConnectionStatus(LinkState.CONNECTING)
    """The app's connection, as last seen (what the empty matrix says depends on it)."""
    _matched: tuple[MatrixModel, int, str, set[str]] | None = None
    """The last filter's matches: of which model, at how many names, for which text."""

    def compose(self) -> ComposeResult:
        yield DeckHeader(self.deck.clock)
        yield MatrixColumns(id="matrix-columns")
        yield MatrixGrid(self.deck.clock, id="matrix-grid")
        yield SlotPanel(self.deck.clock, id="slot-panel")
        yield FilterBox(
            placeholder="filter services (substring or fuzzy) — enter to keep, esc to clear",
            id="matrix-filter",
        )
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "Matrix"
        self.redraw()
        # The panel follows the cursor in the same call (a watch, not a message the grid
        # posts): both then repaint in one frame. Through a message the panel came a frame
        # later, and Textual's next frame after that waits up to two frame periods (33 ms),
        # delaying the next cursor step.
        grid = self.query_one(MatrixGrid)
        for cursor in ("cursor_row", "cursor_col"):
            self.watch(grid, cursor, self._panel, init=False)
        self.watch(self.app, "connection", self._link_changed, init=False)
        # "❄ in 2h" counts down even when nothing else redraws the headings.
        self.set_interval(COLUMNS_EVERY_S, self._columns)

    def _link_changed(self, status: ConnectionStatus) -> None:
        self._link = status
        if not self.query_one(MatrixGrid).services:
            self._panel()

    def _empty_text(self) -> Text:
        """What the panel says while the matrix has no service: why, and what to do."""
        label = sanitize(self.deck.client.label)
        state, detail = self._link.state, sanitize(self._link.detail)
        embedded = label == "embedded"
        if state in (LinkState.OFFLINE, LinkState.RECONNECTING) and embedded:
            return Text(f"The embedded engine did not start: {detail}\n{EMBEDDED_FIX}")
        if state is LinkState.RECONNECTING:
            why = detail or f"cannot reach {label}"
            return Text(f"The engine does not answer: {why}\n{REMOTE_FIX}")
        if state is LinkState.OFFLINE:  # stopped for good (a refused key): no retrying
            return Text(f"Not connected: {detail or f'{label} refused'}\n{REFUSED_FIX}")
        if state is LinkState.CONNECTING:
            return Text(f"Connecting to {'the embedded engine' if embedded else label}…")
        return Text(FIRST_STEPS if embedded else NO_SERVICES_REMOTE)

    def on_screen_resume(self) -> None:
        self.redraw()

    # -- data --------------------------------------------------------------------------

    def visible_services(self, model: MatrixModel | None = None) -> list[str]:
        """Services after the filter, in the chosen order (the engine's, by last change)."""
        model = self.deck.matrix if model is None else model
        if self.sort_by == "change" and model.by_change is not None:
            names = [name for _, name in model.by_change]
        else:
            names = list(model.services())
            if self.sort_by == "change":  # until the engine's order comes
                last = model.last_change
                names.sort(key=lambda s: (-last.get(s, 0), s))
        if self.filter_text:
            matching = self._matching(model, self.filter_text)
            names = [name for name in names if name in matching]
        return names

    def _matching(self, model: MatrixModel, text: str) -> set[str]:
        """The services of `model` that `text` matches. Typing extends the text, and a name
        that matches the longer text matched the shorter one (the test is the characters in
        order): then only the previous matches are tried, not all 10,000 names again."""
        match = matcher(text)
        kept = self._matched
        if kept is not None and kept[0] is model and kept[1] == len(model.names):
            if kept[2] == text:
                return kept[3]
            if text.startswith(kept[2]):
                found = {name for name in kept[3] if match(name)}
                self._matched = (model, len(model.names), text, found)
                return found
        found = {name for name in model.services() if match(name)}
        self._matched = (model, len(model.names), text, found)
        return found

    def window_of(self, model: MatrixModel) -> list[str]:
        """The services this screen would show of `model` where its cursor is: just those
        (the first paint waits for them; a screenful either side comes after, `_want`)."""
        grid = self.query_one(MatrixGrid)
        names = self.visible_services(model)
        service, _ = grid.focused_slot
        height = max(1, grid.size.height)
        top = int(grid.scroll_offset.y)
        if service in names and not top <= names.index(service) < top + height:
            top = max(0, names.index(service) - height // 2)
        return names[top : top + height]

    def redraw(self) -> None:
        """Show the app's model (after a snapshot, live rows, a filter or a sort)."""
        grid = self.query_one(MatrixGrid)
        service, _ = grid.focused_slot
        grid.show(self.deck.matrix, self.visible_services(), keep=service)
        self._columns()
        self._panel()
        self._want()

    def _want(self) -> None:
        """Ask for the cells of the services in view (and a screenful either side).

        When some are missing, two screenfuls either side are asked for: scrolling line by
        line then fetches once a screenful, not once a line. The rows in view come first,
        then the others a screenful per request: each answer is read and folded on the UI's
        loop (two screenfuls either side at once, at 160 × 48: 1.1 MB, 65 ms in which no
        key was handled; a screenful: ~13 ms)."""
        grid = self.query_one(MatrixGrid)
        model = self.deck.matrix
        if not model.missing(grid.window()):
            return
        shown = grid.window(0)
        self.deck.load_services(model.missing(shown))
        height, first = max(1, grid.size.height), set(shown)
        around = [name for name in model.missing(grid.window(2 * height)) if name not in first]
        for start in range(0, len(around), height):
            self.deck.load_services(around[start : start + height])

    @on(MatrixGrid.WindowMoved)
    def _moved(self) -> None:
        self._want()

    @on(RowsLoaded)
    def _rows_loaded(self, message: RowsLoaded) -> None:
        grid = self.query_one(MatrixGrid)
        if grid.model is not self.deck.matrix:
            self.redraw()
            return
        grid.refresh_services(set(message.services))
        if grid.focused_slot[0] in message.services:
            self._panel()
        self._want()

    @on(MatrixOrdered)
    def _ordered(self) -> None:
        if self.sort_by == "change":
            self.redraw()

    def _columns(self) -> None:
        grid = self.query_one(MatrixGrid)
        title = f"service ({len(grid.services)})"
        if self.filter_text:
            title = f"/{self.filter_text} ({len(grid.services)})"
        self._columns_shown = len(grid.model.environments)
        self.query_one(MatrixColumns).show(
            grid.model.environments,
            grid.layout_widths,
            title,
            self.deck.governance.environments,
            now=self.deck.clock(),
        )

    def _panel(self) -> None:
        service, env = self.query_one(MatrixGrid).focused_slot
        cell = self.deck.matrix.cell(service, env) if service and env else None
        sent = self.deck.matrix.pending.get((service, env)) if service and env else None
        state = self.deck.governance.environments.get(env) if env else None
        empty = None if service else self._empty_text()
        self.query_one(SlotPanel).show(service, env, cell, sent, state, empty)

    @on(RowsArrived)
    def _rows(self, message: RowsArrived) -> None:
        grid = self.query_one(MatrixGrid)
        changed = {event.service for event in message.events}
        shown = set(grid.services)
        appeared = any(
            service not in shown and (not self.filter_text or matcher(self.filter_text)(service))
            for service in changed
        )
        if (
            self.sort_by == "change"
            or appeared
            or self._columns_shown != len(grid.model.environments)
        ):
            self.redraw()
            return
        grid.refresh_services(changed)
        if grid.focused_slot[0] in changed:
            self._panel()
        self._want()  # a row may have to come again from the engine

    @on(PendingChanged)
    def _sent(self, message: PendingChanged) -> None:
        self.query_one(MatrixGrid).refresh_services({message.service})
        if self.query_one(MatrixGrid).focused_slot[0] == message.service:
            self._panel()

    def action_target(self) -> ActionTarget | None:
        """The focused slot."""
        service, env = self.query_one(MatrixGrid).focused_slot
        if service is None or env is None:
            return None
        if not self.deck.matrix.loaded(service):
            tell(self, "hint", "This row is still loading from the engine; try again")
            return None
        return slot_target(service, env, self.deck.matrix.cell(service, env))

    @on(ResyncRequested)
    def _resync(self) -> None:
        self.redraw()

    @on(EnvironmentUpdated)
    def _environment(self) -> None:
        self._columns()
        self._panel()

    def on_resize(self) -> None:
        self.query_one(SlotPanel).forget_height()
        self.call_after_refresh(self._columns)

    # -- actions -----------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#matrix-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#matrix-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted, "#matrix-filter")
    def _filter_done(self) -> None:
        self.query_one("#matrix-filter", Input).display = False
        self.query_one(MatrixGrid).focus()
        self.query_one(SlotPanel).forget_height()

    def action_clear_filter(self) -> None:
        box = self.query_one("#matrix-filter", Input)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.query_one(MatrixGrid).focus()
        self.query_one(SlotPanel).forget_height()

    def watch_filter_text(self) -> None:
        # While the text is typed the panel keeps its height, as it does while the cursor
        # moves: a keystroke then repaints the grid, not the whole screen (a relayout is
        # 16–54 ms at 160×48). It fits again when the filter is kept or cleared (the box
        # closes: a relayout anyway).
        self.redraw()

    def action_sort(self) -> None:
        self.sort_by = "change" if self.sort_by == "name" else "name"
        if self.sort_by == "change":
            self.deck.order_by_change()
        tell(self, "hint", f"Sorted by {'last change' if self.sort_by == 'change' else 'name'}")

    def watch_sort_by(self) -> None:
        self.query_one(SlotPanel).forget_height()
        self.redraw()

    def action_slot_history(self) -> None:
        service, env = self.query_one(MatrixGrid).focused_slot
        if service is not None:
            self.deck.open_history(DeploymentFilters(service=service, environment=env))

    def action_history(self) -> None:
        self.deck.open_history(DeploymentFilters())

    def action_approvals(self) -> None:
        self.deck.open_approvals()

    def action_insights(self) -> None:
        self.deck.open_insights()

    def action_logs(self) -> None:
        service, env = self.query_one(MatrixGrid).focused_slot
        cell = self.deck.matrix.cell(service, env) if service and env else None
        if cell is None:
            tell(self, "hint", "No deployment in this slot")
            return
        nxt = upcoming(cell)
        if nxt is not None and nxt.status in (Status.IN_PROGRESS, Status.QUEUED):
            row = nxt
        elif cell.current is not None:
            row = cell.current.ref
        else:
            tell(self, "hint", "No deployment in this slot")
            return
        title = f"{row.service} → {row.environment} {version_text(row)}"
        self.deck.open_logs(row.deployment_id, title)
