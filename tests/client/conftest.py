"""Fixtures for the remote client: started clients, feed readers, and tiny fake HTTP servers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.client.base import ConnectionChanged, FeedItem, LinkState
from shipdeck.client.remote import RemoteClient

from ..conftest import ServerProcess

# Fast reconnection for tests; the defaults (0.5 s base, 30 s cap) are for people.
FAST: dict[str, Any] = {"backoff_base": 0.05, "backoff_cap": 0.3}


class FeedReader:
    """Reads a client's feed with a deadline on every wait (never a fixed sleep)."""

    def __init__(self, client: RemoteClient) -> None:
        self.feed = client.feed()
        self.seen: list[FeedItem] = []

    async def next(self, timeout: float = 10.0) -> FeedItem:
        """The next item; fails the test after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            item = await anext(self.feed)
        self.seen.append(item)
        return item

    async def until(
        self, predicate: Callable[[FeedItem], bool], timeout: float = 15.0
    ) -> list[FeedItem]:
        """Items up to and including the first that satisfies `predicate`."""
        items: list[FeedItem] = []
        async with asyncio.timeout(timeout):
            while True:
                item = await self.next(timeout)
                items.append(item)
                if predicate(item):
                    return items

    async def until_state(self, state: LinkState, timeout: float = 15.0) -> list[FeedItem]:
        """Items up to and including the next change to `state`."""
        return await self.until(lambda i: is_state(i, state), timeout)

    async def aclose(self) -> None:
        await self.feed.aclose()  # type: ignore[attr-defined]


def is_state(item: FeedItem, state: LinkState) -> bool:
    """Whether `item` reports the feed entering `state`."""
    return isinstance(item, ConnectionChanged) and item.status.state is state


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Like the shared fixture, but each stopped server's stderr pipe is closed too.

    The shared `ServerProcess` leaves the pipe open, which `filterwarnings = error` turns
    into a `ResourceWarning` failure once the process object is collected.
    """
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def start(self, timeout: float = 20.0) -> ServerProcess:
            started.append(self)
            return super().start(timeout)

        def kill(self, sig: int = signal.SIGKILL) -> None:
            proc = self.proc
            super().kill(sig)
            if proc is not None and proc.stderr is not None:
                proc.stderr.close()

    yield Tracked
    for server in started:
        server.stop()


@pytest.fixture
async def remote() -> AsyncIterator[Callable[..., Awaitable[RemoteClient]]]:
    """Make started `RemoteClient`s (fast backoff unless told otherwise); all closed at the end."""
    clients: list[RemoteClient] = []

    async def make(url: str, token: str | None = None, **options: Any) -> RemoteClient:
        client = RemoteClient(url, token, **{**FAST, **options})
        await client.start()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def reader() -> AsyncIterator[Callable[[RemoteClient], FeedReader]]:
    """Open feed readers; every feed is closed at the end."""
    readers: list[FeedReader] = []

    def make(client: RemoteClient) -> FeedReader:
        readers.append(FeedReader(client))
        return readers[-1]

    yield make
    for feed in readers:
        await feed.aclose()


# -- fake servers ----------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n"


@dataclass
class RawServer:
    """A raw TCP server on loopback speaking just enough HTTP/1.1 for one test."""

    url: str
    requests: list[dict[str, str]] = field(default_factory=list)
    """Headers of each request received (lower-case names)."""

    @property
    def connections(self) -> int:
        return len(self.requests)


async def read_request(reader: asyncio.StreamReader, server: RawServer) -> None:
    """Read one request head and record its headers."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        head = b""
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    server.requests.append(headers)


def respond(status: int, content_type: str, body: bytes) -> Handler:
    """A handler answering every request with one fixed response."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
    ) -> None:
        await read_request(reader, server)
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    return handler


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    """Serve `handler` on 127.0.0.1; every connection is closed when the block ends."""
    tasks: set[asyncio.Task[Any]] = set()
    state = RawServer(url="")

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer, state)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def post_row(url: str, key: str, **fields: Any) -> dict[str, Any]:
    """Ingest one row over HTTP the way CI does; return the stored row."""
    body = {
        "deployment_id": "gh-1",
        "service": "service-a",
        "environment": "dev",
        "status": "success",
        "happened_at": "2026-05-28T09:42:17Z",
        **fields,
    }
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/api/deployments", json=body, headers={"X-Api-Key": key})
    assert response.status_code == 201, response.text
    row: dict[str, Any] = response.json()
    return row
