"""`PromoteModal`: from, to, version and the policy that will apply, as the engine plans it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button

from ...client import PromotionPlan
from ._plan import PlanModal


class PromoteModal(PlanModal[PromotionPlan]):
    """Answers the plan the user confirmed, or None; a refused plan shows its sentence."""

    CONFIRM_LABEL = "Promote"
    ASKING = "Asking the engine what this promotion would do…"

    def __init__(
        self, service: str, from_environment: str, plan: Callable[[], Awaitable[PromotionPlan]]
    ) -> None:
        """Create the modal.

        Args:
            service: The service to promote.
            from_environment: Where its current successful version is taken from.
            plan: Asks the engine what the promotion would do.
        """
        super().__init__(plan)
        self.service = service
        self.from_environment = from_environment

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box") as box:
            box.border_title = "Promote"
            yield from self.asking()
            yield from self.buttons(ready=False)

    def known_facts(self) -> list[tuple[str, str, str]]:
        return [("service", self.service, "bold"), ("from", self.from_environment, "bold")]

    def plan_facts(self, plan: PromotionPlan) -> list[tuple[str, str, str]]:
        return [
            ("service", plan.service, "bold"),
            ("from", plan.from_environment, "bold"),
            ("to", plan.to_environment, "bold"),
            ("version", plan.version, "bold"),
            ("policy", plan.policy, ""),
        ]

    def plan_shown(self) -> None:
        confirm = self.query_one("#confirm", Button)
        confirm.disabled = False
        confirm.focus()

    def confirm(self) -> None:
        if self.plan is not None:
            self.dismiss(self.plan)
