"""`ActingScreen`: a screen whose focused slot or row takes the action keys.

`d` deploy, `p` promote, `r` roll back, `c` cancel, `R` retry. Each key is bound twice: to
the action, shown while the user may act, and to `explain`, hidden, which says why not
(`--read-only`, or the engine's reason) when the action is not offered.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import BindingType

from ...client import PromotionPlan, RollbackPlan
from ...domain import DeploymentEvent
from ..actions import LABELS, ActionRequest, ActionTarget, unavailable_reason
from ..format import status_label, version_text
from ..messages import ActionRequested
from ..modals import ConfirmModal, DeployModal, PromoteModal, RollbackModal
from ..model import versions_seen
from ..notify import tell
from ..sanitize import sanitize
from ._deck import DeckScreen, gated_bindings

ACTION_KEYS: tuple[tuple[str, str, str], ...] = (
    ("d", "deploy", "Deploy a version to the focused slot (pick one seen anywhere, or type one)"),
    ("p", "promote", "Promote the slot's current version to the next environment"),
    ("r", "rollback", "Roll the slot back to its previous successful version"),
    ("c", "cancel", "Cancel the slot's queued or running deployment"),
    ("R", "retry", "Run the deployment's version in its slot again"),
)
"""(key, action, tooltip) of each action key."""


def action_bindings(prefix: str) -> list[BindingType]:
    """The action keys of a screen, with ids `PREFIX.deploy`, … (remappable by keymap)."""
    return gated_bindings(
        prefix,
        *(
            (key, action, LABELS[action], action, f"explain('{action}')", tooltip)
            for key, action, tooltip in ACTION_KEYS
        ),
    )


def _slot(service: str, environment: str) -> str:
    return f"{sanitize(service)} → {sanitize(environment)}"


def _row_text(row: DeploymentEvent) -> Text:
    """`checkout-api 1.4.3 in prod (✗ failure, gh-5)`."""
    return Text.assemble(
        (sanitize(row.service), "bold"),
        " ",
        (version_text(row), "bold"),
        f" in {sanitize(row.environment)} ",
        f"({status_label(row.status, sanitize(row.phase) or None)}, {sanitize(row.deployment_id)})",
    )


def _promotion(plan: PromotionPlan) -> ActionRequest:
    return ActionRequest(
        "promote",
        plan.service,
        plan.to_environment,
        plan.version,
        lambda c: c.promote(plan.service, plan.from_environment, plan.to_environment),
    )


def _rollback(plan: RollbackPlan) -> ActionRequest:
    return ActionRequest(
        "rollback",
        plan.service,
        plan.environment,
        plan.version,
        lambda c: c.rollback(plan.deployment_id, plan.version),
    )


class ActingScreen(DeckScreen):
    """A deck screen with the action keys; subclasses say what is focused."""

    def action_target(self) -> ActionTarget | None:
        """The focused slot or row, if any."""
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Action keys show only when the user may act; `explain` answers the others."""
        if action in LABELS:
            return unavailable_reason(self.deck, action) is None
        if action == "explain":
            return unavailable_reason(self.deck, str(parameters[0])) is not None
        return True

    def action_explain(self, action: str) -> None:
        """Say why `action` is not available."""
        self.explain(LABELS.get(action, action), unavailable_reason(self.deck, action))

    def request_action(self, action: str) -> None:
        """Act on the focused slot or row, or say why not (the palette's entry point)."""
        if unavailable_reason(self.deck, action) is not None:
            self.action_explain(action)
            return
        {
            "deploy": self.action_deploy,
            "promote": self.action_promote,
            "rollback": self.action_rollback,
            "cancel": self.action_cancel,
            "retry": self.action_retry,
        }[action]()

    def _target(self) -> ActionTarget | None:
        target = self.action_target()
        if target is None:
            tell(self, "nudge", "Nothing is focused to act on.")
        return target

    def _deployed(self) -> tuple[ActionTarget, DeploymentEvent] | None:
        """The focused target and the deployment rollback and retry act on, or say why
        there is none."""
        target = self._target()
        if target is None:
            return None
        if target.deployment is None:
            self._say(f"Nothing was deployed in {_slot(target.service, target.environment)}.")
            return None
        return target, target.deployment

    def _say(self, text: str) -> None:
        tell(self, "warning", text)

    def _launch(self, request: ActionRequest | None) -> None:
        """Ask the app to send `request` (None: the user closed the modal)."""
        if request is not None:
            self.post_message(ActionRequested(request))

    # -- deploy ------------------------------------------------------------------------

    def action_deploy(self) -> None:
        target = self._target()
        if target is None:
            return
        if not self.deck.capabilities.deploy_versions:
            self._redeploy(target)
            return
        model = self.deck.matrix
        cell = model.cell(target.service, target.environment)
        current = None if cell is None or cell.current is None else cell.current.ref.version
        modal = DeployModal(
            target.service,
            target.environment,
            versions_seen(model, target.service),
            self.deck.clock(),
            current=current,
        )
        self.app.push_screen(modal, lambda version: self._deploy(target, version))

    def _deploy(self, target: ActionTarget, version: str | None) -> None:
        if not version:
            return
        service, env = target.service, target.environment
        self._launch(
            ActionRequest(
                "deploy", service, env, version, lambda c: c.deploy(service, env, version)
            )
        )

    def _redeploy(self, target: ActionTarget) -> None:
        """A platform that redeploys from its own source: confirm, no version to pick."""
        service, env = target.service, target.environment
        question = Text.assemble(
            "Redeploy ",
            (_slot(service, env), "bold"),
            " from its configured source?\n",
            ("The platform picks what to deploy; a new deployment is queued.", "dim"),
        )
        modal = ConfirmModal("Redeploy", question, "Redeploy")

        def send(confirmed: bool | None) -> None:
            if confirmed:
                request = ActionRequest(
                    "deploy", service, env, None, lambda c: c.deploy(service, env, "")
                )
                self._launch(request)

        self.app.push_screen(modal, send)

    # -- promote -----------------------------------------------------------------------

    def action_promote(self) -> None:
        target = self._target()
        if target is None:
            return
        client = self.deck.client
        service, env = target.service, target.environment
        modal = PromoteModal(service, env, lambda: client.promotion_plan(service, env))
        self.app.push_screen(modal, self._promote)

    def _promote(self, plan: PromotionPlan | None) -> None:
        self._launch(None if plan is None else _promotion(plan))

    # -- rollback ----------------------------------------------------------------------

    def action_rollback(self) -> None:
        found = self._deployed()
        if found is None:
            return
        target, row = found
        client = self.deck.client
        environments = self.deck.matrix.environments
        modal = RollbackModal(
            target.service,
            target.environment,
            lambda: client.rollback_plan(row.deployment_id),
            last_environment=bool(environments) and target.environment == environments[-1],
        )
        self.app.push_screen(modal, self._rollback)

    def _rollback(self, plan: RollbackPlan | None) -> None:
        self._launch(None if plan is None else _rollback(plan))

    # -- cancel and retry --------------------------------------------------------------

    def action_cancel(self) -> None:
        target = self._target()
        if target is None:
            return
        row = target.cancellable
        if row is None:
            self._say(
                f"Nothing is queued or running in {_slot(target.service, target.environment)}."
            )
            return
        question = Text.assemble(
            "Cancel ",
            _row_text(row),
            "?\n",
            ("A queued deployment ends at once; a running one is stopped.", "dim"),
        )
        modal = ConfirmModal("Cancel deployment", question, "Cancel it", close_label="Keep it")
        self.app.push_screen(modal, lambda yes: self._act_on(row, "cancel", yes))

    def action_retry(self) -> None:
        found = self._deployed()
        if found is None:
            return
        _, row = found
        question = Text.assemble(
            "Run ",
            _row_text(row),
            " again?\n",
            ("A new deployment of the same version is queued in the slot.", "dim"),
        )
        modal = ConfirmModal("Retry deployment", question, "Retry")
        self.app.push_screen(modal, lambda yes: self._act_on(row, "retry", yes))

    def _act_on(self, row: DeploymentEvent, action: str, confirmed: bool | None) -> None:
        if not confirmed:
            return
        deployment_id = row.deployment_id
        send = (
            (lambda c: c.cancel(deployment_id))
            if action == "cancel"
            else (lambda c: c.retry(deployment_id))
        )
        self._launch(ActionRequest(action, row.service, row.environment, row.version, send))
