"""`ActionModal`: the frame every action modal shares (a box, its buttons, escape closes)."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..pacing import PacedFrames
from ..sanitize import sanitize

T = TypeVar("T")

LABEL_WIDTH = 9


def facts(rows: list[tuple[str, str, str]]) -> Text:
    """Aligned `label  value` lines; values come from outside and are sanitised here.

    Args:
        rows: (label, value, style of the value).
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, (label, value, style) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(label.ljust(LABEL_WIDTH), style="dim")
        text.append(sanitize(value), style=style)
    return text


class ActionModal(PacedFrames, ModalScreen[T | None]):
    """A centred box with a confirm and a close button; escape or `Cancel` answers `None`."""

    DEFAULT_CLASSES = "action-modal"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="modal.close", tooltip="Close without acting"),
    ]

    CONFIRM_LABEL = "Confirm"
    CLOSE_LABEL = "Cancel"
    HINT = "enter confirms · esc closes without acting"

    def buttons(self, *, ready: bool = True) -> ComposeResult:
        """The confirm and close buttons, then a line of keys."""
        with Horizontal(classes="modal-buttons"):
            yield Button(self.CONFIRM_LABEL, id="confirm", variant="primary", disabled=not ready)
            yield Button(self.CLOSE_LABEL, id="close")
        yield Static(self.HINT, classes="modal-hint", markup=False)

    def show_problem(self, sentence: str) -> None:
        """The engine refused: its sentence instead of a confirm button."""
        problem = self.query_one("#modal-problem", Static)
        problem.update(Text(sanitize(sentence)))
        problem.display = True
        self.query_one("#confirm", Button).display = False
        self.query_one(".modal-hint", Static).update("esc closes")
        self.query_one("#close", Button).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        """Answer with what the user chose (each modal knows what that is)."""
        raise NotImplementedError
