"""ASGI apps on a real uvicorn on a 127.0.0.1 port: in the test's loop, or in a thread (for
snapshot tests, whose app runs in a loop of its own). Stopping cuts open streams."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.conftest import free_port

GRACE = 0.2
"""Seconds open requests (never-ending streams) get before a stop cuts them."""


@dataclass
class Loopback:
    """One app served on one port; `stop()` and `start()` again (same port) to restart it."""

    app: Any
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=GRACE,
        )

    async def start(self, app: Any | None = None) -> Loopback:
        """Serve (`app` replaces the one served before: a restart with other data)."""
        self.app = app if app is not None else self.app
        server = self._server = uvicorn.Server(self._config())
        self._task = asyncio.create_task(server.serve())
        async with asyncio.timeout(10):
            while not server.started:  # uvicorn offers only a flag
                if self._task.done():
                    await self._task  # raises what stopped it
                await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        """Stop serving; open streams are cut after `GRACE` seconds."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is not None and task is not None:
            server.should_exit = True
            await task


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[Loopback]:
    """`app` on a free port for the block."""
    loopback = await Loopback(app).start()
    try:
        yield loopback
    finally:
        await loopback.stop()


@contextlib.contextmanager
def serving_in_thread(app: Any) -> Iterator[Loopback]:
    """`app` on a free port, in a thread with a loop of its own (for a test that runs the
    TUI in another loop, as snapshot tests do)."""
    loopback = Loopback(app)
    server = uvicorn.Server(loopback._config())
    thread = threading.Thread(target=server.run, name="loopback", daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            threading.Event().wait(0.01)
        yield loopback
    finally:
        server.should_exit = True
        thread.join(10)
