"""The Insights screen: the DORA keys and the charts behind them, for a window, live."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from ...client import NotOffered
from ...domain.analytics import WINDOW_DAYS, Insights, WindowName
from ..format import clock_time
from ..insight_scope import InsightScope, ScopeError, scope_of
from ..messages import ResyncRequested, RowsArrived
from ..notify import tell
from ..sanitize import sanitize
from ..widgets import insight_charts as charts
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ..widgets.filter_box import FilterBox
from ..widgets.insight_figures import window_text
from ..widgets.insight_panels import InsightChart, KpiCard
from ._deck import DeckScreen, key_bindings

WINDOWS: tuple[WindowName, ...] = ("7d", "14d", "30d")
REFRESH_GAP_S = 5.0
"""Live rows refetch the figures at most this often (a burst is one refetch)."""
ROLL_CHECK_S = 60.0
"""How often to look whether the hour turned (the window may have moved on)."""
NO_ANALYTICS = "No analytics here: {why}."
UNFILTERED = (
    "\nThis is not an empty window: the engine keeps no figures to show. The matrix, history "
    "and logs work as usual."
)
FILTERED = "\nWith a filter: / then enter on an empty line counts every service."
PLACEHOLDER = "service:NAME env:NAME ns:NAME, or a service — enter applies, empty: all"
HELP_NOTE = (
    "The engine's figures (/api/analytics/*), over whole UTC days up to today: today's rows "
    "count from tomorrow. Opened from the matrix, the service its / filter matches, if one."
)
KEYS = (
    ("Frequency", "frequency", True),
    ("Lead time", "lead-time", False),
    ("Failure rate", "failure-rate", False),
    ("Restore time", "restore", False),
)
"""(title, id suffix, whether a rise is better) of the four DORA key cards."""


class InsightsScreen(DeckScreen):
    """The four keys first, then per-day bars, durations, funnel, heatmap, people, incidents."""

    AUTO_FOCUS = "#insights-body"
    HELP_NOTE = HELP_NOTE
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    """Classes of the screen by width: at 120 columns and more the charts go in two columns."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *key_bindings(
            "insights",
            ("w", "next_window", "Window", "window", "Next window: 7, 14 or 30 days"),
            (
                "/",
                "filter",
                "Filter",
                "filter",
                "Count only service:NAME env:NAME ns:NAME (a bare word picks a service); "
                "empty: every service",
            ),
            ("ctrl+r", "reload", "Reload", "reload", "Read the figures again"),
            ("1", "window('7d')", "7 days", "window-7d", "The last 7 days"),
            ("2", "window('14d')", "14 days", "window-14d", "The last 14 days"),
            ("3", "window('30d')", "30 days", "window-30d", "The last 30 days"),
            ("escape", "close_filter", "Close filter", "close-filter", "Leave the filter line"),
            hidden=("window-7d", "window-14d", "window-30d", "close-filter"),
        ),
    ]

    def __init__(
        self,
        scope: InsightScope | None = None,
        window: WindowName = "7d",
        note: str | None = None,
    ) -> None:
        """The screen for `scope` over `window`; `note` says why the scope is not what the
        matrix's filter asked for."""
        super().__init__()
        self.scope = scope or InsightScope()
        self.window: WindowName = window
        self.note = note
        self.insights: Insights | None = None
        """The figures shown (`None` before the first answer, or when there are none)."""
        self.absent: str | None = None
        """Why this engine has no analytics (`NotOffered`), if it has none."""
        self.fetches = 0
        """Requests made (live rows must not each make one)."""
        self._last_fetch = -REFRESH_GAP_S
        self._due: Timer | None = None
        self._fetched_hour: int | None = None
        self._shown = sanitize(self.scope.line)
        """The filter line as displayed (outside names sanitised); submitted unchanged, it
        keeps the scope as it is (the raw names)."""

    def compose(self) -> ComposeResult:
        yield DeckHeader(self.deck.clock)
        yield Static(id="insights-scope")
        yield FilterBox(self._shown, id="insights-filter", placeholder=PLACEHOLDER)
        with VerticalScroll(id="insights-body"):
            yield Static(id="insights-absent")
            with Horizontal(id="insights-keys"):
                for title, suffix, better_up in KEYS:
                    yield KpiCard(title, better_up=better_up, id=f"kpi-{suffix}")
            with Horizontal(id="insights-columns"):
                with Vertical(classes="insights-column"):
                    yield InsightChart("Deployments a day", charts.daily, id="chart-daily")
                    yield InsightChart("Durations", charts.durations, id="chart-durations")
                    yield InsightChart("Rows by status", charts.statuses, id="chart-statuses")
                with Vertical(id="insights-right", classes="insights-column"):
                    yield InsightChart("Incidents", charts.incidents, id="chart-incidents")
                    yield InsightChart("Promotion funnel", charts.funnel, id="chart-funnel")
                    yield InsightChart("When (weekday × hour)", charts.heatmap, id="chart-heatmap")
                    yield InsightChart("Top deployers", charts.deployers, id="chart-deployers")
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "Insights"
        self._say(f"Reading the figures of {WINDOW_DAYS[self.window]} days…")
        self.set_interval(ROLL_CHECK_S, self._roll)
        self.fetch()

    # -- data --------------------------------------------------------------------------

    @work(exclusive=True, group="insights", exit_on_error=False)
    async def fetch(self) -> None:
        """Read every figure of the window and scope (one request)."""
        window, scope = self.window, self.scope
        self.fetches += 1
        self._last_fetch = time.monotonic()
        self._fetched_hour = self._hour()
        try:
            found = await self.deck.client.insights(scope.query(window))
        except NotOffered as absent:
            self._no_analytics(str(absent))
            return
        if (window, scope) == (self.window, self.scope):
            self._show(found)

    def _show(self, found: Insights) -> None:
        self.insights, self.absent = found, None
        self.query_one("#insights-absent", Static).display = False
        self.query_one("#insights-keys").display = True
        self.query_one("#insights-columns").display = True
        dora, stages = found.dora, found.promotion_funnel.stages
        last = f", to {sanitize(stages[-1].environment)}" if stages else ""
        self.query_one("#kpi-frequency", KpiCard).show(dora.deployment_frequency)
        self.query_one("#kpi-lead-time", KpiCard).show(dora.lead_time, f"median{last}")
        self.query_one("#kpi-failure-rate", KpiCard).show(dora.change_failure_rate)
        self.query_one("#kpi-restore", KpiCard).show(dora.time_to_restore, "median")
        for chart in self.query(InsightChart):
            chart.show(found)
        self.query_one("#chart-incidents").border_title = charts.incidents_title(found)
        self._say(f"updated {clock_time(self.deck.clock())}")

    def _no_analytics(self, why: str) -> None:
        """Say that this engine has no analytics: never charts that look like no deployments."""
        self.insights, self.absent = None, why
        self.query_one("#insights-keys").display = False
        self.query_one("#insights-columns").display = False
        text = NO_ANALYTICS.format(why=sanitize(why).rstrip("."))
        text += FILTERED if self.scope.line else UNFILTERED
        absent = self.query_one("#insights-absent", Static)
        absent.update(Text(text))
        absent.display = True
        self._say("no analytics")

    def _say(self, status: str) -> None:
        """The line above the figures: window, scope, and how fresh they are."""
        line = Text(no_wrap=True, overflow="ellipsis")
        window = self.insights.window if self.insights is not None else None
        line.append(
            window_text(window) if window else f"{WINDOW_DAYS[self.window]} days", style="bold"
        )
        line.append(f" · {self.scope.describe()}")
        if self.note:
            line.append(f" ({sanitize(self.note)})", style="yellow")
        line.append(f" · {status}", style="dim")
        self.query_one("#insights-scope", Static).update(line)

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        """A failed read: this line says the figures shown are not fresh (the app tells the
        error itself: `DeckScreen` hands it over)."""
        if event.worker.group == "insights" and event.state is WorkerState.ERROR:
            self._say("not read: ctrl+r tries again")

    # -- live --------------------------------------------------------------------------

    @on(RowsArrived)
    def _rows(self, message: RowsArrived) -> None:
        if self.absent is None and any(self.scope.covers(e) for e in message.events):
            self._soon()

    @on(ResyncRequested)
    def _resync(self) -> None:
        self.fetch()

    def _soon(self) -> None:
        """Refetch once `REFRESH_GAP_S` has passed since the last request (one timer at a
        time: rows arriving meanwhile join it)."""
        if self._due is not None:
            return
        # Never 0: Textual's timer divides by its delay.
        wait = max(0.05, self._last_fetch + REFRESH_GAP_S - time.monotonic())
        self._due = self.set_timer(wait, self._refetch)

    def _refetch(self) -> None:
        self._due = None
        self.fetch()

    def _hour(self) -> int:
        return int(self.deck.clock().timestamp() // 3600)

    def _roll(self) -> None:
        """The window ends at the start of the day (or hour): a new hour may move it."""
        if self.absent is None and self._fetched_hour != self._hour():
            self.fetch()

    # -- keys --------------------------------------------------------------------------

    def action_next_window(self) -> None:
        self.action_window(WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)])

    def action_window(self, window: WindowName) -> None:
        """Count over `window` (7d, 14d or 30d)."""
        if window not in WINDOWS:
            return
        self.window = window
        self._say(f"reading {WINDOW_DAYS[window]} days…")
        self.fetch()

    def set_window(self, window: WindowName) -> None:
        """Count over `window` (from the palette)."""
        self.action_window(window)

    def action_reload(self) -> None:
        self.fetch()

    def action_filter(self) -> None:
        box = self.query_one("#insights-filter", Input)
        box.display = True
        box.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`esc` leaves the filter line while it has the focus; otherwise it goes back."""
        if action == "close_filter":
            return self.focused is self.query_one("#insights-filter", Input)
        return True

    def action_close_filter(self) -> None:
        box = self.query_one("#insights-filter", Input)
        box.value = self._shown
        box.display = False
        self.query_one("#insights-body").focus()

    @on(Input.Submitted, "#insights-filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        if event.value != self._shown:
            try:
                scope = scope_of(event.value, self.deck.matrix.services())
            except ScopeError as exc:
                tell(self, "warning", str(exc), title="Filter not applied")
                return
            self.scope, self.note = scope, None
            self._shown = sanitize(scope.line)
            self.query_one("#insights-body").scroll_home(animate=False)  # the keys first
        self.action_close_filter()
        self._say("reading…")
        self.fetch()
