"""Messages between the app and its screens.

Down, from the app's feed worker to the screens: rows, resyncs, the connection, pending
marks, promotions and environments (`broadcast`). Up, from a screen to the app, the one way
a screen changes what the app keeps: `ActionRequested` and `DecisionRequested`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import App
from textual.message import Message

from ..client import ConnectionStatus
from ..domain import DeploymentEvent
from ..domain.promotions import EnvironmentView, PromotionView
from .actions import ActionRequest


def broadcast(app: App[Any], message: Message) -> None:
    """Post `message` to every shipdeck screen.

    Not to Textual's default screen at the bottom: it has nothing to update, and a message
    to it dirties the whole display.
    """
    for screen in app.screen_stack[1:]:
        screen.post_message(message)


@dataclass
class RowsArrived(Message):
    """New rows reached the log (a burst is batched into one message)."""

    events: list[DeploymentEvent]


@dataclass
class RowsLoaded(Message):
    """The cells of these services came from the engine (they scrolled into view)."""

    services: list[str]


@dataclass
class MatrixOrdered(Message):
    """The engine's order of services by last change arrived."""


@dataclass
class ResyncRequested(Message):
    """Rows were missed: screens refetch what they show."""


@dataclass
class ConnectionUpdated(Message):
    """The live feed changed state."""

    status: ConnectionStatus


@dataclass
class PendingChanged(Message):
    """An action was sent to, or stopped waiting in, one of `service`'s slots."""

    service: str


@dataclass
class PromotionUpdated(Message):
    """A promotion awaiting approval was asked for or decided (approved, rejected…)."""

    promotion: PromotionView


@dataclass
class EnvironmentUpdated(Message):
    """An environment's lock, freeze or policy changed (the app's states are updated)."""

    environment: EnvironmentView


@dataclass
class ActionRequested(Message):
    """A screen asks the app to send an action (the user confirmed it)."""

    request: ActionRequest


@dataclass
class DecisionRequested(Message):
    """A screen asks the app to send a decision (`approve`, `reject`, `withdraw`)."""

    verb: str
    promotion: PromotionView
    comment: str
