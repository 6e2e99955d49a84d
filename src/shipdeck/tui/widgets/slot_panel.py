"""`SlotPanel`: everything about the focused slot — current, next, last successful."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from ...domain import DeploymentEvent
from ...domain.promotions import EnvironmentView
from ..format import (
    FREEZE_MARK,
    LOCK_MARK,
    NO_VERSION,
    SENT_MARK,
    STATUS_STYLES,
    age,
    status_label,
    timestamp,
    version_text,
)
from ..model import Cell, PendingAction, last_successful, previous_failed, upcoming
from ..sanitize import sanitize
from .matrix_columns import freeze_ahead

_LABEL_WIDTH = 16
NO_SERVICES = "No services yet: waiting for the first deployment to be reported."
_FRAME_LINES = 1
"""The panel's border-top: its height is its text's lines plus this."""


def describe(label: str, event: DeploymentEvent, now: datetime) -> Text:
    """Two lines about one row: what and when, then where it came from."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(label.ljust(_LABEL_WIDTH), style="bold")
    text.append(
        status_label(event.status, sanitize(event.phase) or None), style=STATUS_STYLES[event.status]
    )
    text.append(f"  {version_text(event)}", style="bold")
    if not event.version:
        text.append(f" ({NO_VERSION})", style="dim")
    if event.actor:
        text.append(f"  by {sanitize(event.actor)}")
    text.append(f"  {timestamp(event.happened_at)} ({age(event.happened_at, now)} ago)")
    details = [
        f"sha {sanitize(event.sha)}" if event.sha else "",
        sanitize(event.ref) if event.ref else "",
        f"run #{sanitize(event.run_number)}" if event.run_number else "",
        sanitize(event.run_url) if event.run_url else "",
        f"via {sanitize(event.progress_reporter)}" if event.progress_reporter else "",
        f"id {sanitize(event.deployment_id)}",
    ]
    text.append("\n" + " " * _LABEL_WIDTH)
    text.append(" · ".join(d for d in details if d), style="dim")
    if event.message:
        text.append("\n" + " " * _LABEL_WIDTH + sanitize(event.message), style="italic")
    return text


def environment_notes(state: EnvironmentView | None, now: datetime) -> list[Text]:
    """A line for the environment's lock and one for its freeze window (in force, or
    starting within a day), if any."""
    if state is None:
        return []
    notes: list[Text] = []
    name = sanitize(state.environment)
    if state.lock is not None:
        lock = state.lock
        note = Text(f"{LOCK_MARK} {name} locked", style="bold red")
        note.append(f" by {sanitize(lock.by)} {age(lock.at, now)} ago: ", style="")
        note.append(sanitize(lock.reason), style="italic")
        note.append(" · every action here is refused until it is unlocked", style="dim")
        notes.append(note)
    if state.frozen is not None:
        note = Text(f"{FREEZE_MARK} {name} frozen", style="bold cyan")
        note.append(f": {sanitize(state.frozen)}", style="")
        note.append(" · deploys, promotions and retries are refused", style="dim")
        notes.append(note)
    ahead = freeze_ahead(state, now)
    if ahead is not None:
        window, start = ahead
        note = Text(f"{FREEZE_MARK} {name} freezes in {age(now, start)}", style="cyan")
        note.append(f": {sanitize(window.describe())}", style="")
        note.append(" · from then on deploys, promotions and retries are refused", style="dim")
        notes.append(note)
    return notes


class SlotPanel(Static):
    """The detail panel under the matrix."""

    DEFAULT_CSS = """
    SlotPanel {
        height: auto; max-height: 9; border-top: solid $panel-lighten-2; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self._shown: Text | None = None
        self._tallest = 0
        """Lines of the tallest slot shown since the last resize: the panel keeps them."""

    def show(
        self,
        service: str | None,
        environment: str | None,
        cell: Cell | None,
        sent: PendingAction | None = None,
        state: EnvironmentView | None = None,
        empty: Text | None = None,
    ) -> None:
        """Describe one slot (or say that nothing was deployed there), any action sent
        to it that the engine has not confirmed yet, and its environment's lock or freeze.
        With no slot to show, `empty` says why (default: no services were reported yet)."""
        title = Text(no_wrap=True, overflow="ellipsis")
        if service is None or environment is None:
            self._show(empty or Text(NO_SERVICES))
            return
        title.append(f"{sanitize(service)} → {sanitize(environment)}", style="bold underline")
        parts = [title, *environment_notes(state, self._clock())]
        if sent is not None:
            version = f" {sanitize(sent.version)}" if sent.version else ""
            parts.append(
                Text(
                    f"{SENT_MARK} {sent.action}{version} sent: waiting for the engine to confirm",
                    style="bold",
                )
            )
        now = self._clock()
        if cell is None or (cell.current is None and upcoming(cell) is None):
            parts.append(Text("Never deployed here."))
        else:
            if cell.current is not None:
                label = "current" + (" (prev ✗)" if previous_failed(cell) else "")
                parts.append(describe(label, cell.current.ref, now))
            nxt = upcoming(cell)
            if nxt is not None:
                parts.append(describe("next", nxt, now))
            last = last_successful(cell)
            if last is not None:
                parts.append(describe("last successful", last, now))
        text = Text("\n").join(parts)
        text.no_wrap, text.overflow = True, "ellipsis"
        self._show(text)

    def _show(self, text: Text) -> None:
        # Live rows re-show the panel many times a second, mostly unchanged, and every cursor
        # move shows another slot. A relayout reflows the whole screen (~20 ms at 160×48, the
        # cursor's frame budget is 16.7), so the panel only grows: it keeps the height of its
        # tallest slot so far (then the matrix above stops jumping as the cursor moves too)
        # and asks for a layout only when a slot needs more lines (`forget_height` on a resize).
        shown, self._shown = self._shown, text
        if shown is not None and shown == text and shown.no_wrap == text.no_wrap:
            return
        lines = text.plain.count("\n") + 1
        if lines > self._tallest or not text.no_wrap:
            self._tallest = max(self._tallest, lines)
            self.styles.min_height = self._tallest + _FRAME_LINES
            self.update(text, layout=True)
            return
        self.update(text, layout=False)

    def forget_height(self) -> None:
        """Fit the panel to what it shows now (after a resize, a new filter or sort)."""
        if self._tallest:
            self._tallest = 0
            self.styles.min_height = None
            shown, self._shown = self._shown, None
            if shown is not None:
                self._show(shown)
