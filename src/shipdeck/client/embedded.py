"""`EmbeddedClient`: the engine in the TUI's own process.

Actions run as the local principal (the OS user, with the role the engine's configuration
gives it); the engine's refusals become the same `ActionRefused` a server's problems do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..domain import DeploymentEvent, DeploymentEventPage, LogPage, Matrix, utc_now
from ..domain.analytics import AnalyticsQuery, Insights
from ..domain.promotions import EnvironmentView, PromotionView
from ..engine import Engine, EngineConfig, EngineError, Resync
from ..engine.store import redacted
from . import _results
from ._logbatch import LogOut, batched, link
from ._pump import Pumps
from .base import (
    ActionAccepted,
    ActionRefused,
    Capabilities,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    DeploymentFilters,
    EnvironmentChanged,
    FeedItem,
    LinkState,
    LogItem,
    LogStreamEnded,
    MatrixIndex,
    MatrixWindow,
    PromotionChanged,
    PromotionPlan,
    ResyncNeeded,
    RollbackPlan,
)
from .base import EngineError as ClientError

T = TypeVar("T")

EngineHook = Callable[[Engine], Coroutine[Any, Any, None]]


class EmbeddedClient:
    """An `EngineClient` over an in-process engine on a local database."""

    label = "embedded"

    def __init__(
        self,
        database_url: str,
        config: EngineConfig | None = None,
        *,
        prepare: EngineHook | None = None,
        background: EngineHook | None = None,
    ) -> None:
        """Create the client; nothing is opened before `start()`.

        Args:
            database_url: `sqlite:///…` or `postgresql://…` of the store.
            config: engine configuration (environment order, …).
            prepare: awaited once the engine is open, before `start()` returns (seeding).
            background: run as a task for the client's lifetime (simulated traffic).
        """
        self.database_url = database_url
        self._config = config
        self._prepare = prepare
        self._background = background
        self._engine: Engine | None = None
        self._task: asyncio.Task[None] | None = None
        self._pumps = Pumps()

    @property
    def engine(self) -> Engine:
        """The running engine."""
        if self._engine is None:
            raise ClientError("the embedded engine is not started")
        return self._engine

    async def start(self) -> None:
        try:
            self._engine = await Engine.open(self.database_url, self._config)
        except Exception as exc:  # StoreError, sqlite errors: say what and where
            # Never the password of a postgresql:// URL on screen.
            raise ClientError(f"cannot open {redacted(self.database_url)}: {exc}") from exc
        if self._prepare is not None:
            await self._prepare(self._engine)
        if self._background is not None:
            self._task = asyncio.create_task(self._background(self._engine))

    async def close(self) -> None:
        await self._pumps.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._engine is not None:
            await self._engine.close()
            self._engine = None

    async def matrix(self) -> Matrix:
        return await self.engine.matrix.get()

    async def matrix_index(self, sort: str = "name") -> MatrixIndex:
        # Values straight from the engine (no JSON), and no counts: the TUI does not show
        # them, and the engine's index that has them costs a read of every slot.
        found = await self.engine.matrix.overview(sort)
        return MatrixIndex(
            found.seq,
            found.environments,
            [name for name, _ in found.services],
            dict(found.services),
        )

    async def matrix_window(self, services: list[str]) -> MatrixWindow:
        document = await self.engine.matrix.window(services)
        return MatrixWindow(document.seq, Matrix.model_validate_json(document.body))

    async def environments(self) -> list[str]:
        return await self.engine.deployments.environments()

    async def deployments(
        self, filters: DeploymentFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        try:
            return await self.engine.deployments.page(filters, cursor=cursor, limit=limit)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    async def deployment(self, row_id: str) -> DeploymentEvent:
        try:
            return await self.engine.deployments.get(row_id)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    async def capabilities(self) -> Capabilities:
        engine = self.engine
        who = await engine.whoami(engine.local_principal())
        return _results.capabilities(who.model_dump(mode="json"))

    # -- actions -----------------------------------------------------------------------

    async def deploy(self, service: str, environment: str, version: str) -> ActionAccepted:
        engine = self.engine
        action = engine.actions.deploy(engine.local_principal(), service, environment, version)
        return _results.accepted(await _refusing(action))

    async def promote(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> ActionAccepted:
        engine = self.engine
        action = engine.actions.promote(
            engine.local_principal(), service, from_environment, to_environment
        )
        return _results.accepted(await _refusing(action))

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlan:
        plan = self.engine.actions.promotion_plan(service, from_environment, to_environment)
        return _results.plan(await _refusing(plan))

    async def rollback_plan(self, deployment_id: str) -> RollbackPlan:
        return _results.rollback_plan(
            await _refusing(self.engine.actions.rollback_plan(deployment_id))
        )

    async def rollback(self, deployment_id: str, version: str | None = None) -> ActionAccepted:
        engine = self.engine
        action = engine.actions.rollback(engine.local_principal(), deployment_id, version)
        return _results.accepted(await _refusing(action))

    async def cancel(self, deployment_id: str) -> ActionAccepted:
        engine = self.engine
        action = engine.actions.cancel(engine.local_principal(), deployment_id)
        return _results.accepted(await _refusing(action))

    async def retry(self, deployment_id: str) -> ActionAccepted:
        engine = self.engine
        action = engine.actions.retry(engine.local_principal(), deployment_id)
        return _results.accepted(await _refusing(action))

    # -- promotions awaiting approval, environments ----------------------------------

    async def promotions(self, status: str | None = None, limit: int = 200) -> list[PromotionView]:
        try:
            page = await self.engine.governance.promotions_page(status=status, limit=limit)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc
        return page.items

    async def pending_for_me(self) -> list[PromotionView]:
        engine = self.engine
        return await engine.governance.pending_for(engine.local_principal())

    async def promotion(self, promotion_id: str) -> PromotionView:
        try:
            return await self.engine.governance.promotion(promotion_id)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    async def approve(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        engine = self.engine
        return await _refusing(
            engine.governance.approve(engine.local_principal(), promotion_id, comment or None)
        )

    async def reject(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        engine = self.engine
        return await _refusing(
            engine.governance.reject(engine.local_principal(), promotion_id, comment or None)
        )

    async def withdraw_promotion(
        self, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        engine = self.engine
        action = engine.governance.withdraw(engine.local_principal(), promotion_id, comment or None)
        return await _refusing(action)

    async def environment_policies(self) -> list[EnvironmentView]:
        return await self.engine.governance.environment_views()

    async def insights(self, query: AnalyticsQuery) -> Insights:
        try:
            return await self.engine.analytics.insights(query)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    # -- logs --------------------------------------------------------------------------

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        try:
            return await self.engine.logs(deployment_id, after, limit)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        engine = self.engine  # not started: fail here, not in the background

        async def pump(out: LogOut) -> None:
            await out.put(link(LinkState.LIVE))
            try:
                await engine.logs(deployment_id, after, 1)  # the same checks as a server's
                follower = engine.follow_logs(deployment_id, after)
            except EngineError as exc:
                await out.put(link(LinkState.OFFLINE, since=utc_now(), detail=exc.detail))
                return
            async with follower as lines:
                async for line in lines:
                    await out.put(line)
            if follower.closed:
                detail = "the engine is shutting down"
                await out.put(link(LinkState.OFFLINE, since=utc_now(), detail=detail))
            else:
                await out.put(LogStreamEnded())

        return batched(
            pump,
            after=after,
            name=f"shipdeck logs {deployment_id}",
            pumps=self._pumps,
        )

    async def feed(self) -> AsyncIterator[FeedItem]:
        async with self.engine.subscribe() as subscription:
            # Live once subscribed: whatever is committed after this item is delivered.
            yield ConnectionChanged(ConnectionStatus(LinkState.LIVE))
            while not self._pumps.closed.is_set():
                item = await subscription.next(timeout=1.0)
                if item is None:
                    continue
                if isinstance(item, Resync):
                    yield ResyncNeeded()
                elif item.type == "deployment":
                    yield DeploymentArrived(
                        item.seq, DeploymentEvent.model_validate_json(item.data)
                    )
                elif item.type == "promotion":
                    yield PromotionChanged(PromotionView.model_validate_json(item.data))
                elif item.type == "environment":
                    yield EnvironmentChanged(EnvironmentView.model_validate_json(item.data))


async def _refusing(call: Awaitable[T]) -> T:
    """Await an engine call; its refusal becomes the client's `ActionRefused`."""
    try:
        return await call
    except EngineError as exc:
        raise ActionRefused(exc.detail, kind=exc.kind, status=exc.status) from exc
