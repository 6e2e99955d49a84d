"""`DeckScreen`: what every shipdeck screen shares."""

from __future__ import annotations

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..context import Deck, deck_of
from ..notify import tell
from ..pacing import PacedFrames

KeyRow = tuple[str, str, str, str, str]
"""(keys, action, label, id suffix, tooltip) of one shown binding."""


def key_bindings(prefix: str, *rows: KeyRow, hidden: tuple[str, ...] = ()) -> list[BindingType]:
    """Bindings with ids `PREFIX.SUFFIX` (remappable by keymap); those whose suffix is in
    `hidden` are left out of the footer."""
    return [
        Binding(
            keys,
            action,
            label,
            show=suffix not in hidden,
            id=f"{prefix}.{suffix}",
            tooltip=tooltip,
        )
        for keys, action, label, suffix, tooltip in rows
    ]


def gated_bindings(prefix: str, *keys: tuple[str, str, str, str, str, str]) -> list[BindingType]:
    """Each key bound twice under one id `PREFIX.NAME`: to its action, shown while the user
    may act, and to an `explain` action, hidden, that says why not.

    Args:
        keys: (key, name, label, action, explain action, tooltip).
    """
    bindings: list[BindingType] = []
    for key, name, label, action, explain, tooltip in keys:
        binding_id = f"{prefix}.{name}"
        bindings.append(Binding(key, action, label, id=binding_id, tooltip=tooltip))
        bindings.append(
            Binding(
                key,
                explain,
                label,
                show=False,
                system=True,
                id=binding_id,
                tooltip=f"Why {label.lower()} is not available",
            )
        )
    return bindings


class DeckScreen(PacedFrames, Screen[None]):
    """A screen of the shipdeck app, with typed access to its client and model."""

    @property
    def deck(self) -> Deck:
        """The app, as a `Deck`."""
        return deck_of(self.app)

    @on(Worker.StateChanged)
    def _tell_the_app(self, event: Worker.StateChanged) -> None:
        """Hand a failed worker of this screen to the app, the one place that tells errors:
        `Worker.StateChanged` does not bubble, so without this a history page, a detail or
        an approvals list that could not be read would fail silently."""
        if event.state is WorkerState.ERROR:
            self.app.post_message(Worker.StateChanged(event.worker, event.state))

    def explain(self, label: str, reason: str | None) -> None:
        """Say why `label` (an action or decision) is not available, if it is not."""
        if reason is not None:
            tell(self, "warning", reason, title=f"{label} is not available")
