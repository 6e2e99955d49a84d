"""Following a deployment's log through both clients: history, live lines, the end, losses.

The remote client runs against a real `shipdeck serve` on loopback (a restart is a real
restart on the same database and port) and, for what our server never does (repeat a line,
refuse the handshake, pour out a burst on demand), against a small WebSocket server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from shipdeck.client.base import (
    EngineClient,
    EngineError,
    LinkState,
    LogItem,
    LogLinesArrived,
    LogLinkChanged,
    LogStreamEnded,
)
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import DeploymentEventIngest, LogLine, LogLineIngest
from shipdeck.engine import Engine

from ..conftest import ServerProcess, free_port

MakeRemote = Callable[..., Awaitable[RemoteClient]]

WAIT = 15.0
"""Seconds to wait for something that must happen (a bound, never a sleep)."""
HOSTILE = "\x1b]0;owned\x07\x1b[2J[red]not markup[/red] \r\n\t\x00 <b>é 🚀 \u202e"
SLASHED = "ci/shop/checkout#42"
"""A deployment id with path separators and a character a URL must quote."""


# -- a deck: a client plus a way to write rows and lines --------------------------------


class Deck(Protocol):
    client: EngineClient

    async def report(self, deployment_id: str, status: str, second: int = 0) -> None:
        """Append a status row to the deployment (as CI would)."""

    async def write(self, deployment_id: str, *messages: str) -> None:
        """Append lines to the deployment's log."""


def _row(deployment_id: str, status: str, second: int) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "service": "checkout",
        "environment": "prod",
        "status": status,
        "version": "1.2.3",
        "happened_at": f"2026-05-28T10:00:{second:02d}Z",
    }


@dataclass
class EmbeddedDeck:
    client: EmbeddedClient

    async def report(self, deployment_id: str, status: str, second: int = 0) -> None:
        body = DeploymentEventIngest.model_validate_json(
            json.dumps(_row(deployment_id, status, second))
        )
        await self.client.engine.ingest(body)

    async def write(self, deployment_id: str, *messages: str) -> None:
        await self.client.engine.append_logs(
            deployment_id, [LogLineIngest(message=m) for m in messages]
        )


@dataclass
class RemoteDeck:
    client: RemoteClient
    server: ServerProcess
    key: str

    async def report(self, deployment_id: str, status: str, second: int = 0) -> None:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=WAIT) as http:
            response = await http.post(
                "/api/deployments",
                json=_row(deployment_id, status, second),
                headers={"X-Api-Key": self.key},
            )
        assert response.status_code == 201, response.text

    async def write(self, deployment_id: str, *messages: str) -> None:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=WAIT) as http:
            for start in range(0, len(messages), 1000):
                body = {"lines": [{"message": m} for m in messages[start : start + 1000]]}
                response = await http.post(
                    f"/api/deployments/{quote(deployment_id, safe='/')}/logs",
                    json=body,
                    headers={"X-Api-Key": self.key},
                )
                assert response.status_code == 201, response.text


@pytest.fixture(params=["embedded", "remote"])
async def deck(
    request: pytest.FixtureRequest, db_url: str, remote: MakeRemote
) -> AsyncIterator[Deck]:
    """The same engine behaviour through either client."""
    if request.param == "remote":
        server: ServerProcess = request.getfixturevalue("server")
        key: str = request.getfixturevalue("api_key")
        yield RemoteDeck(await remote(server.url), server, key)
        return
    client = EmbeddedClient(db_url)
    await client.start()
    try:
        yield EmbeddedDeck(client)
    finally:
        await client.close()


# -- reading a log stream ----------------------------------------------------------------


