"""Actions from the TUI: who may act, what a key acts on, and the request to send.

A screen posts an `ActionRequested` with the request; the app sends it (see `app_actions`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..client import ActionAccepted, EngineClient
from ..domain import DeploymentEvent, Status
from .context import Deck
from .model import Cell, upcoming
from .sanitize import sanitize

PENDING_TIMEOUT_S = 30.0
"""How long a sent action may wait for the engine's rows before the mark is dropped."""

LABELS: dict[str, str] = {
    "deploy": "Deploy",
    "promote": "Promote",
    "rollback": "Roll back",
    "cancel": "Cancel",
    "retry": "Retry",
}
"""The words of each action, for titles and the palette."""

_CANCELLABLE = (Status.QUEUED, Status.IN_PROGRESS)


def unavailable_reason(app: Deck, action: str) -> str | None:
    """Why `action` is not offered, in words; None when the user may act."""
    if app.force_read_only:
        return "shipdeck runs read-only (--read-only): actions are hidden"
    caps = app.capabilities
    if not app.read_only and action in caps.actions:
        return None
    if action in caps.reasons:  # the platform has no such action at all
        return caps.reasons[action]
    if caps.reason:
        return caps.reason
    role = f" ({caps.role})" if caps.role else ""
    return f"your role{role} may not {action} here"


@dataclass(frozen=True, slots=True)
class ActionTarget:
    """What the action keys act on: a slot, its deployment and what `c` would cancel."""

    service: str
    environment: str
    deployment: DeploymentEvent | None
    """Rollback and retry act on this one (the slot's current, or the focused row)."""
    cancellable: DeploymentEvent | None
    """Cancel acts on this one."""


def slot_target(service: str, environment: str, cell: Cell | None) -> ActionTarget:
    """A matrix slot: its current row; cancel takes `next` when queued or running, else
    the current one when it is running."""
    current = None if cell is None or cell.current is None else cell.current.ref
    nxt = None if cell is None else upcoming(cell)
    cancellable = None
    if nxt is not None and nxt.status in _CANCELLABLE:
        cancellable = nxt
    elif current is not None and current.status in _CANCELLABLE:
        cancellable = current
    return ActionTarget(service, environment, current, cancellable)


def row_target(row: DeploymentEvent) -> ActionTarget:
    """A history or detail row: every action takes its deployment (the engine decides)."""
    return ActionTarget(row.service, row.environment, row, row)


Send = Callable[[EngineClient], Awaitable[ActionAccepted]]


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One action to send, and the slot whose cell waits for it."""

    action: str
    service: str
    environment: str
    version: str | None
    send: Send


def describe(request: ActionRequest) -> str:
    """`deploy of checkout-api 1.4.3 to prod` (sanitised)."""
    service, env = sanitize(request.service), sanitize(request.environment)
    version = f" {sanitize(request.version)}" if request.version else ""
    if request.action in ("deploy", "promote"):
        noun = "promotion" if request.action == "promote" else "deploy"
        return f"{noun} of {service}{version} to {env}"
    if request.action == "rollback":
        return f"rollback of {service} in {env} to{version or ' its previous version'}"
    return f"{request.action} of {service}{version} in {env}"


def accepted_text(request: ActionRequest, accepted: ActionAccepted) -> str:
    """`deploy of checkout-api 1.4.3 to prod queued`, naming what it replaced."""
    text = f"{describe(request)} {sanitize(accepted.status)}"
    if accepted.superseded:
        count = len(accepted.superseded)
        text += f" (replaces {count} queued deployment{'s' if count > 1 else ''})"
    return text
