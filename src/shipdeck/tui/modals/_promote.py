"""`PromoteModal`: from, to, version and the policy that will apply, as the engine plans it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from ...client import EngineError, PromotionPlan
from ._base import ActionModal, facts


class PromoteModal(ActionModal[PromotionPlan]):
    """Answers the plan the user confirmed, or None; a refused plan shows its sentence."""

    AUTO_FOCUS = "#close"
    CONFIRM_LABEL = "Promote"

    def __init__(
        self, service: str, from_environment: str, plan: Callable[[], Awaitable[PromotionPlan]]
    ) -> None:
        """Create the modal.

        Args:
            service: The service to promote.
            from_environment: Where its current successful version is taken from.
            plan: Asks the engine what the promotion would do.
        """
        super().__init__()
        self.service = service
        self.from_environment = from_environment
        self._fetch = plan
        self.plan: PromotionPlan | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box") as box:
            box.border_title = "Promote"
            rows = [("service", self.service, "bold"), ("from", self.from_environment, "bold")]
            yield Static(facts(rows), id="modal-facts")
            yield Static(
                "Asking the engine what this promotion would do…", id="modal-plan", markup=False
            )
            yield Static(id="modal-problem", classes="modal-problem")
            yield from self.buttons(ready=False)

    def on_mount(self) -> None:
        self.query_one("#modal-problem").display = False
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        """Fetch the plan; a refusal (or an unreachable engine) is shown in the box."""
        try:
            plan = await self._fetch()
        except EngineError as exc:
            self.query_one("#modal-plan", Static).display = False
            self.show_problem(str(exc))
            return
        self.plan = plan
        self.query_one("#modal-facts", Static).update(
            facts(
                [
                    ("service", plan.service, "bold"),
                    ("from", plan.from_environment, "bold"),
                    ("to", plan.to_environment, "bold"),
                    ("version", plan.version, "bold"),
                    ("policy", plan.policy, ""),
                ]
            )
        )
        self.query_one("#modal-plan", Static).display = False
        confirm = self.query_one("#confirm", Button)
        confirm.disabled = False
        confirm.focus()

    def confirm(self) -> None:
        if self.plan is not None:
            self.dismiss(self.plan)
