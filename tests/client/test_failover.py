"""`RemoteClient` on several `shipdeck serve` of one engine: it moves on when one stops.

Two real servers share one SQLite file: both read the same event table, so the second
replays what the first numbered (`Last-Event-ID`). SQLite has no live fan-out between
processes, so once the client is on a server, new rows are posted through that server. Tiny
fake servers stand in for what ours never answers (`503`, a refusal to compare with).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from shipdeck.client.base import (
    ActionRefused,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    EngineError,
    LinkState,
    LogLinesArrived,
    LogLinkChanged,
    Replica,
    ResyncNeeded,
)
from shipdeck.client.remote import RemoteClient
from shipdeck.tui.config import Profile, TuiConfigError, load_tui_config

from ..conftest import ServerProcess, create_key, free_port
from .conftest import FeedReader, post_row, raw_server, respond

MakeRemote = Callable[..., Awaitable[RemoteClient]]
MakeReader = Callable[[RemoteClient], FeedReader]
PROBLEM = "application/problem+json"


async def replicas(
    server_factory: type[ServerProcess], db_url: str, count: int = 2
) -> list[ServerProcess]:
    """`count` servers on one (already migrated) database, started side by side."""
    servers = [server_factory(db_url) for _ in range(count)]
    await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))
    return servers


def dead_url() -> str:
    """A loopback URL nothing listens on (connections are refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


class _LongestDelay(random.Random):
    """Jitter that always picks the top of its range."""

    def uniform(self, a: float, b: float) -> float:
        return b


def arrived(items: list[Any]) -> list[DeploymentArrived]:
    return [item for item in items if isinstance(item, DeploymentArrived)]


def statuses(items: list[Any], state: LinkState) -> list[ConnectionStatus]:
    """The connection statuses among `items` that enter `state`."""
    return [i.status for i in items if isinstance(i, ConnectionChanged) and i.status.state is state]


def live_on(url: str) -> Callable[[Any], bool]:
    """Whether a feed item reports the feed live on the server at `url`."""
    return lambda item: any(s.replica and s.replica.url == url for s in statuses([item], LIVE))


LIVE = LinkState.LIVE


# -- the live feed ----------------------------------------------------------------------


async def test_feed_moves_to_the_next_replica_and_misses_nothing(
    db_url: str,
    server_factory: type[ServerProcess],
    remote: MakeRemote,
    reader: MakeReader,
) -> None:
    """A is killed mid-stream: the feed resumes on B after the last id it had from A."""
    key = create_key(db_url)  # migrates the database before the servers open it
    a, b = await replicas(server_factory, db_url)
    client = await remote([a.url, b.url], healthy_after=0.2)
    assert client.current_url == a.url and client.urls == (a.url, b.url)
    feed = reader(client)
    live = (await feed.until_state(LinkState.LIVE))[-1]
    assert isinstance(live, ConnectionChanged)
    assert live.status.replica == Replica(a.url, 1, 2)

    posted = [(await post_row(a.url, key, deployment_id=f"gh-{n}"))["id"] for n in (1, 2)]
    await feed.until(lambda _: len(arrived(feed.seen)) == 2)
    a.kill()  # SIGKILL: no goodbye, the connection just breaks
    # CI goes on reporting, to B, while the client notices A is gone...
    posted += [(await post_row(b.url, key, deployment_id=f"gh-{n}"))["id"] for n in (3, 4)]
    moved = await feed.until(live_on(b.url))
    # ...and after it is on B.
    posted += [(await post_row(b.url, key, deployment_id=f"gh-{n}"))["id"] for n in (5, 6)]
    await feed.until(lambda _: len(arrived(feed.seen)) == 6)

    rows = arrived(feed.seen)
    assert [r.event.id for r in rows] == posted  # every row once, in order
    seqs = [r.seq for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 6))
    assert not any(isinstance(i, ResyncNeeded) for i in feed.seen)
    lost = statuses(moved, LinkState.RECONNECTING)
    assert lost and lost[0].replica == Replica(b.url, 2, 2)  # the next one to try
    assert client.current_url == b.url and client.replica == Replica(b.url, 2, 2)


async def test_feed_cycles_through_replicas_that_are_all_down(
    remote: MakeRemote, reader: MakeReader
) -> None:
    """Nobody answers: each server is tried in turn, and the backoff waits between rounds."""
    async with (
        raw_server(respond(503, PROBLEM, b'{"title": "Service Unavailable"}')) as a,
        raw_server(respond(502, "text/html", b"<h1>Bad Gateway</h1>")) as b,
    ):
        client = await remote(
            [a.url, b.url], backoff_base=0.3, backoff_cap=1.0, rng=_LongestDelay()
        )
        feed = reader(client)
        started = asyncio.get_running_loop().time()
        items = await feed.until(lambda _: a.connections + b.connections >= 6)
        waited = asyncio.get_running_loop().time() - started
    # Three rounds of two: a wait of 0.3 s, then 0.6 s, between them; none within a round.
    assert 0.85 <= waited < 3.0
    tried = statuses(items, LinkState.RECONNECTING)
    assert [s.attempt for s in tried] == list(range(1, len(tried) + 1))
    # After each failure the status names the server tried next: A, B, A, B…
    assert [s.replica.number for s in tried if s.replica] == [2, 1, 2, 1, 2, 1][: len(tried)]
    assert abs(a.connections - b.connections) <= 1


# -- requests ---------------------------------------------------------------------------


