"""Run the server with uvicorn."""

from __future__ import annotations

import uvicorn

from ..engine import EngineConfig
from ..engine.store import open_store
from .app import create_app


def run(
    *,
    host: str,
    port: int,
    database_url: str,
    config: EngineConfig,
    access_log: bool = False,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM shut down gracefully)."""
    open_store(database_url).close()  # fail fast, with a clear message, before binding
    app = create_app(database_url=database_url, config=config)
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=3,
        h11_max_incomplete_event_size=64 * 1024,
    )
