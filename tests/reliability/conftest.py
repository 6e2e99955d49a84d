"""The fault-injection suite: a cutting TCP proxy, servers with generous limits, sizes.

Every test has a fast size (run by `make test`) and, where the issue asks for more, a full
size marked `full` (run by `make test-reliability` and CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ServerProcess

SERVER_TOML = """
[rate_limit]
per_second = 1000000
burst = 1000000

[stream]
ping_interval = 1.0

[executor]
driver = "fast"

[drivers.fast]
kind = "simulate"
scale = 0.01
failure_rate = 0.1

[policies.prod]
approvals_required = 2
"""


@pytest.fixture
def server_config(tmp_path: Path) -> Path:
    """An engine TOML for servers under load: no rate limits, a fast simulate driver."""
    path = tmp_path / "engine.toml"
    path.write_text(SERVER_TOML)
    return path


@dataclass
class CuttingProxy:
    """A loopback TCP proxy that cuts server → client streams after a random byte budget."""

    upstream_port: int
    rng: random.Random
    min_bytes: int = 200
    max_bytes: int = 20_000
    cutting: bool = True
    cuts: int = 0
    connections: int = 0
    connected_at: list[float] = field(default_factory=list)
    """`time.monotonic()` of each accepted connection."""
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    def cut_all(self) -> int:
        """Cut every open connection now; how many."""
        cut = list(self._open)
        for writer in cut:
            writer.transport.abort()
        self.cuts += len(cut)
        return len(cut)

    async def start(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.connected_at.append(time.monotonic())
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        budget = self.rng.randint(self.min_bytes, self.max_bytes) if self.cutting else None
        self._open.add(writer)
        upward = asyncio.create_task(_pipe(reader, up_writer, None))
        downward = asyncio.create_task(_pipe(up_reader, writer, budget))
        try:
            done, _ = await asyncio.wait({upward, downward}, return_when=asyncio.FIRST_COMPLETED)
            if downward in done and downward.result():
                self.cuts += 1
        finally:
            for part in (upward, downward):
                part.cancel()
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            self._open.discard(writer)
            self._tasks.discard(task)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: int | None
) -> bool:
    """Copy until EOF; `True` when the budget ran out (a cut)."""
    sent = 0
    while True:
        chunk = await reader.read(4096)
        if not chunk:
            return False
        if budget is not None and sent + len(chunk) >= budget:
            writer.write(chunk[: max(0, budget - sent)])
            with contextlib.suppress(Exception):
                await writer.drain()
            return True
        sent += len(chunk)
        writer.write(chunk)
        await writer.drain()


async def until(condition: Callable[[], bool], interval: float = 0.02) -> None:
    """Wait for `condition` (state owned by other tasks; callers bound it with a timeout)."""
    while not condition():  # noqa: ASYNC110  # polling a counter, not waiting on an event
        await asyncio.sleep(interval)


@pytest.fixture
async def cutting_proxy() -> AsyncIterator[type[CuttingProxy]]:
    made: list[CuttingProxy] = []

    class Tracked(CuttingProxy):
        async def start(self) -> CuttingProxy:
            made.append(self)
            return await super().start()

    yield Tracked
    for proxy in made:
        await proxy.close()


__all__ = ["SERVER_TOML", "CuttingProxy", "ServerProcess", "until"]
