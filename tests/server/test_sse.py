"""`GET /api/events/stream` over a real socket: live events, pings, resume, resync.

The server is a real `shipdeck serve` (or, where the engine must be watched from inside, an
in-process uvicorn) on a loopback port: `TestClient` buffers a never-ending body.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from httpx_sse import aconnect_sse

from shipdeck.engine import Engine
from shipdeck.server import create_app
from tests.conftest import ServerProcess, free_port

WAIT = 10.0
"""Seconds to wait for something that must happen (a bound, never a sleep)."""
PING_INTERVAL = 0.3


# -- reading the stream ------------------------------------------------------------------


@dataclass
class Frame:
    """One SSE frame, as the bytes up to a blank line say it."""

    event: str | None = None
    id: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, f"frame has no data: {self}"
        return json.loads(self.data)


class FrameReader:
    """Frames of an open `text/event-stream` response, comments included."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self) -> Frame:
        """The next frame (waits at most `WAIT` seconds)."""
        frame = Frame()
        seen = False
        async with asyncio.timeout(WAIT):  # an error, not a hang, if nothing comes
            async for line in self._lines:
                if line == "":
                    if seen:
                        return frame
                    continue
                seen = True
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    frame.comments.append(value)
                elif name == "data":
                    frame.data = value if frame.data is None else f"{frame.data}\n{value}"
                elif name == "id":
                    frame.id = value
                elif name == "event":
                    frame.event = value
                elif name == "retry":
                    frame.retry = int(value)
        raise AssertionError("the stream ended")

    async def event(self) -> Frame:
        """The next frame that is not a ping (waits at most `WAIT` seconds in all)."""
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    frame = await self.frame()
                    if frame.comments != ["ping"] or frame.event or frame.data is not None:
                        return frame
        except TimeoutError:
            raise AssertionError(f"only pings for {WAIT} s: no event arrived") from None

    async def deployment(self) -> Frame:
        """The next frame, which must be a deployment event with an integer id."""
        frame = await self.event()
        assert frame.event == "deployment", f"expected a deployment event, got {frame}"
        assert frame.id is not None and frame.id.isdigit(), frame
        return frame

    async def close(self) -> None:
        await self._lines.aclose()


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, last_event_id: str | None = None, service: str | None = None
) -> AsyncIterator[FrameReader]:
    """Open the stream and read its `retry:` preamble, so it is subscribed once we return."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    params = {} if service is None else {"service": service}
    async with http.stream("GET", "/api/events/stream", headers=headers, params=params) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        reader = FrameReader(resp)
        try:
            assert (await reader.frame()).retry == 2000
            yield reader
        finally:
            await reader.close()


# -- fixtures ------------------------------------------------------------------------------


ROW: dict[str, Any] = {
    "environment": "prod",
    "status": "success",
    "happened_at": "2026-05-28T10:14:02Z",
    "actor": "alice",
}


@pytest.fixture
def sse_server(db_url: str, tmp_path: Path, api_key: str) -> Iterator[ServerProcess]:
    """`shipdeck serve` on the test's database, pinging idle streams every 0.3 s."""
    config = tmp_path / "shipdeck.toml"
    config.write_text(f"[stream]\nping_interval = {PING_INTERVAL}\n")
    server = ServerProcess(db_url, config=config)
    try:
        yield server.start()
    finally:
        server.stop()


def client_for(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=WAIT)


@pytest.fixture
async def http(sse_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sse_server) as client:
        yield client


Post = Callable[..., Any]


@pytest.fixture
def post(api_key: str) -> Post:
    """`await post(http, service=…)`: ingest one row, insist on 201, return its body."""
    counter = 0

    async def post(http: httpx.AsyncClient, service: str = "service-a") -> dict[str, Any]:
        nonlocal counter
        counter += 1
        body = {
            **ROW,
            "deployment_id": f"gh-{counter}",
            "service": service,
            "version": f"1.{counter}",
        }
        response = await http.post("/api/deployments", json=body, headers={"X-Api-Key": api_key})
        assert response.status_code == 201, response.text
        stored: dict[str, Any] = response.json()
        return stored

    return post


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Poll `predicate` until it holds (or fail after `WAIT` seconds)."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


# -- live delivery ---------------------------------------------------------------------------


async def test_a_posted_row_arrives_as_a_deployment_event(
    http: httpx.AsyncClient, post: Post
) -> None:
    async with open_stream(http) as stream:
        stored = await post(http)
        frame = await stream.deployment()
    assert frame.json() == stored
    assert int(frame.id or "") == 1  # the first event of a fresh log


async def test_a_standard_sse_client_reads_the_stream(http: httpx.AsyncClient, post: Post) -> None:
    """httpx-sse (what the remote client uses) sees the same events, with ids and retry."""
    async with aconnect_sse(http, "GET", "/api/events/stream") as source:
        events = source.aiter_sse()
        async with asyncio.timeout(WAIT):
            first = await anext(events)
            assert first.retry == 2000
            stored = [await post(http), await post(http)]
            received = [await anext(events), await anext(events)]
        await events.aclose()
    assert [e.event for e in received] == ["deployment", "deployment"]
    assert [e.json() for e in received] == stored
    assert [int(e.id) for e in received] == [1, 2]


