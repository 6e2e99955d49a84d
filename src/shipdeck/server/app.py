"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from ..engine import Engine, EngineConfig
from .openapi import install_openapi
from .problems import install_problem_handlers
from .routes import deployments, fetcher, logs, matrix, ops, stream


def create_app(
    engine: Engine | None = None,
    *,
    database_url: str | None = None,
    config: EngineConfig | None = None,
) -> FastAPI:
    """The HTTP surface over an engine.

    Pass a running `engine`, or a `database_url` for the app to open one at start-up and
    close at shutdown.
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
        await owned.matrix_document()  # warm: the first dashboard should not pay for it
        app.state.engine = owned
        try:
            yield
        finally:
            await owned.close()

    app = FastAPI(
        title="shipdeck engine",
        version=__version__,
        summary="The deployment-dashboard API, extended: ingest, matrix, history, live events.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for module in (deployments, logs, matrix, stream, fetcher, ops):
        app.include_router(module.router)
    install_openapi(app)
    return app
