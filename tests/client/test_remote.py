"""`RemoteClient` against a real `shipdeck serve` on loopback, and against tiny fake servers.

The fake servers stand in for what our server never does: stay silent, hang up at once,
answer with HTML or garbage, use UUID event ids, skip sequence numbers.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shipdeck.client._http import Transport
from shipdeck.client.base import (
    ConnectionChanged,
    DeploymentArrived,
    DeploymentFilters,
    EngineError,
    LinkState,
    ResyncNeeded,
)
from shipdeck.client.remote import NO_ACTIONS, RemoteClient
from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine

from ..conftest import ServerProcess, free_port
from .conftest import (
    SSE_HEAD,
    FeedReader,
    RawServer,
    is_state,
    post_row,
    raw_server,
    read_request,
    respond,
)

MakeRemote = Callable[..., Awaitable[RemoteClient]]
MakeReader = Callable[[RemoteClient], FeedReader]


def arrived(items: list[Any]) -> list[DeploymentArrived]:
    return [item for item in items if isinstance(item, DeploymentArrived)]


def reconnecting(items: list[Any]) -> list[ConnectionChanged]:
    return [i for i in items if is_state(i, LinkState.RECONNECTING)]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shipdeck.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- reads -----------------------------------------------------------------------------


async def test_matrix_and_environments(
    server: ServerProcess, api_key: str, remote: MakeRemote
) -> None:
    await post_row(server.url, api_key, environment="prod", version="1.0")
    await post_row(server.url, api_key, environment="dev", version="1.1")
    client = await remote(server.url)

    assert await client.environments() == ["dev", "prod"]
    matrix = await client.matrix()
    assert matrix.environments == ["dev", "prod"]
    assert [row.service for row in matrix.rows] == ["service-a"]
    assert matrix.rows[0].slots["prod"].current.version == "1.0"

    # Unchanged: the server answers 304 and the client reuses what it had.
    assert await client.matrix() is matrix
    await post_row(server.url, api_key, environment="prod", version="1.2")
    changed = await client.matrix()
    assert changed.rows[0].slots["prod"].current.version == "1.2"


async def test_deployments_each_filter(
    server: ServerProcess, api_key: str, remote: MakeRemote
) -> None:
    rows = [
        await post_row(server.url, api_key, deployment_id="d-1", actor="alice", version="1.0"),
        await post_row(
            server.url, api_key, deployment_id="d-2", service="billing", status="failure"
        ),
        await post_row(
            server.url, api_key, deployment_id="d-3", environment="prod", version="2.0-HOTFIX"
        ),
    ]
    client = await remote(server.url)

    async def ids(**filters: Any) -> set[str]:
        page = await client.deployments(DeploymentFilters(**filters))
        return {item.id for item in page.items}

    assert await ids() == {row["id"] for row in rows}
    assert await ids(service="billing") == {rows[1]["id"]}
    assert await ids(environment="prod") == {rows[2]["id"]}
    assert await ids(status=Status.FAILURE) == {rows[1]["id"]}
    assert await ids(actor="alice") == {rows[0]["id"]}
    assert await ids(deployment_id="d-3") == {rows[2]["id"]}
    assert await ids(text="hotfix") == {rows[2]["id"]}
    assert await ids(text="ALI") == {rows[0]["id"]}
    # Our server's `q` also matches field *names*; the client keeps rows whose values match.
    assert await ids(text="happened") == set()


async def test_deployments_pages_with_cursor(
    server: ServerProcess, api_key: str, remote: MakeRemote
) -> None:
    posted = [
        await post_row(server.url, api_key, happened_at=f"2026-05-28T09:4{n}:00Z") for n in range(5)
    ]
    client = await remote(server.url)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await client.deployments(DeploymentFilters(), cursor=cursor, limit=2)
        pages += 1
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [row["id"] for row in reversed(posted)]  # newest first, each once


async def test_deployment_by_id_and_unknown_id(
    server: ServerProcess, api_key: str, remote: MakeRemote
) -> None:
    row = await post_row(server.url, api_key, version="3.1")
    client = await remote(server.url)

    found = await client.deployment(row["id"])
    assert (found.id, found.version) == (row["id"], "3.1")
    missing = str(uuid.uuid4())
    with pytest.raises(EngineError, match=rf"^Not found: .*{missing}"):
        await client.deployment(missing)


async def test_contract_only_server_ignoring_q_and_actor(remote: MakeRemote) -> None:
    def row(n: int, **fields: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "deployment_id": f"d-{n}",
            "service": "svc",
            "environment": "dev",
            "status": "success",
            "happened_at": "2026-05-28T09:42:17Z",
            **fields,
        }

    page = {"items": [row(1, actor="Alice"), row(2, actor="bob"), row(3)], "next_cursor": "c2"}
    async with raw_server(respond(200, "application/json", json.dumps(page).encode())) as fake:
        client = await remote(fake.url)
        by_text = await client.deployments(DeploymentFilters(text="aLiCe"))
        by_actor = await client.deployments(DeploymentFilters(actor="bob"))
    assert [item.actor for item in by_text.items] == ["Alice"]
    assert by_text.next_cursor == "c2"  # the page boundary is still the server's
    assert [item.actor for item in by_actor.items] == ["bob"]


# -- errors ----------------------------------------------------------------------------


async def test_server_down(remote: MakeRemote) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = await remote(url)
    with pytest.raises(EngineError, match=rf"^cannot reach {url}: connection refused$"):
        await client.matrix()


async def test_request_timeout(remote: MakeRemote) -> None:
    async def never_answer(reader: Any, writer: Any, server: RawServer) -> None:
        await read_request(reader, server)
        await asyncio.Event().wait()

    async with raw_server(never_answer) as fake:
        client = await remote(fake.url, timeout=0.3)
        with pytest.raises(EngineError, match=r"did not answer within 0\.3 s$"):
            await client.environments()


@pytest.mark.parametrize(
    ("status", "content_type", "body", "message"),
    [
        (502, "text/html", b"<h1>Bad gateway</h1>", r"^HTTP 502 from http://\S+/api/matrix$"),
        (200, "application/json", b"{not json", r"did not answer with valid JSON$"),
        (200, "application/json", b'{"rows": 3}', r"sent an unexpected document"),
        (
            503,
            "application/problem+json",
            b'{"title": "Service unavailable", "status": 503, "detail": "db down"}',
            r"^Service unavailable: db down$",
        ),
    ],
)
async def test_error_answers_in_words(
    remote: MakeRemote, status: int, content_type: str, body: bytes, message: str
) -> None:
    async with raw_server(respond(status, content_type, body)) as fake:
        client = await remote(fake.url)
        with pytest.raises(EngineError, match=message):
            await client.matrix()


async def test_capabilities_without_whoami(remote: MakeRemote) -> None:
    """A contract-only server (no `/api/whoami`): read-only, no error."""
    async with raw_server(respond(404, "application/problem+json", b"{}")) as fake:
        capabilities = await (await remote(fake.url)).capabilities()
    assert capabilities.read_only
    assert capabilities.reason == NO_ACTIONS == "this server offers no actions (read-only)"


async def test_capabilities_without_a_key(server: ServerProcess, remote: MakeRemote) -> None:
    capabilities = await (await remote(server.url)).capabilities()
    assert capabilities.read_only and capabilities.principal is None
    assert "X-Api-Key" in capabilities.reason


async def test_capabilities_from_html_and_from_whoami(remote: MakeRemote) -> None:
    async with raw_server(respond(200, "text/html", b"<html>spa</html>")) as fake:
        html = await (await remote(fake.url)).capabilities()
    whoami = {"principal": "ana", "role": "deployer", "actions": ["deploy", "rollback"]}
    async with raw_server(respond(200, "application/json", json.dumps(whoami).encode())) as fake:
        actor = await (await remote(fake.url)).capabilities()
    assert (html.read_only, html.reason) == (True, NO_ACTIONS)
    assert not actor.read_only
    assert (actor.principal, actor.role, actor.actions) == (
        "ana",
        "deployer",
        frozenset({"deploy", "rollback"}),
    )


async def test_reads_need_the_key_when_configured(
    server_factory: type[ServerProcess],
    db_url: str,
    tmp_path: Path,
    api_key: str,
    remote: MakeRemote,
    reader: MakeReader,
) -> None:
    closed = server_factory(db_url, config_file(tmp_path, '[auth]\nread = "key"\n')).start()
    anonymous = await remote(closed.url)
    with pytest.raises(EngineError, match=r"^Missing or invalid API key: "):
        await anonymous.matrix()

    feed = reader(anonymous)
    assert is_state(await feed.next(), LinkState.CONNECTING)
    offline = await feed.next()
    assert isinstance(offline, ConnectionChanged)
    assert offline.status.state is LinkState.OFFLINE
    assert offline.status.detail.startswith("the server refused the key: ")
    with pytest.raises(StopAsyncIteration):
        await feed.next()  # no retrying: another attempt cannot succeed

    keyed = await remote(closed.url, api_key)
    assert (await keyed.matrix()).rows == []
    await reader(keyed).until_state(LinkState.LIVE)


# -- live feed -------------------------------------------------------------------------


async def test_feed_delivers_rows_live(
    server: ServerProcess, api_key: str, remote: MakeRemote, reader: MakeReader
) -> None:
    client = await remote(server.url)
    feed = reader(client)
    assert is_state(await feed.next(), LinkState.CONNECTING)
    assert is_state(await feed.next(), LinkState.LIVE)

    row = await post_row(server.url, api_key, version="9.9")
    item = await feed.next()
    assert isinstance(item, DeploymentArrived)
    assert (item.event.id, item.event.version, item.seq) == (row["id"], "9.9", 1)


async def test_reconnects_and_resumes_after_restart(
    server: ServerProcess, api_key: str, remote: MakeRemote, reader: MakeReader
) -> None:
    feed = reader(await remote(server.url))
    await feed.until_state(LinkState.LIVE)
    first = await post_row(server.url, api_key, deployment_id="before")
    assert arrived(await feed.until(lambda i: isinstance(i, DeploymentArrived)))[0].seq == 1

    server.kill()
    lost = await feed.until(lambda i: is_state(i, LinkState.RECONNECTING) and i.status.attempt >= 2)
    attempts = [item.status for item in reconnecting(lost)]
    assert [status.attempt for status in attempts] == [1, 2]
    assert attempts[0].detail and attempts[0].since == attempts[1].since

    server.start()
    after = [await post_row(server.url, api_key, deployment_id=f"after-{n}") for n in range(3)]
    items = await feed.until(
        lambda i: isinstance(i, DeploymentArrived) and i.event.id == after[-1]["id"]
    )
    assert any(is_state(item, LinkState.LIVE) for item in items)
    assert not any(isinstance(item, ResyncNeeded) for item in items)
    delivered = arrived(items)
    assert [d.event.id for d in delivered] == [row["id"] for row in after]  # once, in order
    assert [d.seq for d in delivered] == [2, 3, 4]
    assert first["id"] not in {d.event.id for d in delivered}


async def test_replays_rows_written_while_the_server_was_down(
    server: ServerProcess, api_key: str, db_url: str, remote: MakeRemote, reader: MakeReader
) -> None:
    feed = reader(await remote(server.url))
    await feed.until_state(LinkState.LIVE)
    await post_row(server.url, api_key, deployment_id="seen")
    await feed.until(lambda i: isinstance(i, DeploymentArrived))

    server.kill()
    await feed.until_state(LinkState.RECONNECTING)
    engine = await Engine.open(db_url)
    written = []
    for n in range(3):
        fields = {
            "deployment_id": f"offline-{n}",
            "service": "service-a",
            "environment": "qa",
            "status": "in-progress",
            "happened_at": "2026-05-28T10:00:00Z",
        }
        body = DeploymentEventIngest.model_validate_json(json.dumps(fields))
        written.append((await engine.ingest(body))[0].id)
    await engine.close()

    server.start()
    items = await feed.until(
        lambda i: isinstance(i, DeploymentArrived) and i.event.id == written[-1]
    )
    assert [d.event.id for d in arrived(items)] == written
    assert [d.seq for d in arrived(items)] == [2, 3, 4]
    assert not any(isinstance(item, ResyncNeeded) for item in items)


async def test_resync_when_the_server_lost_its_log(
    server_factory: type[ServerProcess],
    tmp_path: Path,
    api_key: str,
    db_url: str,
    remote: MakeRemote,
    reader: MakeReader,
) -> None:
    first = server_factory(db_url).start()
    feed = reader(await remote(first.url))
    await feed.until_state(LinkState.LIVE)
    await post_row(first.url, api_key)
    await feed.until(lambda i: isinstance(i, DeploymentArrived))
    first.kill()
    await feed.until_state(LinkState.RECONNECTING)

    # Same address, empty database: our id 1 is ahead of its log, so it must say "resync".
    server_factory(f"sqlite:///{tmp_path / 'other.db'}", port=first.port).start()
    items = await feed.until(lambda i: isinstance(i, ResyncNeeded))
    assert any(is_state(item, LinkState.LIVE) for item in items)


async def test_idle_stream_is_abandoned(remote: MakeRemote, reader: MakeReader) -> None:
    async def silent(reader_: Any, writer: Any, server: RawServer) -> None:
        await read_request(reader_, server)
        writer.write(SSE_HEAD)
        await writer.drain()
        await asyncio.Event().wait()

    async with raw_server(silent) as fake:
        feed = reader(await remote(fake.url, idle_timeout=0.5))
        await feed.until_state(LinkState.LIVE)
        started = asyncio.get_running_loop().time()
        item = (await feed.until_state(LinkState.RECONNECTING))[-1]
        waited = asyncio.get_running_loop().time() - started
        await feed.until_state(LinkState.LIVE)
        assert fake.connections >= 2
    assert isinstance(item, ConnectionChanged)
    assert item.status.detail == "nothing arrived for 0.5 s"
    assert waited >= 0.45


async def test_hang_ups_are_spaced_by_backoff(remote: MakeRemote, reader: MakeReader) -> None:
    async def hang_up(reader_: Any, writer: Any, server: RawServer) -> None:
        await read_request(reader_, server)

    async with raw_server(hang_up) as fake:
        feed = reader(await remote(fake.url, backoff_base=0.1, backoff_cap=30.0))
        items: list[Any] = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.0):
                while True:
                    items.append(await feed.next())
        connections = fake.connections
    # Without backoff this is hundreds. With full jitter from 0.1 s doubling, 2 s hold
    # 5 to 7 attempts almost always; 10 or more would take a one-in-a-million draw.
    assert 3 <= connections <= 9
    statuses = [item.status for item in reconnecting(items)]
    assert [s.attempt for s in statuses] == list(range(1, len(statuses) + 1))
    assert len({s.since for s in statuses}) == 1  # lost once, still reconnecting


@pytest.mark.parametrize(("healthy_after", "resets"), [(0.2, True), (10.0, False)])
async def test_backoff_resets_after_a_healthy_stream(
    remote: MakeRemote, reader: MakeReader, healthy_after: float, resets: bool
) -> None:
    async def brief(reader_: Any, writer: Any, server: RawServer) -> None:
        await read_request(reader_, server)
        writer.write(SSE_HEAD + b": ping\n\n")
        await writer.drain()
        await asyncio.sleep(0.3)

    async with raw_server(brief) as fake:
        feed = reader(await remote(fake.url, healthy_after=healthy_after))
        items = await feed.until(lambda _: len(reconnecting(feed.seen)) >= 3)
    attempts = [item.status.attempt for item in reconnecting(items)]
    assert attempts == ([1, 1, 1] if resets else [1, 2, 3])


async def test_sequence_gaps_resyncs_and_opaque_ids(remote: MakeRemote, reader: MakeReader) -> None:
    def frame(event: str, id_: str, data: dict[str, Any]) -> bytes:
        return f"id: {id_}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()

    def row(deployment_id: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "deployment_id": deployment_id,
            "service": "svc",
            "environment": "dev",
            "status": "success",
            "happened_at": "2026-05-28T09:42:17Z",
        }

    opaque = str(uuid.uuid4())
    script = [
        b"retry: 2000\n\n",
        frame("deployment", "1", row("a")),
        frame("something-new", "2", {"anything": True}),  # unknown types are skipped, ids count
        frame("deployment", "3", row("b")),
        frame("deployment", "3", row("b-again")),  # a repeat is dropped
        frame("deployment", "6", row("c")),  # 4 and 5 are missing
        frame("resync", "9", {"seq": 9}),
        frame("deployment", "10", row("d")),
        frame("deployment", opaque, row("e")),
    ]

    async def scripted(reader_: Any, writer: Any, server: RawServer) -> None:
        await read_request(reader_, server)
        writer.write(SSE_HEAD + (b"".join(script) if server.connections == 1 else b""))
        await writer.drain()
        await asyncio.Event().wait()

    async with raw_server(scripted) as fake:
        feed = reader(await remote(fake.url, idle_timeout=0.3))
        items = await feed.until(lambda i: isinstance(i, DeploymentArrived) and i.seq == -1)
        await feed.until_state(LinkState.RECONNECTING)
        await feed.until_state(LinkState.LIVE)
        resumed_with = fake.requests[1].get("last-event-id")

    kinds = [
        (type(item).__name__, getattr(item, "seq", None), getattr(item, "event", None))
        for item in items
        if not isinstance(item, ConnectionChanged)
    ]
    assert [(kind, seq) for kind, seq, _ in kinds] == [
        ("DeploymentArrived", 1),
        ("DeploymentArrived", 3),
        ("ResyncNeeded", None),
        ("DeploymentArrived", 6),
        ("ResyncNeeded", None),
        ("DeploymentArrived", 10),
        ("DeploymentArrived", -1),
    ]
    assert [e.deployment_id for _, _, e in kinds if e is not None] == ["a", "b", "c", "d", "e"]
    assert resumed_with == opaque


class _LongestDelay(random.Random):
    """Jitter that always picks the top of its range."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_close_ends_a_waiting_feed_promptly(
    remote: MakeRemote, reader: MakeReader, server: ServerProcess
) -> None:
    # The longest delay full jitter allows: a short draw would make a second attempt (and
    # a second `reconnecting` item) before close(), which is not what this test is about.
    backing_off = await remote(
        f"http://127.0.0.1:{free_port()}", backoff_base=30.0, rng=_LongestDelay()
    )
    live = await remote(server.url)
    waiting = reader(backing_off)
    streaming = reader(live)
    await waiting.until_state(LinkState.RECONNECTING)  # now asleep for up to 30 s
    await streaming.until_state(LinkState.LIVE)  # now waiting on the socket

    pending = [asyncio.ensure_future(feed.next()) for feed in (waiting, streaming)]
    await asyncio.sleep(0)
    async with asyncio.timeout(2):
        await backing_off.close()
        await live.close()
        for task in pending:
            with pytest.raises(StopAsyncIteration):
                await task


async def test_tls_is_verified_for_https_servers_and_not_set_up_for_plain_http() -> None:
    """Every https server is verified (one context, shared); a plain-HTTP server's client
    carries no verifying context (building one cost 30–60 ms of a start, for nothing)."""
    transport = Transport(
        ["http://127.0.0.1:1", "https://a.example:8443", "HTTPS://b.example"],
        {},
        timeout=1.0,
        connect_timeout=1.0,
    )
    transport.open()
    try:
        contexts = {
            url: transport.client(url)._transport._pool._ssl_context  # type: ignore[attr-defined]
            for url in transport.replicas.urls
        }
        secure = contexts["https://a.example:8443"]
        assert secure is contexts["HTTPS://b.example"]
        assert secure.verify_mode is ssl.CERT_REQUIRED and secure.check_hostname
        assert contexts["http://127.0.0.1:1"].verify_mode is ssl.CERT_NONE
    finally:
        await transport.close()
