"""`ForeignClient`: what every connector to another platform shares.

A connector presents a platform shipdeck did not write (Appaloft, Pushpaka) through the
`EngineClient` interface: it reads the platform's own API into rows (`_rows.RowLog`), serves
the matrix, history and details from them, follows the platform live (`_watch.Watcher`), and
sends the actions the platform has. What the platform lacks is said, never shown empty: no
approval queue (`NotOffered`), no promotions, and the capabilities name each action it does
not offer and why, so the TUI hides it and explains, as on a read-only server.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..domain import DeploymentEvent, DeploymentEventPage, Matrix, Status
from ..domain.analytics import AnalyticsQuery, Insights
from ..domain.promotions import EnvironmentView, PromotionView
from ._backoff import Backoff
from ._feed import QUEUE_SIZE, FeedOut
from ._matrix import index_from_matrix, window_of
from ._platform_http import PlatformHttp
from ._pump import Pumps
from ._rows import Refreshed, RowLog
from ._watch import Follow, News, Watcher
from .base import (
    ActionAccepted,
    ActionRefused,
    DeploymentFilters,
    EngineError,
    FeedItem,
    MatrixIndex,
    MatrixWindow,
    NotOffered,
    PromotionPlan,
    RollbackPlan,
)

_ACTIVE = (Status.QUEUED, Status.IN_PROGRESS, Status.PENDING)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The platform's deployments now, as rows, and what it lists around them."""

    rows: list[DeploymentEvent]
    """Each listed deployment's row for its status now."""
    services: list[str]
    environments: list[str]
    complete: bool = True
    """Every deployment is listed (not only the newest ones)."""


def version_label(row: DeploymentEvent) -> str:
    """How a deployment is named in a rollback plan: its version, else `@` and its short
    sha, else its id."""
    if row.version:
        return row.version
    return f"@{row.sha[:7]}" if row.sha else row.deployment_id


