"""`Deck`: what screens, the palette and the action keys need of the app.

Screens type against this protocol, not against `ShipdeckApp`, so nothing below the app
imports it. What changes the app's state travels up as messages (`ActionRequested`,
`DecisionRequested`); what is here is read, or opens a screen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from textual.app import App

from ..client import Capabilities, DeploymentFilters, EngineClient
from ..domain import DeploymentEvent
from ..domain.analytics import WindowName
from ..domain.promotions import PromotionView
from .config import TuiConfig
from .governance import Governance
from .model import MatrixModel

SortOrder = Literal["name", "change"]


class Deck(Protocol):
    """The app as its screens see it."""

    @property
    def client(self) -> EngineClient:
        """The engine client (screens fetch what they show with it)."""
        ...

    @property
    def matrix(self) -> MatrixModel:
        """The live matrix."""
        ...

    @property
    def governance(self) -> Governance:
        """What awaits this user's approval; environments' locks and freezes."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the engine lets this user do."""
        ...

    @property
    def force_read_only(self) -> bool:
        """`--read-only` was given."""
        ...

    @property
    def read_only(self) -> bool:
        """Read-only, by flag or because the engine offers no actions."""
        ...

    @property
    def clock(self) -> Callable[[], datetime]:
        """Now (tests give a fixed one)."""
        ...

    @property
    def tui_config(self) -> TuiConfig:
        """The TUI's configuration (profiles, notifications)."""
        ...

    def open_matrix(self) -> None:
        """Back to the matrix."""

    def open_history(self, filters: DeploymentFilters) -> None:
        """The history with these filters."""

    def open_detail(self, deployment_id: str, row: DeploymentEvent | None = None) -> None:
        """One logical deployment."""

    def open_approvals(self) -> None:
        """The approvals screen."""

    def open_insights(self, window: WindowName | None = None) -> None:
        """The insights screen (over `window`, when given)."""

    def open_promotion(self, promotion_id: str, promotion: PromotionView | None = None) -> None:
        """One promotion."""

    def open_logs(self, deployment_id: str, title: str | None = None) -> None:
        """A log pane following `deployment_id`."""

    def show_logs(self) -> object:
        """The logs screen (the open one, or a new one)."""

    def load_services(self, services: list[str]) -> None:
        """Fetch these services' cells (they came into view)."""

    def order_by_change(self) -> None:
        """Ask the engine for the services by last change."""

    def sort_matrix(self, order: SortOrder) -> None:
        """Sort the matrix."""

    def filter_matrix(self, text: str) -> None:
        """Filter the matrix's services."""

    def switch_profile(self, name: str) -> None:
        """Reconnect to another profile's engine."""

    def reload(self) -> None:
        """Fetch the matrix, approvals and what the screens show again."""


def deck_of(app: App[Any]) -> Deck:
    """The app as a `Deck` (shipdeck's screens and commands run in nothing else)."""
    return cast(Deck, app)