@dataclass
class Follow:
    """Reads a log stream with a deadline on every wait (never a fixed sleep)."""

    stream: AsyncIterator[LogItem]
    seen: list[LogItem] = field(default_factory=list)

    async def next(self, timeout: float = WAIT) -> LogItem:
        async with asyncio.timeout(timeout):
            item = await anext(self.stream)
        self.seen.append(item)
        return item

    async def until(self, predicate: Callable[[LogItem], bool]) -> list[LogItem]:
        """Items up to and including the first that satisfies `predicate`."""
        items: list[LogItem] = []
        while True:
            items.append(await self.next())
            if predicate(items[-1]):
                return items

    async def until_seq(self, seq: int) -> list[LogItem]:
        return await self.until(lambda i: isinstance(i, LogLinesArrived) and i.lines[-1].seq >= seq)

    async def until_state(self, state: LinkState) -> list[LogItem]:
        return await self.until(lambda i: is_state(i, state))

    async def ends(self) -> None:
        """The stream is over: nothing more comes."""
        with pytest.raises(StopAsyncIteration):
            await self.next()

    @property
    def lines(self) -> list[LogLine]:
        return lines_of(self.seen)

    async def aclose(self) -> None:
        await self.stream.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def follow() -> AsyncIterator[Callable[..., Follow]]:
    """Open log streams; each is closed at the end."""
    opened: list[Follow] = []

    def make(client: EngineClient, deployment_id: str, after: int = 0) -> Follow:
        opened.append(Follow(client.follow_logs(deployment_id, after)))
        return opened[-1]

    yield make
    for stream in opened:
        await stream.aclose()


MakeFollow = Callable[..., Follow]


def is_state(item: LogItem, state: LinkState) -> bool:
    return isinstance(item, LogLinkChanged) and item.status.state is state


def lines_of(items: list[LogItem]) -> list[LogLine]:
    return [line for item in items if isinstance(item, LogLinesArrived) for line in item.lines]


def states(items: list[LogItem]) -> list[LinkState]:
    return [item.status.state for item in items if isinstance(item, LogLinkChanged)]


# -- both clients ------------------------------------------------------------------------


async def test_history_then_live_lines_in_order_then_the_end(
    deck: Deck, follow: MakeFollow
) -> None:
    await deck.report(SLASHED, "in-progress")
    await deck.write(SLASHED, "h1", "h2", "h3")
    stream = follow(deck.client, SLASHED)
    assert is_state(await stream.next(), LinkState.LIVE)
    await stream.until_seq(3)
    await deck.write(SLASHED, "live1", "live2")
    await stream.until_seq(5)
    await deck.write(SLASHED, "last")
    await deck.report(SLASHED, "success", second=30)

    await stream.until(lambda i: isinstance(i, LogStreamEnded))
    await stream.ends()
    assert [(line.seq, line.message) for line in stream.lines] == list(
        enumerate(["h1", "h2", "h3", "live1", "live2", "last"], start=1)
    )
    assert states(stream.seen) == [LinkState.LIVE]  # no loss, no reconnection


async def test_a_finished_deployment_sends_the_rest_of_its_history_and_ends(
    deck: Deck, follow: MakeFollow
) -> None:
    await deck.report("d-1", "in-progress")
    await deck.write("d-1", *[f"line {n}" for n in range(1, 8)])
    await deck.report("d-1", "failure", second=5)

    stream = follow(deck.client, "d-1", after=4)
    await stream.until(lambda i: isinstance(i, LogStreamEnded))
    await stream.ends()
    assert [line.seq for line in stream.lines] == [5, 6, 7]


async def test_a_burst_arrives_in_a_few_batches(deck: Deck, follow: MakeFollow) -> None:
    await deck.report("d-1", "in-progress")
    await deck.write("d-1", *[f"line {n}" for n in range(1, 1601)])
    await deck.report("d-1", "success", second=5)

    stream = follow(deck.client, "d-1")
    ended = False
    while not ended:
        ended = isinstance(await stream.next(), LogStreamEnded)
        await asyncio.sleep(0.01)  # a reader busy repainting: lines pile up meanwhile
    batches = [item.lines for item in stream.seen if isinstance(item, LogLinesArrived)]
    assert [line.seq for line in stream.lines] == list(range(1, 1601))
    assert max(len(batch) for batch in batches) <= 500
    # One item per line would cost the log view 1600 repaints; what piled up comes at once.
    assert len(batches) <= 1600 // 20


async def test_an_unknown_deployment_stops_with_a_reason(deck: Deck, follow: MakeFollow) -> None:
    stream = follow(deck.client, "no-such-deployment")
    items = await stream.until_state(LinkState.OFFLINE)
    await stream.ends()  # no retrying: another attempt cannot succeed
    offline = items[-1]
    assert isinstance(offline, LogLinkChanged)
    assert "no deployment" in offline.status.detail
    assert offline.status.since is not None
    assert states(items) in ([LinkState.OFFLINE], [LinkState.LIVE, LinkState.OFFLINE])


