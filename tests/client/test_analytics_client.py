"""`EngineClient.insights`: remote (a real `shipdeck serve`) and embedded agree; a server with
only upstream's nine endpoints is read one document at a time; one with none says so."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from shipdeck.client._analytics import NO_ANALYTICS, NO_FILTERS
from shipdeck.client.base import NotOffered
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain.analytics import DOCUMENTS, AnalyticsKind, AnalyticsQuery, Insights
from shipdeck.engine import Engine

from ..conftest import ServerProcess
from ..engine.test_analytics import LOG, NOW, ingest
from .conftest import RawServer, post_row, raw_server, read_request, respond

MakeRemote = Callable[..., Awaitable[RemoteClient]]


def yesterday(hour: int, minute: int = 0) -> str:
    day = datetime.now(UTC).date() - timedelta(days=1)
    return f"{day.isoformat()}T{hour:02}:{minute:02}:00Z"


async def test_remote_and_embedded_read_the_same_insights(
    server: ServerProcess, api_key: str, db_url: str, remote: MakeRemote
) -> None:
    for status, at in (("in-progress", yesterday(9)), ("failure", yesterday(9, 30))):
        await post_row(
            server.url,
            api_key,
            status=status,
            happened_at=at,
            environment="prod",
            deployment_id="d-1",
        )
    await post_row(server.url, api_key, status="success", happened_at=yesterday(11))  # dev
    client = await remote(server.url)
    query = AnalyticsQuery(window="14d", environment="prod")
    found = await client.insights(query)
    assert found.window.days == 14
    assert [(s.status.value, s.count) for s in found.status_distribution.statuses if s.count] == [
        ("in-progress", 1),
        ("failure", 1),
    ]
    assert found.duration_histogram.p50_minutes == pytest.approx(30.0)
    assert [i.severity for i in found.incidents.incidents] == ["critical"]
    embedded = EmbeddedClient(db_url)
    await embedded.start()
    try:
        assert await embedded.insights(query) == found
    finally:
        await embedded.close()


async def test_a_server_without_analytics_says_so(remote: MakeRemote) -> None:
    async with raw_server(respond(404, "application/problem+json", b"{}")) as fake:
        client = await remote(fake.url)
        with pytest.raises(NotOffered, match=NO_ANALYTICS):
            await client.insights(AnalyticsQuery())


async def test_a_server_with_only_the_nine_documents(engine: Engine, remote: MakeRemote) -> None:
    """Upstream's API: no `insights`, nine documents; they are read together."""
    engine.clock = lambda: NOW
    await ingest(engine, LOG)
    expected = await engine.analytics.insights(AnalyticsQuery())
    bodies = {
        f"/api/analytics/{kind.value}": getattr(expected, kind.value.replace("-", "_"))
        .model_dump_json(by_alias=True)
        .encode()
        for kind in AnalyticsKind
    }

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
    ) -> None:
        line = await reader.readline()
        await read_request(reader, server)
        path = line.split()[1].decode().split("?")[0]
        status, body = (200, bodies[path]) if path in bodies else (404, b"{}")
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async with raw_server(handler) as fake:
        client = await remote(fake.url)
        found = await client.insights(AnalyticsQuery())
        assert isinstance(found, Insights) and found == expected
        assert len(fake.requests) == 1 + len(DOCUMENTS)
        with pytest.raises(NotOffered, match=NO_FILTERS):  # it would ignore the filter
            await client.insights(AnalyticsQuery(service="api"))
