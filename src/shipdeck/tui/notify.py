"""`tell`: the one way shipdeck shows a notification.

Every toast goes through here: its kind sets the severity and how long it stays, the text
and title are sanitised, and neither is read as markup (`[b]` from outside stays `[b]`).
"""

from __future__ import annotations

from typing import Any, Literal

from textual.app import App
from textual.notifications import SeverityLevel
from textual.widget import Widget

from .sanitize import sanitize

Kind = Literal["hint", "info", "nudge", "warning", "alert", "error"]

KINDS: dict[Kind, tuple[SeverityLevel, float]] = {
    # A passing remark on a key just pressed (sorted, nothing in this slot).
    "hint": ("information", 2),
    # Something the user asked for happened (accepted, sent, profile switched).
    "info": ("information", 4),
    # A key could not act on what is focused (nothing focused, pick a version).
    "nudge": ("warning", 3),
    # Something is not available, and why (read-only, the engine's reason).
    "warning": ("warning", 5),
    # Something needs the user's attention (an approval awaits, no confirmation yet).
    "alert": ("warning", 10),
    # A refusal, a failed deployment, an unreachable engine.
    "error": ("error", 10),
}
"""(severity, seconds shown) of each kind."""


def tell(where: App[Any] | Widget, kind: Kind, message: str, *, title: str = "") -> None:
    """Show `message` (sanitised, never markup) as a notification of this kind."""
    severity, timeout = KINDS[kind]
    where.notify(
        sanitize(message), title=sanitize(title), severity=severity, timeout=timeout, markup=False
    )