class ForeignClient(ABC):
    """The shared half of a connector; subclasses read and act on their platform."""

    platform = "the platform"
    """Its name in messages (`Appaloft`)."""

    def __init__(
        self,
        label: str,
        http: PlatformHttp,
        *,
        poll_interval: float = 5.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        healthy_after: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        """Create the client; nothing connects before `start()`.

        Args:
            label: what the header names it by (the URL as given, scheme prefix and all).
            http: the platform's API.
            poll_interval: seconds between refreshes of its deployments.
            backoff_base: the first reconnection's longest delay, in seconds.
            backoff_cap: the longest delay between attempts, in seconds.
            healthy_after: seconds the platform must answer for the backoff to start over.
            rng: the source of jitter.
        """
        self._label = label
        self.http = http
        self.rows = RowLog()
        self.news = News()
        self.poll_interval, self.healthy_after = poll_interval, healthy_after
        self.backoff = Backoff(backoff_base, 2.0, backoff_cap, rng or random.Random())
        self.pumps = Pumps()

    @property
    def label(self) -> str:
        """The URL it was given (`appaloft+http://host:3001`), for the header."""
        return self._label

    async def start(self) -> None:
        self.pumps.closed.clear()
        self.http.open()

    async def close(self) -> None:
        await self.pumps.close()
        await self.http.close()

    # -- what a subclass provides ------------------------------------------------------

    @abstractmethod
    async def snapshot(self) -> Snapshot:
        """Read the platform's deployments (raises `EngineError`, `SignInNeeded`)."""

    async def detail(self, deployment_id: str) -> None:  # noqa: B027  # most have none
        """Add a deployment's finer rows (its timeline), when the platform has them."""

    def follower(self) -> Follow | None:
        """What follows one active deployment live (a platform's own stream), if any."""
        return None

    # -- reads -------------------------------------------------------------------------

    async def refresh(self) -> Refreshed:
        """Read the platform now; rows new since the last read go to the feed.

        The first read is the baseline (what the TUI loads as its matrix), and a read that
        finds deployments gone (the platform restarted with other data) is a new one: their
        rows are in the matrix the TUI refetches, not news (old failures are not announced).
        """
        found = await self.snapshot()
        baseline = not self.rows.filled
        refreshed = self.rows.refresh(
            found.rows, found.services, found.environments, complete=found.complete
        )
        if refreshed.fresh and not baseline and not refreshed.gone:
            self.news.report(refreshed.fresh)
        return refreshed

    async def _filled(self) -> RowLog:
        if not self.rows.filled:
            await self.refresh()
        return self.rows

    async def matrix(self) -> Matrix:
        await self.refresh()
        return self.rows.matrix()

    async def matrix_index(self, sort: str = "name") -> MatrixIndex:
        # Small estates: the whole matrix once, held by the TUI (as a contract-only server's).
        return index_from_matrix(await self.matrix(), 0, sort)

    async def matrix_window(self, services: list[str]) -> MatrixWindow:
        rows = await self._filled()
        return MatrixWindow(0, window_of(rows.matrix(), services))

    async def environments(self) -> list[str]:
        return list((await self._filled()).environments)

    async def deployments(
        self, filters: DeploymentFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        rows = await self._filled()
        if filters.deployment_id is not None and cursor is None:
            await self.detail(filters.deployment_id)
        return rows.page(filters, cursor, limit)

    async def deployment(self, row_id: str) -> DeploymentEvent:
        row = (await self._filled()).get(row_id)
        if row is None:
            raise EngineError(f"{self.platform} has no row {row_id!r} (it may have been pruned)")
        return row

    def active(self) -> list[DeploymentEvent]:
        """The latest row of every deployment still queued or running."""
        latest: dict[str, DeploymentEvent] = {}
        for row in self.rows.page(DeploymentFilters(), None, 1_000_000).items[::-1]:
            latest[row.deployment_id] = row
        return [row for row in latest.values() if row.status in _ACTIVE]

    # -- what every connector lacks ----------------------------------------------------

    async def promote(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> ActionAccepted:
        raise ActionRefused(self._no_promotion(), kind="not-offered", status=501)

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlan:
        raise ActionRefused(self._no_promotion(), kind="not-offered", status=501)

    def _no_promotion(self) -> str:
        return f"{self.platform} has no promotion between environments that shipdeck can send"

    def _no_queue(self) -> NotOffered:
        return NotOffered(f"{self.platform} has no approval queue")

    async def promotions(self, status: str | None = None, limit: int = 200) -> list[PromotionView]:
        raise self._no_queue()

    async def pending_for_me(self) -> list[PromotionView]:
        return []  # no queue: nothing awaits anyone

    async def promotion(self, promotion_id: str) -> PromotionView:
        raise self._no_queue()

    async def approve(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        raise self._no_queue()

    async def reject(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        raise self._no_queue()

    async def withdraw_promotion(
        self, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        raise self._no_queue()

    async def environment_policies(self) -> list[EnvironmentView]:
        return []

    async def insights(self, query: AnalyticsQuery) -> Insights:
        # The platform's API keeps no history shipdeck could compute analytics from.
        raise NotOffered(f"{self.platform} has no analytics")

    # -- rollback, as the platform's rows say it -----------------------------------------

    async def rollback_plan(self, deployment_id: str) -> RollbackPlan:
        row, target = await self._rollback_target(deployment_id, None)
        return RollbackPlan(
            deployment_id=deployment_id,
            service=row.service,
            environment=row.environment,
            from_version=version_label(row),
            version=version_label(target),
        )

    async def _rollback_target(
        self, deployment_id: str, version: str | None
    ) -> tuple[DeploymentEvent, DeploymentEvent]:
        """The deployment and the successful one of its slot to go back to: the newest
        before it (or the newest named `version`).

        Raises:
            ActionRefused: the deployment is unknown, or no success precedes it.
        """
        rows = await self._filled()
        row = rows.latest(deployment_id)
        if row is None:
            raise ActionRefused(
                f"{self.platform} knows no deployment {deployment_id}", kind="not-found", status=404
            )
        latest: dict[str, DeploymentEvent] = {}
        for other in rows.slot(row.service, row.environment):
            latest[other.deployment_id] = other
        successes = [
            other
            for other in latest.values()
            if other.deployment_id != deployment_id
            and other.status is Status.SUCCESS
            and other.happened_at <= row.happened_at
            and (version is None or version_label(other) == version)
        ]
        if not successes:
            what = f"version {version}" if version else "successful deployment"
            raise ActionRefused(
                f"no earlier {what} of {row.service} in {row.environment} to roll back to",
                kind="nothing-to-roll-back",
            )
        return row, max(successes, key=lambda other: other.happened_at)

    def accepted(
        self, action: str, deployment_id: str, row: DeploymentEvent, status: str = "queued"
    ) -> ActionAccepted:
        """An accepted action on `row`'s slot (the platform named the new deployment)."""
        return ActionAccepted(
            deployment_id=deployment_id,
            action=action,
            service=row.service,
            environment=row.environment,
            version=version_label(row),
            status=status,
        )

    async def known(self, deployment_id: str) -> DeploymentEvent:
        """A deployment's latest row (refreshing once when it is not known yet).

        Raises:
            ActionRefused: the platform lists no such deployment.
        """
        row = (await self._filled()).latest(deployment_id)
        if row is None:
            await self.refresh()
            row = self.rows.latest(deployment_id)
        if row is None:
            raise ActionRefused(
                f"{self.platform} knows no deployment {deployment_id}", kind="not-found", status=404
            )
        return row

    # -- live feed ---------------------------------------------------------------------

    async def feed(self) -> AsyncIterator[FeedItem]:
        self.http.client  # noqa: B018  # not started: fail here, not in the background
        watcher = Watcher(
            refresh=self.refresh,
            news=self.news,
            backoff=self.backoff,
            poll_interval=self.poll_interval,
            healthy_after=self.healthy_after,
            follow=self.follower(),
            active=self.active,
        )
        out: FeedOut = asyncio.Queue(QUEUE_SIZE)
        async with self.pumps.run(watcher.pump, out, name=f"shipdeck feed {self.label}") as run:
            while (item := await run.next()) is not None:
                yield item


__all__ = ["ForeignClient", "Snapshot", "version_label"]
