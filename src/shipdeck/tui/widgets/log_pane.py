"""`LogPane`: a title bar and a `LogView` following one deployment's log.

The pane owns the subscription: one long-lived worker consumes `EngineClient.follow_logs`
and appends each batch to the view (the client batches bursts, and the view repaints at most
once a frame). The client reconnects and resumes on its own; the pane shows the link's state
and, should the client ever repeat a line, the view drops it (seqs only grow). Lines the view
dropped from memory are fetched again with `EngineClient.logs` when they come into view.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from ...client import (
    ConnectionStatus,
    DeploymentFilters,
    EngineClient,
    EngineError,
    LinkState,
    LogLinesArrived,
    LogLinkChanged,
    LogStreamEnded,
)
from ...domain import LogLine
from ..format import clock_time, version_text
from ..sanitize import sanitize
from .log_view import LogView

PAGE = 500
"""Lines per `logs` request (the engine's largest page)."""


def link_text(status: ConnectionStatus, ended: str | None, *, roomy: bool) -> tuple[str, str]:
    """What the title bar says about the stream, and its style.

    Why the stream ended, or stopped, is the server's or the client's text: sanitised here,
    where it meets the screen, whoever set it.
    """
    if ended is not None:
        return (f"■ ended: {sanitize(ended)}" if roomy else "■ ended"), "bold"
    if status.state is LinkState.RECONNECTING:
        since = f" since {clock_time(status.since)}" if status.since else ""
        return f"● reconnecting, attempt {status.attempt}{since}", "bold yellow"
    if status.state is LinkState.OFFLINE:  # stopped for good: why, in the client's words
        return f"■ {sanitize(status.detail) or 'the stream stopped'}", "bold red"
    if status.state is LinkState.CONNECTING:
        return "● connecting", "yellow"
    return "● live", "bold green"


def _no_lines(detail: str) -> str:
    """What an empty pane says once its stream stopped for good (never `waiting…`)."""
    return f"no lines: {sanitize(detail)}" if detail else "no lines: the stream stopped"


class PaneTitle(Widget):
    """One line: which deployment, the stream's link, following or paused."""

    DEFAULT_CSS = """
    PaneTitle { height: 1; background: $panel; color: $text; }
    PaneTitle.-active { background: $accent 40%; }
    """

    label: reactive[str] = reactive("")
    """Service → environment and version (sanitised), when known."""
    link: reactive[ConnectionStatus] = reactive(ConnectionStatus(LinkState.CONNECTING))
    """The log stream's connection."""
    ended: reactive[str | None] = reactive(None)
    """Why the stream ended, once it has."""
    follow_state: reactive[tuple[bool, int, int]] = reactive((True, 0, 0))
    """(following, lines since paused, lines in the log)."""

    def __init__(self, deployment_id: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.deployment_id = deployment_id

    def render(self) -> Text:
        left = Text(no_wrap=True, overflow="ellipsis")
        if self.label:
            left.append(f" {self.label} ", style="bold")
        left.append(f"· {sanitize(self.deployment_id)} ")
        width = self.size.width
        right = self._state(roomy=True)
        if left.cell_len + right.cell_len > width:
            right = self._state(roomy=False)
        left.truncate(max(0, width - right.cell_len), overflow="ellipsis", pad=True)
        return left + right

    def _state(self, *, roomy: bool) -> Text:
        """Following or paused, and the link; in words when `roomy`, else short."""
        right = Text(no_wrap=True)
        following, new, total = self.follow_state
        if not following:
            paused = f"‖ paused — {new:,} new lines" if roomy else f"‖ paused +{new:,}"
            right.append(paused, style="bold reverse")
            right.append("  ")
        elif self.ended is not None or self.link.state is LinkState.OFFLINE:
            right.append(f"{total:,} lines  ")  # nothing more will come: not "following"
        else:
            right.append(f"▼ following · {total:,} lines  " if roomy else f"▼ {total:,}  ")
        text, style = link_text(self.link, self.ended, roomy=roomy)
        right.append(f"{text} ", style=style)
        return right


class LogPane(Vertical):
    """One deployment's log, followed live."""

    DEFAULT_CSS = """
    LogPane { height: 1fr; width: 1fr; }
    LogPane > LogView { height: 1fr; }
    """

    def __init__(
        self,
        client: EngineClient,
        deployment_id: str,
        title: str | None = None,
        *,
        max_lines: int | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.client = client
        self.deployment_id = deployment_id
        self._title = title
        self.title_bar = PaneTitle(deployment_id)
        """The pane's title bar."""
        self.view = LogView(max_lines)
        """The pane's log view."""

    def compose(self) -> ComposeResult:
        yield self.title_bar
        yield self.view

    def on_mount(self) -> None:
        if self._title is not None:
            self.title_bar.label = sanitize(self._title)
        else:
            self.fetch_title()
        self.follow()

    # -- workers -------------------------------------------------------------------------

    @work(exclusive=True, group="log-follow", exit_on_error=False)
    async def follow(self) -> None:
        """Consume the stream until it ends: batches go to the view, link changes to the title."""
        view, title = self.view, self.title_bar
        stream = self.client.follow_logs(self.deployment_id, after=view.last_seq)
        try:
            async for item in stream:
                if isinstance(item, LogLinesArrived):
                    view.append(item.lines)
                    # A source faster than the screen must not starve it of frames.
                    await asyncio.sleep(0)
                elif isinstance(item, LogLinkChanged):
                    title.link = item.status
                    if item.status.state is LinkState.OFFLINE:
                        view.empty_text = _no_lines(item.status.detail)
                elif isinstance(item, LogStreamEnded):
                    title.ended = sanitize(item.reason)
                    view.empty_text = "no lines were logged"
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if title.ended is None and title.link.state is not LinkState.OFFLINE:
            title.ended = "the stream closed"

    @work(exclusive=True, group="log-fetch", exit_on_error=False)
    async def fetch(self, first: int, last: int) -> None:
        """Fetch lines `first..last` again, page by page, for the view."""
        lines: list[LogLine] = []
        after = first - 1
        try:
            while after < last:
                page = await self.client.logs(
                    self.deployment_id, after=after, limit=min(PAGE, last - after)
                )
                lines.extend(page.items)
                if not page.items or page.next_after is None:
                    break
                after = page.items[-1].seq
        except EngineError:
            self.view.fetch_failed()
            raise
        self.view.put_fetched(first, last, lines)

    @work(exclusive=True, group="log-title", exit_on_error=False)
    async def fetch_title(self) -> None:
        """Name the deployment by its newest row: service → environment, version."""
        page = await self.client.deployments(
            DeploymentFilters(deployment_id=self.deployment_id), limit=1
        )
        if page.items:
            row = page.items[0]
            version = version_text(row)
            label = f"{sanitize(row.service)} → {sanitize(row.environment)} {version}"
            self.title_bar.label = label

    def on_descendant_focus(self) -> None:
        self.title_bar.set_class(True, "-active")

    def on_descendant_blur(self) -> None:
        self.title_bar.set_class(False, "-active")

    @on(LogView.LinesWanted)
    def _wanted(self, message: LogView.LinesWanted) -> None:
        message.stop()
        self.fetch(message.first, message.last)

    @on(LogView.StatusChanged)
    def _status(self, message: LogView.StatusChanged) -> None:
        message.stop()
        self.title_bar.follow_state = (message.following, message.new_lines, message.total)

    @on(Worker.StateChanged)
    def _follow_failed(self, event: Worker.StateChanged) -> None:
        # The app turns the error into a notification; the title says the stream stopped.
        if event.worker.group == "log-follow" and event.state is WorkerState.ERROR:
            error = event.worker.error
            detail = str(error) if isinstance(error, EngineError) else type(error).__name__
            self.title_bar.link = ConnectionStatus(LinkState.OFFLINE, detail=sanitize(detail))
            self.view.empty_text = _no_lines(detail)
