"""`ConfirmModal`: one line saying what will happen; `y` or enter does it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from ._base import ActionModal


class ConfirmModal(ActionModal[bool]):
    """Ask once before a cancel or a retry; answers True, or None when closed."""

    AUTO_FOCUS = "#confirm"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", id="confirm.yes", tooltip="Do it"),
        Binding("n", "close", "No", id="confirm.no", tooltip="Close without acting"),
    ]
    HINT = "y or enter confirms · n or esc closes without acting"

    def __init__(
        self, title: str, question: Text, confirm_label: str, *, close_label: str = "Cancel"
    ) -> None:
        """Create the modal.

        Args:
            title: The box's title (fixed text, e.g. `Cancel deployment`).
            question: What will happen, built from sanitised text.
            confirm_label: The confirm button's label (fixed text).
            close_label: The close button's label (fixed text).
        """
        super().__init__()
        self._title = title
        self._question = question
        self.CONFIRM_LABEL = confirm_label
        self.CLOSE_LABEL = close_label

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box") as box:
            box.border_title = self._title
            yield Static(self._question, id="modal-question")
            yield from self.buttons()

    def action_confirm(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        self.dismiss(True)
