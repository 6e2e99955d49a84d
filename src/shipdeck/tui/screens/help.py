"""Help: every key of the screen underneath, with what it does."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..pacing import PacedFrames


def bindings_table(screen: Screen[object], key_display: object) -> Table:
    """Key, action and explanation for every binding active on `screen`."""
    table = Table(box=None, expand=True, show_header=True, header_style="bold")
    table.add_column("key", no_wrap=True)
    table.add_column("does", no_wrap=True)
    table.add_column("", ratio=1)
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, str]] = []
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system and binding.action not in ("command_palette",):
            continue
        description = binding.description or binding.action
        key = key_display(binding) if callable(key_display) else binding.key
        if (key, description) in seen:
            continue
        seen.add((key, description))
        rows.append((key, description, binding.tooltip))
    for key, description, tooltip in sorted(rows, key=lambda r: r[1].lower()):
        table.add_row(Text(key, style="bold"), Text(description), Text(tooltip, style="dim"))
    return table


class HelpScreen(PacedFrames, ModalScreen[None]):
    """A modal over the current screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark", "dismiss", "Close", id="help.close", tooltip="Close help"
        ),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self._target = screen

    def compose(self) -> ComposeResult:
        title = f"Keys — {type(self._target).__name__.removesuffix('Screen')}"
        with VerticalScroll(id="help-box") as box:
            box.border_title = title
            box.border_subtitle = "esc closes"
            note = getattr(self._target, "HELP_NOTE", "")
            if note:  # what a screen's keys cannot say on their own lines
                yield Static(Text(note), id="help-note")
            yield Static(bindings_table(self._target, self.app.get_key_display))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
