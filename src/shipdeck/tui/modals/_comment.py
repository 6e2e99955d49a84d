"""`CommentModal`: what a decision on a promotion is about, and the comment that goes with it."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from ..notify import tell
from ._base import ActionModal

MAX_COMMENT = 2000
"""The engine keeps comments up to this many characters."""


class CommentModal(ActionModal[str]):
    """Answers the comment typed (`""` when none was and none is required), or None."""

    AUTO_FOCUS = "#modal-comment"

    def __init__(
        self,
        title: str,
        about: Text,
        confirm_label: str,
        *,
        required: bool = False,
    ) -> None:
        """Create the modal.

        Args:
            title: The box's title (fixed text, e.g. `Reject promotion`).
            about: What is decided, built from sanitised text.
            confirm_label: The confirm button's label (fixed text).
            required: A comment must be typed (a rejection says why).
        """
        super().__init__()
        self._title = title
        self._about = about
        self.CONFIRM_LABEL = confirm_label
        self.required = required
        self.HINT = (
            "type why, then enter · esc closes without acting"
            if required
            else "enter confirms (the comment is optional) · esc closes without acting"
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box") as box:
            box.border_title = self._title
            yield Static(self._about, id="modal-facts")
            placeholder = "comment (required): why?" if self.required else "comment (optional)"
            yield Input(placeholder=placeholder, id="modal-comment", max_length=MAX_COMMENT)
            yield from self.buttons()

    @on(Input.Submitted, "#modal-comment")
    def _typed(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        comment = self.query_one("#modal-comment", Input).value.strip()
        if self.required and not comment:
            tell(self, "nudge", "A rejection needs a comment: say why.")
            return
        self.dismiss(comment)
