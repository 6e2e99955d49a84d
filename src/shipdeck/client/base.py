"""The `EngineClient` protocol: what the TUI needs from an engine, embedded or remote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ..domain import DeploymentEvent, DeploymentEventPage, LogLine, LogPage, Matrix
from ..domain.analytics import AnalyticsQuery, Insights
from ..domain.promotions import EnvironmentView, PromotionView
from ..domain.queries import (
    DeploymentFilters as DeploymentFilters,  # the listing's one filters class
)


class LinkState(StrEnum):
    """How the client's live feed is doing."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    CATCHING_UP = "catching up"
    """Connected again, and refetching what it shows: the server could not replay what was
    missed (the TUI sets it; `live` follows once what it shows is the server's)."""


@dataclass(frozen=True, slots=True)
class Replica:
    """One server of several that serve the same engine (replicas on one database)."""

    url: str
    """Its base URL."""
    number: int = 1
    """Its place in the profile's list, from 1."""
    count: int = 1
    """How many servers the list names."""

    def __str__(self) -> str:
        """`http://b:8082 (2/3)`; just the URL when there is only one."""
        return self.url if self.count <= 1 else f"{self.url} ({self.number}/{self.count})"


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
    replica: Replica | None = None
    """The server the feed is on (or tries next); `None` for the embedded engine."""


@dataclass(frozen=True, slots=True)
class DeploymentArrived:
    """A new row reached the log."""

    seq: int
    event: DeploymentEvent


@dataclass(frozen=True, slots=True)
class MatrixIndex:
    """The matrix without its slots: every service, in an order, with its last change.

    What the TUI loads first at any size (10,000 services are ~1 MB of JSON before gzip);
    the rows on screen come next, as `MatrixWindow`s.
    """

    seq: int
    """The event position it reflects at least (live rows after it are newer)."""
    environments: list[str]
    services: list[str]
    """Every service, in the order asked for (by name, or newest change first)."""
    last_change: dict[str, int]
    """Per service: the newest `happened_at` (µs) of any slot's current or next row."""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per environment: how many slots have each current status."""
    full: Matrix | None = None
    """An engine that cannot send windows (a contract-only server) sent all of it."""


@dataclass(frozen=True, slots=True)
class MatrixWindow:
    """The matrix rows of some services, and the event position they reflect at least."""

    seq: int
    matrix: Matrix


@dataclass(frozen=True, slots=True)
class ResyncNeeded:
    """Events were missed: refetch the matrix and any open listing."""


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The live feed changed state."""

    status: ConnectionStatus


@dataclass(frozen=True, slots=True)
class PromotionChanged:
    """A promotion awaiting approval was asked for, approved, rejected, withdrawn or expired."""

    promotion: PromotionView


@dataclass(frozen=True, slots=True)
class EnvironmentChanged:
    """An environment was locked or unlocked, or its policy changed."""

    environment: EnvironmentView


FeedItem = (
    DeploymentArrived | ResyncNeeded | ConnectionChanged | PromotionChanged | EnvironmentChanged
)


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
    reasons: dict[str, str] = field(default_factory=dict)
    """Why one action is unavailable, when it is not `reason` (a platform without it)."""
    deploy_versions: bool = True
    """Whether `deploy` takes a version; False: the platform redeploys the slot from its own
    source (the version given is ignored)."""


class EngineError(Exception):
    """A request to the engine failed; the message is fit to show a person."""


class NotOffered(EngineError):
    """The server has no such surface (an approval queue, a log stream…): not an empty one.

    The message says what is missing, e.g. `this server has no approval queue`.
    """


class ActionRefused(EngineError):
    """The engine refused an action; `str()` is the problem's sentence (what to do)."""

    def __init__(self, detail: str, *, kind: str = "action-refused", status: int = 409) -> None:
        super().__init__(detail)
        self.detail = detail
        self.kind = kind
        """The problem type's last segment, e.g. `nothing-to-roll-back`, `slot-busy`."""
        self.status = status


ACTIONS: tuple[str, ...] = ("deploy", "promote", "rollback", "cancel", "retry")
"""Every action a user may be allowed (`Capabilities.actions` holds a subset)."""


@dataclass(frozen=True, slots=True)
class ActionAccepted:
    """The engine accepted an action: `deployment_id` is the logical deployment it made
    (or, for `cancel`, the one it cancels)."""

    deployment_id: str
    action: str
    service: str
    environment: str
    version: str
    status: str = "queued"
    """The status the action's row was appended with (`queued`, or `cancelled` for cancel)."""
    superseded: tuple[str, ...] = ()
    """Queued deployments of the slot this one replaced (they end `cancelled`)."""
    promotion_id: str | None = None
    """A promotion into an environment that asks for approvals: its id (status `waiting`)."""


@dataclass(frozen=True, slots=True)
class PromotionPlan:
    """What a promotion would do, before it is asked for."""

    service: str
    from_environment: str
    to_environment: str
    version: str
    policy: str
    """The policy that applies to the target environment, in words."""


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """What a rollback would do, before it is asked for."""

    deployment_id: str
    service: str
    environment: str
    from_version: str | None
    version: str


