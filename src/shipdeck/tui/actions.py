"""Actions from the TUI: who may act, what a key acts on, and sending the request.

A request is sent from a worker on the app (so leaving the screen does not cancel it). The
slot it lands in shows `◌` from the moment it is sent until a row of the deployment the
engine names arrives on the feed; a refusal clears the mark and shows the engine's sentence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from ..client import ActionAccepted, ActionRefused, EngineClient
from ..domain import DeploymentEvent, Status
from .messages import PendingChanged
from .model import Cell, PendingAction, upcoming
from .sanitize import sanitize

if TYPE_CHECKING:
    from .app import ShipdeckApp

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


def unavailable_reason(app: ShipdeckApp, action: str) -> str | None:
    """Why `action` is not offered, in words; None when the user may act."""
    if app.force_read_only:
        return "shipdeck runs read-only (--read-only): actions are hidden"
    caps = app.capabilities
    if not app.read_only and action in caps.actions:
        return None
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


def launch(app: ShipdeckApp, request: ActionRequest) -> None:
    """Mark the slot and send the request from a worker on the app."""
    entry = app.matrix.mark_pending(
        request.service,
        request.environment,
        request.action,
        request.version,
        final_only=request.action == "cancel",
    )
    _pending_changed(app, request.service)
    app.run_worker(
        _send(app, request, entry),
        name=f"action {request.action}",
        group="actions",
        exit_on_error=False,
    )


async def _send(app: ShipdeckApp, request: ActionRequest, entry: PendingAction) -> None:
    try:
        accepted = await request.send(app.client)
    except ActionRefused as refused:
        _drop(app, request, entry)
        app.notify(
            sanitize(str(refused)),
            title=f"{LABELS.get(request.action, request.action)} refused",
            severity="error",
            timeout=10,
            markup=False,
        )
        return
    except BaseException:
        # The app's worker handler says what went wrong (unreachable, timeout).
        _drop(app, request, entry)
        raise
    if app.matrix.accepted(entry, accepted.deployment_id):
        _pending_changed(app, request.service)
    app.notify(accepted_text(request, accepted), title="Accepted", timeout=4, markup=False)
    app.set_timer(PENDING_TIMEOUT_S, partial(_expire, app, request, entry))


def _drop(app: ShipdeckApp, request: ActionRequest, entry: PendingAction) -> bool:
    dropped = app.matrix.drop_pending(entry)
    if dropped:
        _pending_changed(app, request.service)
    return dropped


def _expire(app: ShipdeckApp, request: ActionRequest, entry: PendingAction) -> None:
    if _drop(app, request, entry):
        app.notify(
            f"no confirmation from the engine yet for the {describe(request)}; "
            "the history shows what happened",
            title="Still waiting",
            severity="warning",
            timeout=8,
            markup=False,
        )


def _pending_changed(app: ShipdeckApp, service: str) -> None:
    for screen in app.screen_stack[1:]:
        screen.post_message(PendingChanged(service))