async def test_hostile_lines_arrive_verbatim(deck: Deck, follow: MakeFollow) -> None:
    # Sanitising is the display's job: the client must not change a byte of what it got.
    await deck.report(SLASHED, "in-progress")
    await deck.write(SLASHED, HOSTILE, "[bold]x[/bold]", "\x9b31m")
    stream = follow(deck.client, SLASHED)
    await stream.until_seq(3)
    page = await deck.client.logs(SLASHED)
    assert [line.message for line in stream.lines] == [HOSTILE, "[bold]x[/bold]", "\x9b31m"]
    assert [line.message for line in page.items] == [HOSTILE, "[bold]x[/bold]", "\x9b31m"]


async def test_pages_of_lines(deck: Deck) -> None:
    await deck.report(SLASHED, "in-progress")
    await deck.write(SLASHED, *[f"line {n}" for n in range(1, 6)])
    first = await deck.client.logs(SLASHED, limit=2)
    rest = await deck.client.logs(SLASHED, after=first.next_after or 0)
    assert ([line.seq for line in first.items], first.next_after) == ([1, 2], 2)
    assert ([line.seq for line in rest.items], rest.next_after) == ([3, 4, 5], None)
    with pytest.raises(EngineError, match="no deployment has deployment_id"):
        await deck.client.logs("nope")


async def test_closing_the_client_ends_a_waiting_stream(deck: Deck, follow: MakeFollow) -> None:
    await deck.report("d-1", "in-progress")
    stream = follow(deck.client, "d-1")
    await stream.until_state(LinkState.LIVE)
    pending = asyncio.ensure_future(stream.next())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await deck.client.close()
        with pytest.raises(StopAsyncIteration):
            await pending


# -- the remote client against a real server ---------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "why"),
    [("stop", "the server is shutting down"), ("kill", "the connection was lost")],
)
async def test_resumes_across_a_server_restart_without_gaps_or_repeats(
    server: ServerProcess,
    api_key: str,
    db_url: str,
    remote: MakeRemote,
    follow: MakeFollow,
    how: str,
    why: str,
) -> None:
    deck = RemoteDeck(await remote(server.url), server, api_key)
    await deck.report(SLASHED, "in-progress")
    await deck.write(SLASHED, "before 1", "before 2", "before 3")
    stream = follow(deck.client, SLASHED)
    await stream.until_seq(3)

    await asyncio.to_thread(server.stop if how == "stop" else server.kill)
    lost = await stream.until_state(LinkState.RECONNECTING)
    assert isinstance(lost[-1], LogLinkChanged)
    assert (lost[-1].status.attempt, lost[-1].status.detail) == (1, why)
    engine = await Engine.open(db_url)  # lines written while the server is down
    try:
        await engine.append_logs(SLASHED, [LogLineIngest(message=f"down {n}") for n in (4, 5)])
    finally:
        await engine.close()

    await asyncio.to_thread(server.start)
    await stream.until_state(LinkState.LIVE)
    await deck.write(SLASHED, "after 6", "after 7")
    await deck.report(SLASHED, "success", second=30)
    await stream.until(lambda i: isinstance(i, LogStreamEnded))
    await stream.ends()

    assert [line.seq for line in stream.lines] == list(range(1, 8))  # each once, in order
    assert [line.message.split()[0] for line in stream.lines] == (
        ["before"] * 3 + ["down"] * 2 + ["after"] * 2
    )
    reconnecting = [i.status for i in stream.seen if is_state(i, LinkState.RECONNECTING)]
    assert [s.attempt for s in reconnecting] == list(range(1, len(reconnecting) + 1))
    assert len({s.since for s in reconnecting}) == 1


