"""`DeckHeader`: profile, engine, connection state, read-only mark, approvals waiting for
the user and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...client import ConnectionStatus, LinkState, Replica
from ..format import AWAITING_MARK, clock_time
from ..sanitize import sanitize

_STATE_STYLE = {
    LinkState.LIVE: "bold green",
    LinkState.CONNECTING: "yellow",
    LinkState.RECONNECTING: "bold yellow",
    LinkState.OFFLINE: "bold red",
    LinkState.CATCHING_UP: "bold yellow",
}


def connection_text(status: ConnectionStatus) -> str:
    """`live`, `catching up`, `reconnecting, attempt 3`, `offline since 10:14:02`…"""
    if status.state is LinkState.RECONNECTING:
        since = f" · offline since {clock_time(status.since)}" if status.since else ""
        return f"● reconnecting, attempt {status.attempt}{since}"
    if status.state is LinkState.OFFLINE:
        if status.detail:  # stopped for good (a refused key, an expired token): why, what to do
            return f"● offline — {sanitize(status.detail)}"
        since = f" since {clock_time(status.since)}" if status.since else ""
        return f"● offline{since}"
    return f"● {status.state.value}"


class DeckHeader(Widget):
    """The one-line header every screen shows."""

    DEFAULT_CSS = """
    DeckHeader { height: 1; background: $primary-background; color: $text; }
    """

    profile: reactive[str] = reactive("default")
    """The profile in use."""
    engine: reactive[str] = reactive("embedded")
    """`embedded` or the server URL."""
    replica: reactive[Replica | None] = reactive(None)
    """The server in use, when the profile names several (shown instead of `engine`)."""
    status: reactive[ConnectionStatus] = reactive(ConnectionStatus(LinkState.CONNECTING))
    """The live feed's state."""
    read_only: reactive[bool] = reactive(False)
    """Whether actions are unavailable."""
    screen_title: reactive[str] = reactive("Matrix")
    """The current screen's name."""
    now: reactive[datetime | None] = reactive(None)
    """The clock, updated every second."""
    approvals: reactive[int] = reactive(0)
    """Promotions awaiting this user's approval."""

    def __init__(self, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock

    def on_mount(self) -> None:
        self.now = self._clock()
        self.set_interval(1.0, self._tick)
        # Follow the app's state (the app owns the connection; every screen has a header).
        self._follow_app()
        for name in ("connection", "read_only", "approvals_waiting"):
            if hasattr(self.app, name):
                self.watch(self.app, name, lambda *_: self._follow_app(), init=False)

    def _follow_app(self) -> None:
        app = self.app
        self.profile = str(getattr(app, "profile", self.profile))
        client = getattr(app, "client", None)
        self.engine = str(getattr(client, "label", self.engine))
        self.status = getattr(app, "connection", self.status)
        # Where the feed is (the status says), else where the client's requests go.
        replica = self.status.replica or getattr(client, "replica", None)
        self.replica = replica if isinstance(replica, Replica) and replica.count > 1 else None
        self.read_only = bool(getattr(app, "read_only", self.read_only))
        self.approvals = int(getattr(app, "approvals_waiting", self.approvals))

    def _tick(self) -> None:
        self.now = self._clock()

    def render(self) -> Text:
        left = Text(no_wrap=True, overflow="ellipsis")
        left.append(" shipdeck ", style="bold reverse")
        left.append(f" {self.screen_title} ", style="bold")
        engine = sanitize(self.engine if self.replica is None else str(self.replica))
        profile = sanitize(self.profile)
        # `--url URL` names its profile after the URL: say it once.
        same = profile.rstrip("/") == engine.rstrip("/")
        left.append(f"· {engine} " if same else f"· {profile} · {engine} ")
        if self.read_only:
            left.append("· read-only ", style="bold")
        right = Text(no_wrap=True)
        if self.approvals:
            count = self.approvals
            waiting = f"{AWAITING_MARK} {count} approval{'s' if count != 1 else ''} waiting"
            right.append(waiting, style="bold yellow")
            right.append("  ")
        right.append(connection_text(self.status), style=_STATE_STYLE[self.status.state])
        if self.now is not None:
            right.append(f"  {clock_time(self.now)} ")
        room = self.size.width - right.cell_len
        left.truncate(max(0, room), overflow="ellipsis", pad=True)
        return left + right
