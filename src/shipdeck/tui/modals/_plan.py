"""`PlanModal`: a modal that asks the engine for a plan, shows it, then lets it go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from ...client import EngineError
from ._base import ActionModal, facts

P = TypeVar("P")


class PlanModal(ActionModal[P], Generic[P]):
    """Answers the plan the user confirmed, or None; a refused plan shows its sentence.

    Subclasses say what the facts are before and after the plan is known, and what happens
    once it is (`plan_shown`).
    """

    AUTO_FOCUS = "#close"
    ASKING = "Asking the engine…"

    def __init__(self, plan: Callable[[], Awaitable[P]]) -> None:
        super().__init__()
        self._fetch = plan
        self.plan: P | None = None

    def known_facts(self) -> list[tuple[str, str, str]]:
        """What the modal shows while the engine is asked."""
        raise NotImplementedError

    def plan_facts(self, plan: P) -> list[tuple[str, str, str]]:
        """What the modal shows of the plan."""
        raise NotImplementedError

    def plan_shown(self) -> None:
        """The plan is shown: enable and focus what lets it go."""
        raise NotImplementedError

    def plan_refused(self) -> None:
        """The engine refused the plan (its sentence is shown): hide what asked for more."""

    def asking(self) -> ComposeResult:
        """The facts, the line that says the engine is asked, and the (hidden) problem."""
        yield Static(facts(self.known_facts()), id="modal-facts")
        yield Static(self.ASKING, id="modal-plan", markup=False)
        yield Static(id="modal-problem", classes="modal-problem")

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
            self.plan_refused()
            self.show_problem(str(exc))
            return
        self.plan = plan
        self.query_one("#modal-facts", Static).update(facts(self.plan_facts(plan)))
        self.query_one("#modal-plan", Static).display = False
        self.plan_shown()
