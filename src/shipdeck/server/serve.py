"""Run the server with uvicorn."""

from __future__ import annotations

import asyncio
from types import FrameType

import uvicorn

from ..engine import Engine, EngineConfig
from ..engine.store import open_store
from .app import EngineHook, create_app
from .protocol import BoundedHttpToolsProtocol


def run(
    *,
    host: str,
    port: int,
    database_url: str,
    config: EngineConfig,
    access_log: bool = False,
    prepare: EngineHook | None = None,
    background: EngineHook | None = None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM shut down gracefully).

    `prepare` and `background` are `create_app`'s hooks (the demo's seed and traffic).
    """
    open_store(database_url).close()  # fail fast, with a clear message, before binding
    app = create_app(
        database_url=database_url, config=config, prepare=prepare, background=background
    )
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=access_log,
            log_level="info",
            timeout_graceful_shutdown=3,
            h11_max_incomplete_event_size=64 * 1024,
            http=BoundedHttpToolsProtocol,
        )
    )
    server.run()


class _Server(uvicorn.Server):
    """uvicorn that ends open event streams when asked to stop.

    Otherwise every connected dashboard would hold shutdown for the whole grace period.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.app
        engine = getattr(getattr(app, "state", None), "engine", None)
        if isinstance(engine, Engine):
            loop = asyncio.get_running_loop()
            loop.call_soon_threadsafe(engine.close_subscriptions)
        super().handle_exit(sig, frame)
