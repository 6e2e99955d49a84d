"""How statuses, times and versions read on screen: a glyph *and* a word, never colour alone."""

from __future__ import annotations

from datetime import datetime

from ..domain import DeploymentEvent, Status
from .sanitize import sanitize

GLYPHS: dict[Status, str] = {
    Status.SUCCESS: "✓",
    Status.FAILURE: "✗",
    Status.IN_PROGRESS: "◐",
    Status.QUEUED: "◷",
    Status.WAITING: "‖",
    Status.PENDING: "…",
    Status.CANCELLED: "⊘",
    Status.REJECTED: "⊗",
}
"""One glyph per status; every glyph is distinct so status reads without colour."""

WORDS: dict[Status, str] = {
    Status.SUCCESS: "success",
    Status.FAILURE: "failure",
    Status.IN_PROGRESS: "deploying",
    Status.QUEUED: "queued",
    Status.WAITING: "waiting",
    Status.PENDING: "pending",
    Status.CANCELLED: "cancelled",
    Status.REJECTED: "rejected",
}
"""The word shown beside the glyph (`deploying` reads better than `in-progress`)."""

SHORT_WORDS: dict[str, str] = {
    "success": "ok",
    "failure": "fail",
    "deploying": "run",
    "queued": "queue",
    "waiting": "wait",
    "pending": "pend",
    "cancelled": "canc",
    "rejected": "rej",
    "validating": "val",
    "pushing": "push",
    "pushed": "push",
    "monitoring": "mon",
}
"""Words for narrow columns (80×24): still a word beside every glyph."""

_STATUS_CSS: dict[Status, str] = {
    Status.SUCCESS: "color: $success;",
    Status.FAILURE: "color: $error; text-style: bold;",
    Status.IN_PROGRESS: "color: $accent;",
    Status.QUEUED: "color: $warning;",
    Status.WAITING: "color: $warning;",
    Status.PENDING: "color: $text-muted;",
    Status.CANCELLED: "color: $text-muted;",
    Status.REJECTED: "color: $error;",
}


def status_css(widget: str, prefix: str) -> str:
    """TCSS colouring each status's component class (`prefix--success`, …) of a widget."""
    return "\n".join(
        f"{widget} > .{prefix}--{status.value} {{ {rule} }}" for status, rule in _STATUS_CSS.items()
    )


STATUS_STYLES: dict[Status, str] = {
    Status.SUCCESS: "green",
    Status.FAILURE: "bold red",
    Status.IN_PROGRESS: "cyan",
    Status.QUEUED: "yellow",
    Status.WAITING: "yellow",
    Status.PENDING: "dim",
    Status.CANCELLED: "dim",
    Status.REJECTED: "red",
}
"""Rich styles for statuses in text; 16-colour names, and never the only cue."""

PREV_FAILED_MARK = "!"
NEXT_MARK = "▸"
EMPTY_CELL = "·"
SENT_MARK = "◌"
"""An action sent to the slot that the engine's rows have not confirmed yet."""
LOCK_MARK = "⊠"
"""An environment an admin locked: every action on it is refused."""
FREEZE_MARK = "❄"
"""An environment in a freeze window: deploys, promotions and retries are refused."""
AWAITING_MARK = "‖"
"""A promotion awaiting approval (the glyph of a `waiting` row)."""
NO_VERSION_MARK = "@"
"""Before a short sha or a ref shown where no version was reported (`@3f2c1a9`, `@main`)."""
NO_VERSION = "no version reported"


def version_text(event: DeploymentEvent) -> str:
    """The row's version (sanitised) or, when none was reported, `@` and its short sha or
    ref (`@3f2c1a9`, `@main`) — never the deployment id; `-` when there is neither."""
    if event.version:
        return sanitize(event.version)
    if event.sha:
        return NO_VERSION_MARK + sanitize(event.sha)[:7]
    if event.ref:
        return NO_VERSION_MARK + sanitize(event.ref).removeprefix("refs/heads/").removeprefix(
            "refs/tags/"
        )
    return "-"


def age(then: datetime, now: datetime) -> str:
    """A compact age: `45s`, `12m`, `3h`, `4d`, `7w`."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def clock_time(moment: datetime) -> str:
    """`hh:mm:ss` in the local time zone."""
    return moment.astimezone().strftime("%H:%M:%S")


def timestamp(moment: datetime) -> str:
    """`2026-05-28 10:14:02Z`: UTC, to the second."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def status_label(status: Status, phase: str | None = None) -> str:
    """Glyph and word; an in-progress row shows its phase when it has one."""
    word = phase if status is Status.IN_PROGRESS and phase else WORDS[status]
    return f"{GLYPHS[status]} {word}"
