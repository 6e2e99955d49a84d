"""The `EngineClient` protocol: what the TUI needs from an engine, embedded or remote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ..domain import DeploymentEvent, DeploymentEventPage, Matrix, Status


class LinkState(StrEnum):
    """How the client's live feed is doing."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """The live feed's state, for the header."""

    state: LinkState
    attempt: int = 0
    """Reconnection attempt number while reconnecting."""
    since: datetime | None = None
    """When the feed was last lost (offline/reconnecting since)."""
    detail: str = ""
    """Why, in words (e.g. `connection refused`)."""


@dataclass(frozen=True, slots=True)
class DeploymentArrived:
    """A new row reached the log."""

    seq: int
    event: DeploymentEvent


@dataclass(frozen=True, slots=True)
class ResyncNeeded:
    """Events were missed: refetch the matrix and any open listing."""


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The live feed changed state."""

    status: ConnectionStatus


FeedItem = DeploymentArrived | ResyncNeeded | ConnectionChanged


@dataclass(frozen=True, slots=True)
class HistoryFilters:
    """Filters of the history listing; `text` matches any field, case-insensitively."""

    service: str | None = None
    environment: str | None = None
    status: Status | None = None
    actor: str | None = None
    deployment_id: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the engine offers this user beyond the read-only contract."""

    read_only: bool = True
    """No action endpoints, or the user may not act."""
    principal: str | None = None
    role: str | None = None
    reason: str = "the engine offers no actions"
    """Why actions are unavailable, in words."""
    actions: frozenset[str] = field(default_factory=frozenset)


class EngineError(Exception):
    """A request to the engine failed; the message is fit to show a person."""


class EngineClient(Protocol):
    """One engine, seen from the TUI. Both implementations behave the same."""

    label: str
    """`embedded` or the server's URL, for the header."""

    async def start(self) -> None:
        """Connect (remote) or open the store (embedded)."""
        ...

    async def close(self) -> None:
        """Release connections, stop the feed."""
        ...

    async def matrix(self) -> Matrix:
        """The matrix snapshot."""
        ...

    async def environments(self) -> list[str]:
        """Environments in engine order."""
        ...

    async def deployments(
        self, filters: HistoryFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        """One page of rows, newest first."""
        ...

    async def deployment(self, row_id: str) -> DeploymentEvent:
        """One row by id."""
        ...

    async def capabilities(self) -> Capabilities:
        """What this user may do (read-only when the engine has no actions)."""
        ...

    def feed(self) -> AsyncIterator[FeedItem]:
        """Live items, forever: rows as they arrive, resyncs, connection changes.

        Never raises for a lost connection: it reconnects and reports `ConnectionChanged`.
        """
        ...
