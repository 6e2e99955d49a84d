"""The FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..engine import Engine, EngineConfig
from .deps import single_query_values
from .openapi import install_openapi
from .problems import install_problem_handlers
from .requestid import RequestIdMiddleware
from .routes import actions, deployments, fetcher, governance, logs, matrix, meta, ops, stream
from .routes import analytics as analytics_routes
from .routes import control as control_routes
from .routes import webhooks as webhook_routes

EngineHook = Callable[[Engine], Coroutine[Any, Any, None]]
"""An async function given the app's engine (seeding, simulated traffic)."""

GZIP_MINIMUM_SIZE = 1024
"""Bodies shorter than this go as they are: gzip's header and the CPU are not worth it."""
GZIP_LEVEL = 5
"""zlib level: on a 2.2 MB matrix-like document, 5 gives 319 kB in 35 ms, 6 (zlib's
default) 310 kB in 49 ms, 9 (Starlette's default) 292 kB in 208 ms."""


class CompressedResponses:
    """gzip for responses of at least `GZIP_MINIMUM_SIZE` bytes when the caller sends
    `Accept-Encoding: gzip` (Starlette's `GZipMiddleware`: it adds `Vary: Accept-Encoding`,
    leaves `304`s, small bodies and `text/event-stream` alone, and compresses bodies over
    128 KiB on a worker thread).

    Streams never go through it: WebSockets, and any request for a path ending in `stream`
    (`/api/events/stream`, `…/status-stream`, `…/logs/stream`) or asking for
    `text/event-stream`, are passed straight to the app. The middleware excludes event
    streams by their content type already; this does not depend on that, nor on a stream's
    response head waiting for its first frame.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_stream(scope):
            await self.app(scope, receive, send)
        else:
            await self.gzip(scope, receive, send)


def _is_stream(scope: Scope) -> bool:
    if scope["path"].endswith("stream"):
        return True
    return any(
        name == b"accept" and b"text/event-stream" in value for name, value in scope["headers"]
    )


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
    for module in (deployments, governance, actions, logs, matrix, stream, fetcher, ops, meta):
        app.include_router(module.router)
    app.include_router(control_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(webhook_routes.router)
    install_openapi(app)
    app.add_middleware(CompressedResponses)
    app.add_middleware(RequestIdMiddleware)
    return app