async def test_a_refused_key_stops_with_a_reason(
    server_factory: type[ServerProcess],
    db_url: str,
    tmp_path: Path,
    api_key: str,
    remote: MakeRemote,
    follow: MakeFollow,
) -> None:
    config = tmp_path / "shipdeck.toml"
    config.write_text('[auth]\nread = "key"\n', encoding="utf-8")
    closed = server_factory(db_url, config).start()
    await RemoteDeck(await remote(closed.url, api_key), closed, api_key).report("d-1", "queued")

    stream = follow(await remote(closed.url, "sdk_not_a_key"), "d-1")
    items = await stream.until_state(LinkState.OFFLINE)
    await stream.ends()
    offline = items[-1]
    assert isinstance(offline, LogLinkChanged)
    assert offline.status.detail.startswith("the server refused the key: ")
    assert "sdk_not_a_key" not in offline.status.detail

    keyed = follow(await remote(closed.url, api_key), "d-1")
    assert is_state(await keyed.next(), LinkState.LIVE)


async def test_attempts_are_at_least_a_second_apart(remote: MakeRemote, follow: MakeFollow) -> None:
    client = await remote(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    stream = follow(client, "d-1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    items = await stream.until(
        lambda i: is_state(i, LinkState.RECONNECTING) and i.status.attempt == 3
    )
    # Backoff alone (50 ms base in tests) would allow three attempts in well under 0.5 s.
    assert loop.time() - started >= 1.9
    details = {i.status.detail for i in items if isinstance(i, LogLinkChanged)}
    assert details == {"connection refused"}


# -- the remote client against a scripted WebSocket server --------------------------------


@dataclass
class ScriptedServer:
    """A WebSocket server on loopback running one handler per connection."""

    url: str
    paths: list[str] = field(default_factory=list)
    """The request path (with query) of each connection."""
    headers: list[Headers] = field(default_factory=list)
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)


Script = Callable[[ServerConnection, ScriptedServer], Awaitable[None]]


@asynccontextmanager
async def scripted(script: Script, refuse: int | None = None) -> AsyncIterator[ScriptedServer]:
    """Serve `script` (or refuse every handshake with HTTP `refuse`)."""
    state = ScriptedServer(url="")

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        state.paths.append(request.path)
        state.headers.append(request.headers)
        if refuse is None:
            return None
        body = json.dumps({"title": "Not allowed", "status": refuse, "detail": "ask an admin"})
        response = connection.respond(refuse, body)
        response.headers["Content-Type"] = "application/problem+json"
        return response

    async def handler(connection: ServerConnection) -> None:
        await script(connection, state)

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        state.url = f"http://127.0.0.1:{port}"
        yield state


def frame(seq: int, message: str | None = None) -> str:
    return json.dumps(
        {
            "seq": seq,
            "at": "2026-05-28T10:00:00Z",
            "level": "info",
            "stream": "stdout",
            "message": message or f"line {seq}",
        }
    )


async def test_resumes_after_the_last_line_and_drops_repeats(
    remote: MakeRemote, follow: MakeFollow
) -> None:
    async def script(connection: ServerConnection, server: ScriptedServer) -> None:
        if len(server.paths) == 1:
            for seq in (1, 2, 3):
                await connection.send(frame(seq))
            await connection.close(1001, "restarting")
        else:  # a careless server replaying from before `after`, and a line twice
            for seq in (2, 3, 4, 4, 5):
                await connection.send(frame(seq))
            await connection.close(1000)

    async with scripted(script) as fake:
        client = await remote(fake.url, "sdk_key", log_retry_interval=0.0)
        stream = follow(client, "a b/c", after=0)
        await stream.until(lambda i: isinstance(i, LogStreamEnded))
        await stream.ends()
    assert [line.seq for line in stream.lines] == [1, 2, 3, 4, 5]
    assert fake.paths == [
        "/api/deployments/a%20b/c/logs/stream?after=0",
        "/api/deployments/a%20b/c/logs/stream?after=3",
    ]
    assert all(headers["X-Api-Key"] == "sdk_key" for headers in fake.headers)
    assert states(stream.seen) == [LinkState.LIVE, LinkState.RECONNECTING, LinkState.LIVE]


@pytest.mark.parametrize(("status", "start"), [(401, "the server refused the key"), (403, "")])
async def test_a_refused_handshake_stops_with_a_reason(
    remote: MakeRemote, follow: MakeFollow, status: int, start: str
) -> None:
    async def never(connection: ServerConnection, server: ScriptedServer) -> None:
        raise AssertionError("the handshake was refused")

    async with scripted(never, refuse=status) as fake:
        stream = follow(await remote(fake.url), "d-1")
        items = await stream.until_state(LinkState.OFFLINE)
        await stream.ends()
    assert len(fake.paths) == 1
    offline = items[-1]
    assert isinstance(offline, LogLinkChanged)
    assert offline.status.detail.startswith(start)
    assert offline.status.detail.endswith("ask an admin")