async def test_a_read_on_a_dead_replica_is_answered_by_the_next(
    server: ServerProcess, api_key: str, remote: MakeRemote
) -> None:
    await post_row(server.url, api_key, environment="prod", version="1.0")
    dead = dead_url()
    client = await remote([dead, server.url])
    assert client.current_url == dead
    assert await client.environments() == ["prod"]
    assert client.current_url == server.url  # and it stays there
    assert (await client.matrix()).rows[0].slots["prod"].current.version == "1.0"


async def test_a_replica_answering_503_is_skipped_but_a_4xx_is_an_answer(
    remote: MakeRemote,
) -> None:
    refusal = b'{"title": "Not Found", "detail": "no such deployment"}'
    async with (
        raw_server(respond(503, "text/plain", b"down for maintenance")) as a,
        raw_server(respond(404, PROBLEM, refusal)) as b,
    ):
        client = await remote([a.url, b.url])
        with pytest.raises(EngineError, match="no such deployment"):
            await client.deployment("nope")
        assert (a.connections, b.connections) == (1, 1)
        with pytest.raises(EngineError, match="no such deployment"):
            await client.deployment("nope")  # B is in use now; its 404 is final
        assert (a.connections, b.connections) == (1, 2)


async def test_every_replica_down_says_so_in_one_line(remote: MakeRemote) -> None:
    a, b = dead_url(), dead_url()
    client = await remote([a, b])
    with pytest.raises(EngineError) as error:
        await client.environments()
    assert str(error.value) == (
        f"no server answered: cannot reach {a}: connection refused; "
        f"cannot reach {b}: connection refused"
    )
    single = await remote(a)  # one server: the message it always had
    with pytest.raises(EngineError, match=rf"^cannot reach {a}: connection refused$"):
        await single.environments()


async def test_an_action_goes_to_the_next_replica_with_the_same_idempotency_key(
    remote: MakeRemote,
) -> None:
    """A deploy is safe to resend (its key); an approval, which has none, is not."""
    refused = b'{"title": "Conflict", "detail": "the slot is locked", "type": "/p/locked"}'
    async with (
        raw_server(respond(503, "text/plain", b"")) as a,
        raw_server(respond(409, PROBLEM, refused)) as b,
    ):
        client = await remote([a.url, b.url])
        with pytest.raises(ActionRefused, match="the slot is locked"):
            await client.deploy("svc", "prod", "1.0")
        key_a, key_b = (s.requests[0].get("idempotency-key") for s in (a, b))
        assert key_a and key_a == key_b
        # A new client starts on A, which still answers 503: an approval is not resent.
        other = await remote([a.url, b.url])
        with pytest.raises(EngineError, match="HTTP 503"):
            await other.approve("p-1")
        assert (a.connections, b.connections) == (2, 1)
        assert other.current_url == b.url  # the next request goes to B


# -- log streams ------------------------------------------------------------------------


async def test_a_log_stream_resumes_on_the_next_replica(
    db_url: str, server_factory: type[ServerProcess], remote: MakeRemote
) -> None:
    key = create_key(db_url)  # migrates the database before the servers open it
    a, b = await replicas(server_factory, db_url)

    async def write(url: str, *messages: str) -> None:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post(
                f"/api/deployments/{quote('gh-1')}/logs",
                json={"lines": [{"message": m} for m in messages]},
                headers={"X-Api-Key": key},
            )
        assert response.status_code == 201, response.text

    await post_row(a.url, key, status="in-progress")
    await write(a.url, "one", "two")
    client = await remote([a.url, b.url], log_retry_interval=0.05)
    stream = client.follow_logs("gh-1")
    seen: list[Any] = []

    async def until(predicate: Callable[[Any], bool]) -> None:
        async with asyncio.timeout(15):
            while not predicate(seen[-1] if seen else None):
                seen.append(await anext(stream))

    def messages() -> list[str]:
        return [line.message for i in seen if isinstance(i, LogLinesArrived) for line in i.lines]

    try:
        await until(lambda _: messages() == ["one", "two"])
        a.kill()
        await write(b.url, "three")

        def live_on_b(item: Any) -> bool:
            status = item.status if isinstance(item, LogLinkChanged) else None
            replica = status.replica if status and status.state is LinkState.LIVE else None
            return replica is not None and replica.url == b.url

        await until(live_on_b)
        await write(b.url, "four")
        await until(lambda _: len(messages()) >= 4)
        assert messages() == ["one", "two", "three", "four"]
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


# -- profiles ---------------------------------------------------------------------------


def test_a_profile_names_several_urls(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.prod]\nurls = ["http://a:8081", "http://b:8082/"]\n')
    profile = load_tui_config(path).profiles["prod"]
    assert profile.servers() == ["http://a:8081", "http://b:8082/"]
    assert RemoteClient(profile.servers()).urls == ("http://a:8081", "http://b:8082")
    assert Profile(url="http://a:8081").servers() == ["http://a:8081"]  # still valid alone


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('url = "http://a"\nurls = ["http://b"]', "set url = .* or urls = .*, not both"),
        ("urls = []", "names no server"),
        ('urls = ["http://a", "http://a/"]', "urls names http://a twice"),
        ('urls = ["http://a", ""]', "empty URL"),
        ('urls = ["http://a"]\nembedded = true', "either url"),
    ],
)
def test_bad_urls_say_what_is_wrong(tmp_path: Path, settings: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[profiles.prod]\n{settings}\n", encoding="utf-8")
    with pytest.raises(TuiConfigError, match=message) as error:
        load_tui_config(path)
    assert "\n" not in str(error.value) and "profiles.prod" in str(error.value)
