"""`GovernanceMixin`: the app's half of approvals — keeping `governance` up to date and
sending the decisions screens ask for.

What awaits the user and every environment's state are fetched when the app connects and
after a resync. A promotion event refetches what awaits the user — only the engine knows who
may approve what — and a promotion that newly awaits them is announced, unless they asked for
it themselves. A screen posts `DecisionRequested`; the decision is sent from a worker on the
app, so leaving the screen does not cancel it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from textual import on
from textual.app import App
from textual.reactive import reactive

from ..client import (
    ActionRefused,
    Capabilities,
    EngineClient,
    EnvironmentChanged,
    PromotionChanged,
)
from ..domain.promotions import PromotionView
from .governance import DECISIONS, Governance, decided_text, promotion_title
from .messages import DecisionRequested, EnvironmentUpdated, PromotionUpdated, broadcast
from .notify import tell
from .sanitize import sanitize


class GovernanceMixin(App[None]):
    """Keeps `governance` and `approvals_waiting`; sends decisions."""

    client: EngineClient
    governance: Governance
    capabilities: Capabilities

    approvals_waiting: reactive[int] = reactive(0)
    """Promotions awaiting this user's approval (the header shows how many)."""

    def refresh_governance(self) -> None:
        """Fetch what awaits the user and every environment's state (at start, after a
        resync)."""
        self._governance_work(self._refresh_pending, "approvals")
        self._governance_work(self._refresh_environments, "environments")

    def governance_arrived(self, item: PromotionChanged | EnvironmentChanged) -> None:
        """A promotion or environment event from the feed: update, tell the screens."""
        if isinstance(item, EnvironmentChanged):
            state = item.environment
            self.governance.environments[state.environment] = state
            broadcast(self, EnvironmentUpdated(state))
            return
        broadcast(self, PromotionUpdated(item.promotion))
        self._governance_work(self._refresh_pending, "approvals")

    async def _refresh_pending(self) -> None:
        pending = await self.client.pending_for_me()
        kept = self.governance
        before, announce = kept.awaiting_me, kept.loaded
        kept.awaiting_me = {promotion.id: promotion for promotion in pending}
        kept.loaded = True
        self.approvals_waiting = len(pending)
        if not announce:
            return
        me = self.capabilities.principal
        for promotion in pending:
            if promotion.id not in before and promotion.requester != me:
                tell(
                    self,
                    "alert",
                    f"{promotion_title(promotion)} awaits your approval "
                    f"(asked by {sanitize(promotion.requester)}); A opens the approvals",
                    title="Approval requested",
                )

    async def _refresh_environments(self) -> None:
        states = await self.client.environment_policies()
        self.governance.environments = {state.environment: state for state in states}
        for state in states:
            broadcast(self, EnvironmentUpdated(state))

    # -- deciding ---------------------------------------------------------------------------

    @on(DecisionRequested)
    def _decision_requested(self, message: DecisionRequested) -> None:
        work = partial(self._decide, message.verb, message.promotion, message.comment)
        self._governance_work(work, f"decide {message.promotion.id}", exclusive=False)

    def _decision_call(self, verb: str) -> Callable[[str, str | None], Awaitable[PromotionView]]:
        if verb == "approve":
            return self.client.approve
        if verb == "reject":
            return self.client.reject
        return self.client.withdraw_promotion

    async def _decide(self, verb: str, promotion: PromotionView, comment: str) -> None:
        try:
            after = await self._decision_call(verb)(promotion.id, comment or None)
        except ActionRefused as refused:
            tell(self, "error", str(refused), title=f"{DECISIONS[verb]} refused")
            return
        tell(self, "info", decided_text(verb, after), title="Sent")
        self.governance_arrived(PromotionChanged(after))  # at once; the feed's event follows

    def _governance_work(
        self, work: Callable[[], Awaitable[None]], group: str, *, exclusive: bool = True
    ) -> None:
        # A function, not a coroutine: a worker cancelled before it starts (a newer refresh
        # replaces it) then leaves no coroutine behind that was never awaited.
        self.run_worker(work, name=group, group=group, exclusive=exclusive, exit_on_error=False)
