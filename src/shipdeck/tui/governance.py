"""Approvals and environments, kept by the app: what awaits this user, locks and freezes.

The app keeps the promotions this user may approve now (the header counts them) and every
environment's state (the matrix marks locks and freezes). Both are fetched when the app
connects and after a resync. A promotion event refetches what awaits the user — only the
engine knows who may approve what — and a promotion that newly awaits them is announced,
unless they asked for it themselves. Decisions (approve, reject, withdraw) are sent from a
worker on the app, so leaving the screen does not cancel them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from textual.message import Message

from ..client import ActionRefused, EngineClient, EnvironmentChanged, PromotionChanged
from ..domain.promotions import AWAITING, EnvironmentView, PromotionView
from .messages import EnvironmentUpdated, PromotionUpdated
from .sanitize import sanitize

if TYPE_CHECKING:
    from .app import ShipdeckApp

DECISIONS: dict[str, str] = {
    "approve": "Approve",
    "reject": "Reject",
    "withdraw": "Withdraw",
}
"""The words of each decision, for titles and keys."""

DECISION_PERMISSIONS: dict[str, str] = {
    "approve": "approve",
    "reject": "reject",
    "withdraw": "cancel",
}
"""The capability (a `whoami` action) each decision needs."""


@dataclass
class Governance:
    """The app's copy of what awaits this user and of every environment's state."""

    awaiting_me: dict[str, PromotionView] = field(default_factory=dict)
    """Promotions this user may approve now, by id."""
    environments: dict[str, EnvironmentView] = field(default_factory=dict)
    """Each environment's policy, lock and active freeze, by name."""
    loaded: bool = False
    """Whether `awaiting_me` was fetched once (later arrivals are announced)."""


def promotion_title(promotion: PromotionView) -> str:
    """`checkout-api 1.4.3 qa → prod` (sanitised)."""
    return (
        f"{sanitize(promotion.service)} {sanitize(promotion.version)} "
        f"{sanitize(promotion.from_environment)} → {sanitize(promotion.to_environment)}"
    )


def approvals_count(promotion: PromotionView) -> str:
    """`1 of 2`: approvals given of those required."""
    given = sum(1 for a in promotion.approvals if a.decision == "approve")
    return f"{given} of {promotion.approvals_required}"


# -- keeping up -----------------------------------------------------------------------------


def refresh(app: ShipdeckApp) -> None:
    """Fetch what awaits the user and every environment's state (at start, after a resync)."""
    _run(app, partial(_refresh_pending, app), "approvals")
    _run(app, partial(_refresh_environments, app), "environments")


def arrived(app: ShipdeckApp, item: PromotionChanged | EnvironmentChanged) -> None:
    """A promotion or environment event from the feed: update, tell the screens."""
    if isinstance(item, EnvironmentChanged):
        state = item.environment
        app.governance.environments[state.environment] = state
        _broadcast(app, EnvironmentUpdated(state))
        return
    _broadcast(app, PromotionUpdated(item.promotion))
    _run(app, partial(_refresh_pending, app), "approvals")


async def _refresh_pending(app: ShipdeckApp) -> None:
    pending = await app.client.pending_for_me()
    kept = app.governance
    before, announce = kept.awaiting_me, kept.loaded
    kept.awaiting_me = {promotion.id: promotion for promotion in pending}
    kept.loaded = True
    app.approvals_waiting = len(pending)
    if not announce:
        return
    me = app.capabilities.principal
    for promotion in pending:
        if promotion.id not in before and promotion.requester != me:
            app.notify(
                f"{promotion_title(promotion)} awaits your approval "
                f"(asked by {sanitize(promotion.requester)}); A opens the approvals",
                title="Approval requested",
                severity="warning",
                timeout=10,
                markup=False,
            )


async def _refresh_environments(app: ShipdeckApp) -> None:
    states = await app.client.environment_policies()
    app.governance.environments = {state.environment: state for state in states}
    for state in states:
        _broadcast(app, EnvironmentUpdated(state))


# -- deciding -------------------------------------------------------------------------------


def decide(app: ShipdeckApp, verb: str, promotion: PromotionView, comment: str) -> None:
    """Send `approve`, `reject` or `withdraw` of `promotion` from a worker on the app."""
    work = partial(_decide, app, verb, promotion, comment)
    _run(app, work, f"decide {promotion.id}", exclusive=False)


def _call(client: EngineClient, verb: str) -> Callable[[str, str | None], Awaitable[PromotionView]]:
    if verb == "approve":
        return client.approve
    if verb == "reject":
        return client.reject
    return client.withdraw_promotion


async def _decide(app: ShipdeckApp, verb: str, promotion: PromotionView, comment: str) -> None:
    try:
        after = await _call(app.client, verb)(promotion.id, comment or None)
    except ActionRefused as refused:
        app.notify(
            sanitize(str(refused)),
            title=f"{DECISIONS[verb]} refused",
            severity="error",
            timeout=10,
            markup=False,
        )
        return
    app.notify(decided_text(verb, after), title="Sent", timeout=5, markup=False)
    arrived(app, PromotionChanged(after))  # at once; the feed's event follows


def decided_text(verb: str, promotion: PromotionView) -> str:
    """What a decision did, in words."""
    title = promotion_title(promotion)
    if promotion.status == AWAITING:
        still = sanitize(promotion.blocked_by or "more approvals needed")
        return f"your approval of {title} counts: {still}"
    if promotion.status == "approved":
        return f"{title} approved: the deployment is queued"
    if promotion.status == "cancelled" and verb == "withdraw":
        return f"{title} withdrawn"
    return f"{title} {sanitize(promotion.status)}"


def _run(
    app: ShipdeckApp,
    work: Callable[[], Awaitable[None]],
    group: str,
    *,
    exclusive: bool = True,
) -> None:
    # A function, not a coroutine: a worker cancelled before it starts (a newer refresh
    # replaces it) then leaves no coroutine behind that was never awaited.
    app.run_worker(work, name=group, group=group, exclusive=exclusive, exit_on_error=False)


def _broadcast(app: ShipdeckApp, message: Message) -> None:
    # Not to Textual's default screen at the bottom (see `ShipdeckApp._broadcast`).
    for screen in app.screen_stack[1:]:
        screen.post_message(message)
