"""The history screen: every row newest first, filtered, paged lazily, live at the top."""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input, Static

from ...client import DeploymentFilters
from ...domain import DeploymentEvent, Status
from .. import heap
from ..actions import ActionTarget, row_target
from ..format import version_text
from ..messages import ResyncRequested, RowsArrived
from ..notify import tell
from ..sanitize import sanitize
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ..widgets.filter_box import FilterBox
from ..widgets.history_table import HistoryTable
from ._acting import ActingScreen, action_bindings
from ._deck import key_bindings

PAGE_SIZE = 100
_KEYS = {
    "service": "service",
    "env": "environment",
    "environment": "environment",
    "status": "status",
    "actor": "actor",
    "id": "deployment_id",
}


class FilterSyntaxError(ValueError):
    """The filter line cannot be read; the message says how to write it."""


def parse_filters(line: str) -> DeploymentFilters:
    """`service:api env:prod status:failure actor:alice free words` → filters."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise FilterSyntaxError(f"unbalanced quotes: {exc}") from None
    fields: dict[str, Any] = {}  # only the str-valued filters are named by _KEYS
    text: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in _KEYS and value:
            fields[_KEYS[key.lower()]] = value
        else:
            text.append(word)
    status = None
    if "status" in fields:
        try:
            status = Status(fields.pop("status"))
        except ValueError:
            choices = ", ".join(s.value for s in Status)
            raise FilterSyntaxError(f"status must be one of {choices}") from None
    return DeploymentFilters(status=status, text=" ".join(text) or None, **fields)


def format_filters(filters: DeploymentFilters) -> str:
    """The filter line that `parse_filters` reads back to `filters`."""
    parts = [
        f"{key}:{shlex.quote(str(getattr(filters, name)))}"
        for key, name in (
            ("service", "service"),
            ("env", "environment"),
            ("actor", "actor"),
            ("id", "deployment_id"),
        )
        if getattr(filters, name)
    ]
    if filters.status is not None:
        parts.append(f"status:{filters.status.value}")
    if filters.text:
        parts.append(filters.text)
    return " ".join(parts)


def shown_filters(filters: DeploymentFilters) -> str:
    """`format_filters`, made safe for the terminal (an Input draws its text as it is)."""
    return sanitize(format_filters(filters))


def matches(filters: DeploymentFilters, event: DeploymentEvent) -> bool:
    """Whether a live row belongs in a listing with these filters."""
    for name in ("service", "environment", "actor", "deployment_id"):
        wanted = getattr(filters, name)
        if wanted is not None and getattr(event, name) != wanted:
            return False
    if filters.status is not None and event.status is not filters.status:
        return False
    if filters.text:
        return filters.text.lower() in event.model_dump_json().lower()
    return True


class HistoryScreen(ActingScreen):
    """Deployment history."""

    AUTO_FOCUS = "#history-table"

    BINDINGS: ClassVar[list[BindingType]] = [
        *key_bindings(
            "history",
            (
                "/",
                "filter",
                "Filter",
                "filter",
                "Filter: service:NAME env:NAME status:STATUS actor:NAME id:ID words",
            ),
            ("ctrl+r", "reload", "Reload", "reload", "Fetch the newest rows again"),
            ("l,L", "logs", "Logs", "logs", "Logs of the focused row's deployment"),
        ),
        *action_bindings("history"),
    ]

    def __init__(self, filters: DeploymentFilters | None = None) -> None:
        super().__init__()
        self.filters = filters or DeploymentFilters()
        self._cursor: str | None = None
        self._shown = shown_filters(self.filters)
        """The filter line as displayed: outside names (a service from a slot) sanitised.
        Submitted unchanged, it keeps `filters` as they are (the raw names)."""

    def compose(self) -> ComposeResult:
        yield DeckHeader(self.deck.clock)
        yield FilterBox(
            self._shown,
            id="history-filter",
            placeholder="service:NAME env:NAME status:failure actor:NAME words…",
        )
        yield Static(id="history-columns")
        yield HistoryTable(self.deck.clock, id="history-table")
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "History"
        self.query_one(HistoryTable).focus()
        self.reload()

    def on_resize(self) -> None:
        self.call_after_refresh(self._columns)

    def _columns(self) -> None:
        table = self.query_one(HistoryTable)
        self.query_one("#history-columns", Static).update(table.header_text())

    def reload(self) -> None:
        """Start again from the newest row with the current filters."""
        self._cursor = None
        table = self.query_one(HistoryTable)
        table.clear()
        table.fetching = True
        self._columns()
        self.fetch_page(self.filters, None)

    @work(exclusive=True, group="history-page", exit_on_error=False)
    async def fetch_page(self, filters: DeploymentFilters, cursor: str | None) -> None:
        page = await self.deck.client.deployments(filters, cursor=cursor, limit=PAGE_SIZE)
        if filters != self.filters:
            return  # the filter changed while this page was on its way
        self._cursor = page.next_cursor
        self.query_one(HistoryTable).extend(page.items, page.next_cursor is not None)
        # Loaded rows stay while the screen is open. Left in the collector's oldest
        # generation with the rest of the app (~125,000 objects), every full collection
        # walks them all: 60–85 ms, one every ~1.5 s of paging (the rows and the strips
        # drawn for each page push ~30,000 objects through), which made the page-down p99.
        # Frozen, a full collection walks only what was made since (`heap`).
        heap.freeze()

    def on_unmount(self) -> None:
        heap.release_later()  # frozen, this closed screen would never be collected

    def action_target(self) -> ActionTarget | None:
        """The focused row."""
        row = self.query_one(HistoryTable).current
        return None if row is None else row_target(row)

    @on(HistoryTable.NeedMore)
    def _more(self) -> None:
        if self._cursor is not None:
            self.fetch_page(self.filters, self._cursor)

    @on(HistoryTable.RowChosen)
    def _open(self, message: HistoryTable.RowChosen) -> None:
        self.deck.open_detail(message.event.deployment_id, message.event)

    @on(RowsArrived)
    def _live(self, message: RowsArrived) -> None:
        table = self.query_one(HistoryTable)
        for event in message.events:
            if matches(self.filters, event):
                table.insert_live(event)

    @on(ResyncRequested)
    def _resync(self) -> None:
        self.reload()

    def action_filter(self) -> None:
        self.query_one("#history-filter", Input).focus()

    def action_reload(self) -> None:
        self.reload()

    def action_logs(self) -> None:
        row = self.query_one(HistoryTable).current
        if row is not None:
            title = f"{row.service} → {row.environment} {version_text(row)}"
            self.deck.open_logs(row.deployment_id, title)

    @on(Input.Submitted, "#history-filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        try:
            if event.value != self._shown:
                self.filters = parse_filters(event.value)
                self._shown = shown_filters(self.filters)
        except FilterSyntaxError as exc:
            tell(self, "warning", str(exc), title="Filter not applied")
            return
        self.query_one(HistoryTable).focus()
        self.reload()

    def set_filters(self, filters: DeploymentFilters) -> None:
        """Show the history with other filters (from the palette)."""
        self.filters = filters
        self._shown = shown_filters(filters)
        self.query_one("#history-filter", Input).value = self._shown
        self.reload()
