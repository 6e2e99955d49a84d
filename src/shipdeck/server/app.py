"""The FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from .. import __version__
from ..engine import Engine, EngineConfig
from .deps import single_query_values
from .openapi import install_openapi
from .problems import install_problem_handlers
from .requestid import RequestIdMiddleware
from .routes import actions, deployments, fetcher, governance, logs, matrix, ops, stream

EngineHook = Callable[[Engine], Coroutine[Any, Any, None]]
"""An async function given the app's engine (seeding, simulated traffic)."""


def create_app(
    engine: Engine | None = None,
    *,
    database_url: str | None = None,
    config: EngineConfig | None = None,
    prepare: EngineHook | None = None,
    background: EngineHook | None = None,
) -> FastAPI:
    """The HTTP surface over an engine.

    Pass a running `engine`, or a `database_url` for the app to open one at start-up and
    close at shutdown. With a `database_url`, `prepare` is awaited once the engine is open
    (before serving: e.g. seeding the demo) and `background` runs while the app serves.
    """
    if engine is None and database_url is None:
        raise ValueError("create_app needs an engine or a database_url")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is not None:
            app.state.engine = engine
            yield
            return
        assert database_url is not None
        owned = await Engine.open(database_url, config)
        if prepare is not None:
            await prepare(owned)
        await owned.matrix.document()  # warm: the first dashboard should not pay for it
        app.state.engine = owned
        task = None if background is None else asyncio.create_task(background(owned))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await owned.close()

    app = FastAPI(
        title="shipdeck engine",
        version=__version__,
        summary="The deployment-dashboard API, extended: ingest, matrix, history, live events.",
        lifespan=lifespan,
        dependencies=[Depends(single_query_values)],
    )
    install_problem_handlers(app)
    for module in (deployments, governance, actions, logs, matrix, stream, fetcher, ops):
        app.include_router(module.router)
    install_openapi(app)
    app.add_middleware(RequestIdMiddleware)
    return app
