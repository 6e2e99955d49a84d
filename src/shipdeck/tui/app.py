"""`ShipdeckApp`: the Textual application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from ..client import (
    Capabilities,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    DeploymentFilters,
    EngineClient,
    EngineError,
    EnvironmentChanged,
    LinkState,
    PromotionChanged,
    ResyncNeeded,
)
from ..domain import DeploymentEvent, Status, utc_now
from ..domain.analytics import DEFAULT_WINDOW, WindowName
from ..domain.promotions import PromotionView
from . import heap
from .app_actions import ActionsMixin
from .app_governance import GovernanceMixin
from .app_sync import RELOAD_RETRY_S, SyncMixin
from .commands import ShipdeckCommands
from .config import TuiConfig
from .context import SortOrder
from .format import version_text
from .governance import Governance
from .hangup import exit_on_hangup
from .insight_scope import from_matrix
from .messages import (
    MatrixOrdered,
    ResyncRequested,
    RowsArrived,
    RowsLoaded,
    broadcast,
)
from .model import CellChange, MatrixModel
from .notify import tell
from .pacing import InputFirst
from .paths import stylesheets
from .sanitize import sanitize
from .screens.approvals import ApprovalsScreen
from .screens.detail import DetailScreen
from .screens.help import HelpScreen
from .screens.history import HistoryScreen
from .screens.insights import InsightsScreen
from .screens.logs import LogsScreen
from .screens.matrix import MatrixScreen
from .screens.promotion_detail import PromotionDetailScreen

FIRST = 120
"""Services loaded with the index at start: more than a tall terminal's screenful."""

ClientFactory = Callable[[str], EngineClient]
ASKING = "still asking the engine what you may do"


