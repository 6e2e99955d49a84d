"""The matrix index and windows: the remote client and a real server agree with the engine.

And a server without them (the contract alone, or one that ignores `services=`) still
gives the TUI what it needs: the whole matrix.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from shipdeck.client._matrix import WINDOW_LIMIT, index_from_matrix, seq_of_etag
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine

from ..conftest import ServerProcess
from .conftest import RawServer, raw_server

MakeRemote = Callable[..., Awaitable[RemoteClient]]
NOW = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)


async def seed(url: str, services: int, rows: int) -> None:
    rng = random.Random(services)
    engine = await Engine.open(url)
    try:
        for step in range(rows):
            await engine.ingest(
                DeploymentEventIngest(
                    deployment_id=f"d-{step}",
                    service=f"svc-{rng.randrange(services):04d}",
                    environment=rng.choice(["dev", "qa", "prod"]),
                    status=rng.choice([Status.SUCCESS, Status.FAILURE, Status.IN_PROGRESS]),
                    version=f"1.{step}",
                    happened_at=NOW + timedelta(seconds=rng.randrange(10_000)),
                )
            )
    finally:
        await engine.close()


async def test_remote_index_and_windows_equal_the_engines(
    server_factory: type[ServerProcess], sqlite_url: str, remote: MakeRemote
) -> None:
    await seed(sqlite_url, 500, 1500)
    server = server_factory(sqlite_url).start()
    client = await remote(server.url)
    embedded = EmbeddedClient(sqlite_url)
    await embedded.start()
    try:
        for sort in ("name", "change"):
            got, expected = await client.matrix_index(sort), await embedded.matrix_index(sort)
            assert got.full is None, "the server has the index: no whole matrix"
            assert got.services == expected.services
            assert got.last_change == expected.last_change
            # The engine's counts; the in-process client leaves them out (no screen shows them,
            # and they cost a read of every slot: its first paint waited for that).
            assert got.counts == (await embedded.engine.matrix.index_page(sort)).counts
            assert got.counts and expected.counts == {}
            assert got.environments == expected.environments == ["dev", "qa", "prod"]
        whole = await client.matrix()
        rebuilt = index_from_matrix(whole, 0, "change")
        assert rebuilt.services == (await client.matrix_index("change")).services
        # More names than one request takes: sent in parts, answered as one window.
        names = (await client.matrix_index()).services
        assert len(names) > WINDOW_LIMIT
        window = await client.matrix_window(names[::-1])
        assert window.matrix.rows == whole.rows
        assert window.seq > 0
        some = names[10:17]
        assert (await client.matrix_window(some)).matrix.rows == [
            row for row in whole.rows if row.service in some
        ]
        assert (await client.matrix_window(["no-such-service"])).matrix.rows == []
    finally:
        await embedded.close()


def test_seq_of_etag() -> None:
    assert seq_of_etag('W/"m-42"') == 42
    assert seq_of_etag('"s-7"') == 7
    assert seq_of_etag(None) == 0
    assert seq_of_etag('W/"something-else"') == 0


MATRIX = (
    b'{"generated_at":"2026-05-28T12:00:00Z","environments":["dev","prod"],"rows":['
    b'{"service":"a","slots":{"dev":{"current":{"id":"1","deployment_id":"d1","service":"a",'
    b'"environment":"dev","status":"success","happened_at":"2026-05-28T11:00:00Z"}}}},'
    b'{"service":"b","slots":{"prod":{"current":{"id":"2","deployment_id":"d2","service":"b",'
    b'"environment":"prod","status":"failure","happened_at":"2026-05-28T11:30:00Z"}}}}]}'
)


async def test_a_server_without_the_index_sends_the_whole_matrix(remote: MakeRemote) -> None:
    """404 on the index (a contract-only server), and `services=` ignored: still right."""
    paths: list[str] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
    ) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = head.split(" ")[1]
        paths.append(path)
        status, body = (404, b'{"detail":"Not Found"}')
        if not path.startswith("/api/matrix/services") and path.startswith("/api/matrix"):
            status, body = 200, MATRIX
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async with raw_server(handle) as server:
        client = await remote(server.url)
        index = await client.matrix_index("change")
        assert index.full is not None and [r.service for r in index.full.rows] == ["a", "b"]
        assert index.services == ["b", "a"]  # b changed last
        assert index.counts == {"dev": {"success": 1}, "prod": {"failure": 1}}
        window = await client.matrix_window(["b"])
        assert [row.service for row in window.matrix.rows] == ["b"]
    assert any(p.startswith("/api/matrix/services") for p in paths)