async def test_a_server_without_log_streams_says_so(remote: MakeRemote, follow: MakeFollow) -> None:
    """A contract-only server (Starlette answers a WebSocket to no route with a bare 403):
    no log stream there, said so, not "refused" and not an endless wait."""
    from tests.connectors.loopback import serving
    from tests.tui.contract_server import contract_app

    async with serving(contract_app()) as server:
        stream = follow(await remote(server.url), "gh-1")
        items = await stream.until_state(LinkState.OFFLINE)
        await stream.ends()
    offline = items[-1]
    assert isinstance(offline, LogLinkChanged)
    assert offline.status.detail == "this server has no log stream (HTTP 403)"


@pytest.mark.parametrize("code", [4404, 4422])
async def test_a_refusing_close_code_stops(
    remote: MakeRemote, follow: MakeFollow, code: int
) -> None:
    async def refuse(connection: ServerConnection, server: ScriptedServer) -> None:
        await connection.close(code, "no deployment has this deployment_id")

    async with scripted(refuse) as fake:
        stream = follow(await remote(fake.url), "d-1")
        items = await stream.until_state(LinkState.OFFLINE)
        await stream.ends()
    assert len(fake.paths) == 1
    assert isinstance(items[-1], LogLinkChanged)
    assert items[-1].status.detail == "no deployment has this deployment_id"


async def test_lines_that_are_ready_come_in_one_batch(
    remote: MakeRemote, follow: MakeFollow
) -> None:
    async def burst(connection: ServerConnection, server: ScriptedServer) -> None:
        await connection.send(frame(1))
        await asyncio.sleep(0.3)  # the first line alone, then a burst the reader is behind on
        for seq in range(2, 1203):
            await connection.send(frame(seq))
        await connection.close(1000)

    async with scripted(burst) as fake:
        stream = follow(await remote(fake.url), "d-1")
        await stream.until(lambda i: isinstance(i, LogStreamEnded))
    batches = [len(item.lines) for item in stream.seen if isinstance(item, LogLinesArrived)]
    assert batches[0] == 1
    assert sum(batches) == 1202 and max(batches) <= 500
    assert len(batches) <= 1202 // 20


async def test_leaving_the_stream_closes_the_socket(remote: MakeRemote, follow: MakeFollow) -> None:
    async def hold(connection: ServerConnection, server: ScriptedServer) -> None:
        await connection.send(frame(1))
        await connection.wait_closed()
        if connection.close_code == 1000:
            server.closed_by_client.set()

    async with scripted(hold) as fake:
        stream = follow(await remote(fake.url), "d-1")
        await stream.until_seq(1)
        await stream.aclose()
        async with asyncio.timeout(5):
            await fake.closed_by_client.wait()


async def test_the_consumer_may_stop_while_the_server_is_down(
    remote: MakeRemote, follow: MakeFollow
) -> None:
    client = await remote(f"http://127.0.0.1:{free_port()}", backoff_base=30.0)
    stream = follow(client, "d-1")
    await stream.until_state(LinkState.RECONNECTING)  # now asleep before the next attempt
    async with asyncio.timeout(2):
        await stream.aclose()


# -- the embedded client -----------------------------------------------------------------


async def test_an_engine_shutting_down_ends_the_stream_offline(
    db_url: str, follow: MakeFollow
) -> None:
    client = EmbeddedClient(db_url)
    await client.start()
    try:
        deck = EmbeddedDeck(client)
        await deck.report("d-1", "in-progress")
        await deck.write("d-1", "a")
        stream = follow(client, "d-1")
        await stream.until_seq(1)
        client.engine.close_subscriptions()
        items = await stream.until_state(LinkState.OFFLINE)
        await stream.ends()
        assert isinstance(items[-1], LogLinkChanged)
        assert items[-1].status.detail == "the engine is shutting down"
    finally:
        await client.close()