class ShipdeckApp(SyncMixin, ActionsMixin, GovernanceMixin, InputFirst):
    """The dashboard: a live matrix, history and details over one `EngineClient`.

    Screens see it as a `context.Deck`; they change what it keeps only by posting
    `ActionRequested` or `DecisionRequested` (handled by the two mixins).
    """

    TITLE = "shipdeck"
    CSS_PATH = stylesheets()  # type: ignore[assignment]  # list[Path] is accepted
    COMMANDS: ClassVar = App.COMMANDS | {ShipdeckCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Keys of this screen"),
        Binding(
            "colon",
            "command_palette",
            "Commands",
            id="app.palette",
            tooltip="Screens, filters, profiles (also ctrl+p)",
        ),
        Binding(
            "q,escape", "go_back", "Back", id="app.back", tooltip="Back to the previous screen"
        ),
        Binding("Q", "quit", "Quit", id="app.quit", tooltip="Quit shipdeck"),
        Binding(
            "ctrl+r",
            "reload",
            "Reload",
            show=False,
            id="app.reload",
            tooltip="Fetch everything shown again from the engine",
        ),
    ]

    connection: reactive[ConnectionStatus] = reactive(ConnectionStatus(LinkState.CONNECTING))
    """State of the live feed (the header shows it)."""
    read_only: reactive[bool] = reactive(False)
    """True with `--read-only` or when the engine offers no actions."""

    def __init__(
        self,
        client: EngineClient,
        *,
        profile: str = "default",
        tui_config: TuiConfig | None = None,
        read_only: bool = False,
        clock: Callable[[], datetime] = utc_now,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__()
        # What is imported by now (Textual, pydantic's models, ours) lives as long as the
        # process: out of the collector's full passes, which would otherwise walk it during
        # the first load (50–80 ms at 10,000 services, `heap`).
        heap.freeze()
        self.client = client
        self.profile = profile
        self.tui_config = tui_config or TuiConfig()
        self.force_read_only = read_only
        self.clock = clock
        self.client_factory = client_factory
        self.matrix = MatrixModel()
        self.capabilities = Capabilities(reason=ASKING)
        """What the engine lets this user do (action keys show only what it allows)."""
        self.governance = Governance()
        """What awaits this user's approval; environments' locks and freezes."""
        self._pending: list[DeploymentArrived] = []
        self._loaded = False
        self._learned = False
        """Whether the engine's answers at start (what the user may do, the matrix) came."""
        self._feed_status = ConnectionStatus(LinkState.CONNECTING)
        """The feed's own state (`connection` says `catching up` over `live` while a
        refetch the feed asked for runs)."""
        self._catching_up = False
        self._reloading: list[DeploymentArrived] | None = None
        """Rows that arrived while the matrix was being refetched (`None`: no refetch)."""
        self._asking: set[str] = set()
        """Services whose cells were asked for and have not come yet."""
        if self.tui_config.keymap:
            self.set_keymap(self.tui_config.keymap)
        if self.tui_config.theme:
            self.theme = self.tui_config.theme

    def on_mount(self) -> None:
        if not self.is_headless:
            exit_on_hangup()
        self.push_screen(MatrixScreen())
        self.connect()

    async def on_unmount(self) -> None:
        await self.client.close()

    # -- the engine ----------------------------------------------------------------------

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        """Start the client, learn what the user may do, load the matrix, follow the feed."""
        await self.client.start()
        self.follow_feed()
        await self._learn()

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def learn_again(self) -> None:
        """What `connect` could not learn because the engine did not answer at start: the
        feed, which kept trying, has reached it since."""
        await self._learn()

    def _learn_if_stopped(self) -> None:
        """The feed is live but the start never learnt what it asked: ask again, unless the
        start is still asking (its worker running)."""
        if not any(w.group == "connect" and w.is_running for w in self.workers):
            self.learn_again()

    async def _learn(self) -> None:
        """What the user may do, the matrix, the approvals."""
        caps = await self.client.capabilities()
        self.capabilities = caps
        self.read_only = self.force_read_only or caps.read_only
        try:
            await self._load_matrix()
        finally:
            # The footer's keys follow what the user may do: after the rows, not before (its
            # new keys are a recompose, 20–40 ms of the UI thread the first paint waited for).
            self.refresh_bindings()
        self.refresh_governance()
        self._learned = True

    async def _load_matrix(self) -> None:
        """The index, then the rows on screen, then the swap: no frame shows empty rows."""
        screen = self._matrix_screen_or_none()
        sort = "change" if screen is not None and screen.sort_by == "change" else "name"
        self._reloading = []
        index = await self.client.matrix_index(sort)
        fresh = MatrixModel.from_index(index)
        if sort == "change":
            fresh.set_order_by_change(index)
        wanted = (screen.window_of(fresh) if screen is not None else []) or fresh.names[:FIRST]
        missing = fresh.missing(wanted)
        if missing:  # a new model has no live rows yet: nothing of `recent` is missing
            fresh.load(await self.client.matrix_window(missing), missing)
        # Rows that reached the old model after the index was read are newer than it (those
        # the window already has fold in again, harmlessly).
        for seq, event in self.matrix.recent:
            if seq > index.seq:
                fresh.apply(event, seq)
        # Rows without a position (a foreign server's) that came during the refetch may be
        # newer than what it sent: fold them in again (one it had already folds harmlessly).
        for item in self._reloading or ():
            if item.seq < 0:
                fresh.apply(item.event, item.seq)
        self._reloading = None
        fresh.keep_pending(self.matrix)
        self.matrix = fresh
        self._asking.clear()
        self._loaded = True
        self._flush_rows()
        broadcast(self, ResyncRequested())
        # What is loaded stays: a collector pass need not walk it again (cursor-move tails).
        heap.freeze()

    def load_services(self, services: list[str]) -> None:
        """Fetch the cells of `services` (scrolled into view), unless already on their way."""
        wanted = [name for name in self.matrix.missing(services) if name not in self._asking]
        if wanted and self._loaded:
            self._asking.update(wanted)
            self._load_window(self.matrix, wanted)

    @work(group="window", exit_on_error=False)
    async def _load_window(self, model: MatrixModel, services: list[str]) -> None:
        try:
            window = await self.client.matrix_window(services)
        finally:
            self._asking.difference_update(services)
        if model is not self.matrix:
            return  # replaced meanwhile (a resync): the new model asks for itself
        if not model.load(window, services):
            self.load_services(services)  # rows after it were already dropped: again
            return
        heap.freeze()  # the rows stay until dropped (freed then by reference counting)
        broadcast(self, RowsLoaded(services))

    def order_by_change(self) -> None:
        """Ask the engine for the services by last change (once per model)."""
        if self.matrix.by_change is None and self._loaded:
            self._load_order(self.matrix)

    @work(exclusive=True, group="order", exit_on_error=False)
    async def _load_order(self, model: MatrixModel) -> None:
        index = await self.client.matrix_index("change")
        if model is self.matrix:
            model.set_order_by_change(index)
            broadcast(self, MatrixOrdered())

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def follow_feed(self) -> None:
        """One long-lived worker: rows are batched, so a burst costs one repaint."""
        async for item in self.client.feed():
            if isinstance(item, DeploymentArrived):
                if not self._pending:
                    self.call_later(self._flush_rows)
                self._pending.append(item)
            elif isinstance(item, ResyncNeeded):
                self._catch_up(True)
                self.reload_matrix()
                self.refresh_governance()
            elif isinstance(item, PromotionChanged | EnvironmentChanged):
                self.governance_arrived(item)
            elif isinstance(item, ConnectionChanged):
                self.feed_changed(item.status)
                if item.status.state is LinkState.LIVE and not self._learned:
                    self._learn_if_stopped()

    def _flush_rows(self) -> None:
        if not self._loaded or not self._pending:
            return
        arrived, self._pending = self._pending, []
        if self._reloading is not None:
            self._reloading.extend(arrived)
        for item in arrived:
            self._maybe_notify(self.matrix.apply(item.event, item.seq))
        broadcast(self, RowsArrived([item.event for item in arrived]))

    def _maybe_notify(self, change: CellChange) -> None:
        if change.after is not Status.FAILURE or change.event.status is not Status.FAILURE:
            return
        wanted = self.tui_config.notify.failures
        envs = self.matrix.environments
        if wanted == "none" or (wanted == "last" and (not envs or change.environment != envs[-1])):
            return
        if isinstance(wanted, list) and change.environment not in wanted:
            return
        version = version_text(change.event)
        tell(
            self,
            "error",
            f"{sanitize(change.service)} {version} failed in {sanitize(change.environment)}",
            title="Deployment failed",
        )

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors become messages a person can act on."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, EngineError):
            text = str(error)
        elif isinstance(error, TimeoutError):
            text = "the engine did not answer in time"
        else:
            text = f"unexpected error: {type(error).__name__}: {error}"
        if event.worker.group == "connect":
            self.connection = ConnectionStatus(LinkState.OFFLINE, since=self.clock(), detail=text)
        elif event.worker.group == "reload":
            self._reloading = None
            if self._catching_up:  # what is shown is not the server's yet: try again soon
                self.set_timer(RELOAD_RETRY_S, self._retry_reload)
        tell(self, "error", text, title="shipdeck")

    # -- navigation ----------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`go_back` is hidden on the matrix: there is nothing under it."""
        return not (action == "go_back" and len(self.screen_stack) <= 2)

    def pop_screen(self) -> AwaitComplete:
        """Close the top screen; its objects go back to the cycle collector (`heap`)."""
        closing = super().pop_screen()
        heap.release_later()
        return closing

    def action_go_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def open_matrix(self) -> None:
        """Back to the matrix (the bottom of the stack)."""
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def open_history(self, filters: DeploymentFilters) -> None:
        """The history with these filters."""
        if isinstance(self.screen, HistoryScreen):
            self.screen.set_filters(filters)
        else:
            self.push_screen(HistoryScreen(filters))

    def open_detail(self, deployment_id: str, row: DeploymentEvent | None = None) -> None:
        """One logical deployment."""
        self.push_screen(DetailScreen(deployment_id, row))

    def open_approvals(self) -> None:
        """The approvals screen (back to the open one, if any)."""
        while any(isinstance(s, ApprovalsScreen) for s in self.screen_stack[2:]):
            if isinstance(self.screen, ApprovalsScreen):
                return
            self.pop_screen()
        self.push_screen(ApprovalsScreen())

    def open_insights(self, window: WindowName | None = None) -> None:
        """The insights screen (back to the open one, if any); a new one counts the service
        the matrix's `/` filter matches, when it matches one."""
        while any(isinstance(s, InsightsScreen) for s in self.screen_stack[2:]):
            if isinstance(self.screen, InsightsScreen):
                if window is not None:
                    self.screen.set_window(window)
                return
            self.pop_screen()
        matrix = self._matrix_screen_or_none()
        scope, note = from_matrix(matrix.filter_text if matrix else "", self.matrix.services())
        self.push_screen(InsightsScreen(scope, window or DEFAULT_WINDOW, note))

    def open_promotion(self, promotion_id: str, promotion: PromotionView | None = None) -> None:
        """One promotion: what it changes, its policy and approvals."""
        self.push_screen(PromotionDetailScreen(promotion_id, promotion))

    def open_logs(self, deployment_id: str, title: str | None = None) -> None:
        """The logs screen (the open one, if any) with a pane following `deployment_id`."""
        self.show_logs().add_pane(deployment_id, title)

    def show_logs(self) -> LogsScreen:
        """Back to the open logs screen (its panes kept), or a new one."""
        screens = [s for s in self.screen_stack if isinstance(s, LogsScreen)]
        if screens:
            while self.screen is not screens[0]:
                self.pop_screen()
            return screens[0]
        screen = LogsScreen()
        self.push_screen(screen)
        return screen

    def _matrix_screen_or_none(self) -> MatrixScreen | None:
        screen = self.screen_stack[1] if len(self.screen_stack) > 1 else None
        return screen if isinstance(screen, MatrixScreen) else None

    def _matrix_screen(self) -> MatrixScreen:
        screen = self.screen_stack[1]
        assert isinstance(screen, MatrixScreen)
        return screen

    def sort_matrix(self, order: SortOrder) -> None:
        """Sort the matrix by name or by last change."""
        self.open_matrix()
        self._matrix_screen().sort_by = order

    def filter_matrix(self, text: str) -> None:
        """Filter the matrix's services."""
        self.open_matrix()
        self._matrix_screen().filter_text = text

    def switch_profile(self, name: str) -> None:
        """Reconnect to another profile's engine."""
        if self.client_factory is None:
            tell(self, "warning", "profiles cannot be switched here")
            return
        self._switch(name)

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def _switch(self, name: str) -> None:
        assert self.client_factory is not None
        new_client = self.client_factory(name)
        self.workers.cancel_group(self, "feed")
        await self.client.close()
        self.client, self.profile = new_client, name
        self._loaded = False
        self.matrix = MatrixModel()
        self.capabilities = Capabilities(reason=ASKING)
        self.governance = Governance()
        self.approvals_waiting = 0
        self.open_matrix()
        self._feed_status, self._catching_up = ConnectionStatus(LinkState.CONNECTING), False
        self.connection = ConnectionStatus(LinkState.CONNECTING)
        self.connect()
        tell(self, "info", f"Profile {sanitize(name)}: {sanitize(new_client.label)}")
