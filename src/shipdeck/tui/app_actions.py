"""`ActionsMixin`: the app's half of the action keys — sending what a screen asked for.

A screen posts `ActionRequested`; the app sends it from a worker of its own (so leaving the
screen does not cancel it). The slot it lands in shows `◌` from the moment it is sent until
a row of the deployment the engine names arrives on the feed; a refusal clears the mark and
shows the engine's sentence.
"""

from __future__ import annotations

from functools import partial

from textual import on
from textual.app import App

from ..client import ActionRefused, EngineClient
from . import actions
from .actions import LABELS, ActionRequest, accepted_text, describe
from .messages import ActionRequested, PendingChanged, broadcast
from .model import MatrixModel, PendingAction
from .notify import tell


class ActionsMixin(App[None]):
    """Sends actions and keeps their pending marks in `matrix`."""

    client: EngineClient
    matrix: MatrixModel

    @on(ActionRequested)
    def _action_requested(self, message: ActionRequested) -> None:
        self.launch(message.request)

    def launch(self, request: ActionRequest) -> None:
        """Mark the slot and send the request from a worker on the app."""
        entry = self.matrix.mark_pending(
            request.service,
            request.environment,
            request.action,
            request.version,
            final_only=request.action == "cancel",
        )
        broadcast(self, PendingChanged(request.service))
        self.run_worker(
            self._send(request, entry),
            name=f"action {request.action}",
            group="actions",
            exit_on_error=False,
        )

    async def _send(self, request: ActionRequest, entry: PendingAction) -> None:
        try:
            accepted = await request.send(self.client)
        except ActionRefused as refused:
            self._drop(request, entry)
            title = f"{LABELS.get(request.action, request.action)} refused"
            tell(self, "error", str(refused), title=title)
            return
        except BaseException:
            # The app's worker handler says what went wrong (unreachable, timeout).
            self._drop(request, entry)
            raise
        if self.matrix.accepted(entry, accepted.deployment_id):
            broadcast(self, PendingChanged(request.service))
        tell(self, "info", accepted_text(request, accepted), title="Accepted")
        self.set_timer(actions.PENDING_TIMEOUT_S, partial(self._expire, request, entry))

    def _drop(self, request: ActionRequest, entry: PendingAction) -> bool:
        dropped = self.matrix.drop_pending(entry)
        if dropped:
            broadcast(self, PendingChanged(request.service))
        return dropped

    def _expire(self, request: ActionRequest, entry: PendingAction) -> None:
        if self._drop(request, entry):
            tell(
                self,
                "alert",
                f"no confirmation from the engine yet for the {describe(request)}; "
                "the history shows what happened",
                title="Still waiting",
            )
