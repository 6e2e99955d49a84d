"""`EmbeddedEngine`: the engine in the TUI's own process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from ..domain import DeploymentEvent, DeploymentEventPage, Matrix
from ..engine import DeploymentFilters, Engine, EngineConfig, EngineError, Resync
from .base import (
    Capabilities,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    FeedItem,
    HistoryFilters,
    LinkState,
    ResyncNeeded,
)
from .base import EngineError as ClientError

EngineHook = Callable[[Engine], Coroutine[Any, Any, None]]


class EmbeddedEngine:
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
            database_url: `sqlite:///…` of the store.
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
        self._closed = asyncio.Event()

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
            raise ClientError(f"cannot open {self.database_url}: {exc}") from exc
        if self._prepare is not None:
            await self._prepare(self._engine)
        if self._background is not None:
            self._task = asyncio.create_task(self._background(self._engine))

    async def close(self) -> None:
        self._closed.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._engine is not None:
            await self._engine.close()
            self._engine = None

    async def matrix(self) -> Matrix:
        return await self.engine.matrix()

    async def environments(self) -> list[str]:
        return await self.engine.environments()

    async def deployments(
        self, filters: HistoryFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        query = DeploymentFilters(
            service=filters.service,
            environment=filters.environment,
            status=filters.status,
            deployment_id=filters.deployment_id,
            actor=filters.actor,
            text=filters.text,
        )
        try:
            return await self.engine.deployments_page(query, cursor=cursor, limit=limit)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    async def deployment(self, row_id: str) -> DeploymentEvent:
        try:
            return await self.engine.get_deployment(row_id)
        except EngineError as exc:
            raise ClientError(exc.detail) from exc

    async def capabilities(self) -> Capabilities:
        return Capabilities(read_only=True, reason="this engine offers no actions yet")

    async def feed(self) -> AsyncIterator[FeedItem]:
        yield ConnectionChanged(ConnectionStatus(LinkState.LIVE))
        async with self.engine.subscribe() as subscription:
            while not self._closed.is_set():
                item = await subscription.next(timeout=1.0)
                if item is None:
                    continue
                if isinstance(item, Resync):
                    yield ResyncNeeded()
                elif item.type == "deployment":
                    yield DeploymentArrived(
                        item.seq, DeploymentEvent.model_validate_json(item.data)
                    )