@dataclass(frozen=True, slots=True)
class LogLinesArrived:
    """New lines of the followed deployment, in order, each `seq` greater than the last."""

    lines: tuple[LogLine, ...]


@dataclass(frozen=True, slots=True)
class LogStreamEnded:
    """The deployment is over and every line was delivered; nothing more will come."""

    reason: str = "the deployment is over"


@dataclass(frozen=True, slots=True)
class LogLinkChanged:
    """The log stream's connection changed (reconnecting, live again, or stopped for good)."""

    status: ConnectionStatus


LogItem = LogLinesArrived | LogStreamEnded | LogLinkChanged


class EngineClient(Protocol):
    """One engine, seen from the TUI. Both implementations behave the same."""

    @property
    def label(self) -> str:
        """`embedded` or the server's URL (the one in use, of several), for the header."""
        ...

    async def start(self) -> None:
        """Connect (remote) or open the store (embedded)."""
        ...

    async def close(self) -> None:
        """Release connections, stop the feed."""
        ...

    async def matrix(self) -> Matrix:
        """The matrix snapshot."""
        ...

    async def matrix_index(self, sort: str = "name") -> MatrixIndex:
        """Every service with its last change, by `name` or newest `change` first."""
        ...

    async def matrix_window(self, services: list[str]) -> MatrixWindow:
        """The matrix rows of these services (those with no slot are left out)."""
        ...

    async def environments(self) -> list[str]:
        """Environments in engine order."""
        ...

    async def deployments(
        self, filters: DeploymentFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        """One page of rows, newest first."""
        ...

    async def deployment(self, row_id: str) -> DeploymentEvent:
        """One row by id."""
        ...

    async def capabilities(self) -> Capabilities:
        """What this user may do (read-only when the engine has no actions)."""
        ...

    async def deploy(self, service: str, environment: str, version: str) -> ActionAccepted:
        """Deploy `version` of `service` to `environment` (an engine whose capabilities say
        `deploy_versions=False` redeploys the slot from its own source and ignores `version`).

        Raises:
            ActionRefused: the engine refused (the message says why and what to do).
            EngineError: the engine could not be reached.
        """
        ...

    async def promote(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> ActionAccepted:
        """Promote `from_environment`'s current successful version to the next environment."""
        ...

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlan:
        """What `promote` would do (target, version, policy), without doing it."""
        ...

    async def rollback_plan(self, deployment_id: str) -> RollbackPlan:
        """What `rollback` would deploy (the slot's previous successful version)."""
        ...

    async def rollback(self, deployment_id: str, version: str | None = None) -> ActionAccepted:
        """Roll the deployment's slot back (to its previous successful version by default)."""
        ...

    async def cancel(self, deployment_id: str) -> ActionAccepted:
        """Cancel a queued or running deployment."""
        ...

    async def retry(self, deployment_id: str) -> ActionAccepted:
        """Run a finished deployment's version in its slot again."""
        ...

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        """Up to `limit` lines of a deployment numbered after `after`, oldest first."""
        ...

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        """A deployment's lines after `after`: history, then live, each line once.

        Reconnects on its own (reporting `LogLinkChanged`); ends after `LogStreamEnded`, or
        after a `LogLinkChanged` to `OFFLINE` when retrying cannot help (refused key, unknown
        deployment).
        """
        ...

    # -- promotions awaiting approval, environments ----------------------------------

    async def promotions(self, status: str | None = None, limit: int = 200) -> list[PromotionView]:
        """Promotions newest first (`status`: e.g. `awaiting-approval`).

        Raises:
            NotOffered: the engine has no approval queue (not: an empty one).
        """
        ...

    async def pending_for_me(self) -> list[PromotionView]:
        """Promotions awaiting approval that this user may approve now (none without a key)."""
        ...

    async def promotion(self, promotion_id: str) -> PromotionView:
        """One promotion with its approvals, policy and what still blocks it."""
        ...

    async def approve(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        """Approve a promotion; at its quorum the deployment is queued.

        Raises:
            ActionRefused: the engine refused (self-approval, already decided, …).
            EngineError: the engine could not be reached.
        """
        ...

    async def reject(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        """Reject a promotion: its target slot gets a `rejected` row."""
        ...

    async def withdraw_promotion(
        self, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        """Withdraw a promotion (the requester or an admin): a `cancelled` row."""
        ...

    async def environment_policies(self) -> list[EnvironmentView]:
        """Every environment's policy, lock and active freeze; none from an engine without
        policies."""
        ...

    async def insights(self, query: AnalyticsQuery) -> Insights:
        """Every analytics document of one window and set of filters, at once: the DORA
        keys, daily successes and failures, failure rates, durations, the promotion
        funnel, statuses, the heatmap, top deployers and incidents.

        Raises:
            NotOffered: the engine has no analytics (not: no deployments in the window).
        """
        ...

    def feed(self) -> AsyncIterator[FeedItem]:
        """Live items, forever: rows as they arrive, resyncs, connection changes.

        Promotions and environments that change arrive as `PromotionChanged` and
        `EnvironmentChanged`. Never raises for a lost connection: it reconnects and reports
        `ConnectionChanged`.
        """
        ...
