"""Messages about the engine that travel from the app's feed worker to the screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..client import ConnectionStatus
from ..domain import DeploymentEvent
from ..domain.promotions import EnvironmentView, PromotionView


@dataclass
class RowsArrived(Message):
    """New rows reached the log (a burst is batched into one message)."""

    events: list[DeploymentEvent]


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