async def test_an_idle_stream_is_pinged(http: httpx.AsyncClient) -> None:
    async with open_stream(http) as stream:
        for _ in range(2):
            frame = await stream.frame()
            assert frame.comments == ["ping"]
            assert (frame.event, frame.id, frame.data) == (None, None, None)


async def test_the_service_filter_delivers_only_that_service(
    http: httpx.AsyncClient, post: Post
) -> None:
    async with open_stream(http, service="service-b") as stream:
        await post(http, "service-a")
        wanted_1 = await post(http, "service-b")
        await post(http, "service-a")
        wanted_2 = await post(http, "service-b")
        first, second = await stream.deployment(), await stream.deployment()
    assert [first.json(), second.json()] == [wanted_1, wanted_2]
    assert [first.id, second.id] == ["2", "4"]  # ids stay the log's own sequence numbers


# -- resuming ------------------------------------------------------------------------------


async def assert_resumes_exactly(
    http: httpx.AsyncClient, post: Post, last_seen: str, missed: list[dict[str, Any]]
) -> None:
    """Reconnecting after `last_seen` replays `missed` in order, once, then goes live."""
    async with open_stream(http, last_event_id=last_seen) as stream:
        replayed = [await stream.deployment() for _ in missed]
        assert [f.json() for f in replayed] == missed
        start = int(last_seen) + 1
        assert [int(f.id or "") for f in replayed] == list(range(start, start + len(missed)))
        live = await post(http)
        frame = await stream.deployment()  # a repeat or an extra row would show up here
        assert frame.json() == live
        assert int(frame.id or "") == start + len(missed)


async def test_reconnecting_with_last_event_id_replays_exactly_what_was_missed(
    http: httpx.AsyncClient, post: Post
) -> None:
    async with open_stream(http) as stream:
        await post(http)
        await post(http)
        await stream.deployment()
        last_seen = (await stream.deployment()).id
    assert last_seen == "2"
    missed = [await post(http) for _ in range(5)]
    await assert_resumes_exactly(http, post, last_seen, missed)


async def test_resuming_survives_a_server_restart(sse_server: ServerProcess, post: Post) -> None:
    async with client_for(sse_server) as http, open_stream(http) as stream:
        await post(http)
        last_seen = (await stream.deployment()).id
        assert last_seen is not None
    async with client_for(sse_server) as http:
        missed = [await post(http) for _ in range(3)]
    await asyncio.to_thread(sse_server.stop)
    await asyncio.to_thread(sse_server.start)
    async with client_for(sse_server) as http:
        missed += [await post(http) for _ in range(2)]
        await assert_resumes_exactly(http, post, last_seen, missed)


async def test_a_row_id_is_accepted_as_last_event_id(http: httpx.AsyncClient, post: Post) -> None:
    """Clients that kept the contract's row id (a UUID) resume after that row."""
    first = await post(http)
    missed = [await post(http), await post(http)]
    async with open_stream(http, last_event_id=first["id"]) as stream:
        assert [(await stream.deployment()).json() for _ in missed] == missed


@pytest.mark.parametrize(
    "last_event_id",
    ["abc", "-1", "99", str(uuid.UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0001))],
    ids=["garbage", "negative", "beyond-head", "unknown-row-id"],
)
async def test_an_unresumable_position_resyncs_then_goes_live(
    http: httpx.AsyncClient, post: Post, last_event_id: str
) -> None:
    await post(http)
    await post(http)
    async with open_stream(http, last_event_id=last_event_id) as stream:
        resync = await stream.event()
        assert resync.event == "resync"
        assert resync.id == "2"  # the head: resuming from here misses nothing more
        assert resync.json()["seq"] == 2
        live = await post(http)
        frame = await stream.deployment()
        assert (frame.json(), frame.id) == (live, "3")


# -- releasing subscriptions -------------------------------------------------------------------


async def test_many_short_lived_streams_leave_the_server_healthy(
    http: httpx.AsyncClient, post: Post
) -> None:
    for _ in range(20):
        async with open_stream(http):
            pass
    assert (await http.get("/readyz")).status_code == 200
    async with open_stream(http) as stream:
        stored = await post(http)
        assert (await stream.deployment()).json() == stored


@asynccontextmanager
async def in_process_server(engine: Engine) -> AsyncIterator[str]:
    """uvicorn serving the app over `engine` in this event loop, so the engine is visible."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done(), "uvicorn started")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(WAIT):
            await task


async def test_the_server_releases_a_subscription_when_its_client_goes(engine: Engine) -> None:
    """The engine's default 15 s ping never fires here: the disconnect itself must count."""
    async with in_process_server(engine) as url, httpx.AsyncClient(base_url=url) as http:
        async with AsyncExitStack() as streams:
            for _ in range(5):
                await streams.enter_async_context(open_stream(http))
            assert engine.subscriber_count == 5
        await until(lambda: engine.subscriber_count == 0, "every subscription is released")

        for _ in range(20):
            async with open_stream(http):
                pass
        await until(lambda: engine.subscriber_count == 0, "every subscription is released")
