"""`RollbackModal`: the version a rollback will deploy; the last environment asks for the
service's name before it lets the rollback go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Input, Static

from ...client import RollbackPlan
from ..notify import tell
from ..sanitize import sanitize
from ._base import ActionModal
from ._plan import PlanModal


class RollbackModal(PlanModal[RollbackPlan]):
    """Answers the plan the user confirmed, or None; a refused plan shows its sentence."""

    CONFIRM_LABEL = "Roll back"
    ASKING = "Asking the engine what this rollback would deploy…"

    def __init__(
        self,
        service: str,
        environment: str,
        plan: Callable[[], Awaitable[RollbackPlan]],
        *,
        last_environment: bool,
    ) -> None:
        """Create the modal.

        Args:
            service: The slot's service.
            environment: The slot's environment.
            plan: Asks the engine what the rollback would deploy.
            last_environment: The slot is in the last environment: typing the service's
                name confirms.
        """
        super().__init__(plan)
        self.service = service
        self.environment = environment
        self.guarded = last_environment
        self.HINT = (
            "type the service's name, then enter · esc closes without acting"
            if last_environment
            else ActionModal.HINT
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box") as box:
            box.border_title = "Roll back"
            yield from self.asking()
            if self.guarded:
                yield Static(
                    f"{sanitize(self.environment)} is the last environment: "
                    f"type {sanitize(self.service)} to confirm.",
                    id="modal-guard",
                    markup=False,
                )
                yield Input(placeholder="service name", id="modal-typed", max_length=200)
            yield from self.buttons(ready=False)

    def known_facts(self) -> list[tuple[str, str, str]]:
        return [("service", self.service, "bold"), ("in", self.environment, "bold")]

    def plan_facts(self, plan: RollbackPlan) -> list[tuple[str, str, str]]:
        return [
            ("service", plan.service, "bold"),
            ("in", plan.environment, "bold"),
            ("from", plan.from_version or "-", ""),
            ("to", plan.version, "bold"),
        ]

    def plan_refused(self) -> None:
        for guard in self.query("#modal-guard, #modal-typed"):
            guard.display = False

    def plan_shown(self) -> None:
        self._update_confirm()
        if self.guarded:
            self.query_one("#modal-typed", Input).focus()
        else:
            self.query_one("#confirm", Button).focus()

    @property
    def ready(self) -> bool:
        """The plan is known and, in the last environment, the service's name was typed."""
        if self.plan is None:
            return False
        if not self.guarded:
            return True
        return self.query_one("#modal-typed", Input).value.strip() == sanitize(self.service)

    @on(Input.Changed, "#modal-typed")
    def _update_confirm(self) -> None:
        self.query_one("#confirm", Button).disabled = not self.ready

    @on(Input.Submitted, "#modal-typed")
    def _typed(self) -> None:
        if self.ready:
            self.confirm()
        else:
            tell(self, "nudge", f"Type {sanitize(self.service)} exactly to roll back.")

    def confirm(self) -> None:
        if self.ready and self.plan is not None:
            self.dismiss(self.plan)
