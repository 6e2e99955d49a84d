"""Deployment logs over HTTP and WebSocket, and the per-deployment status stream.

Plain requests use the in-process client; the WebSocket and the status stream run against
a real uvicorn on a loopback port (in this event loop, so the engine stays in reach).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from shipdeck.domain import Role
from shipdeck.engine import Engine, EngineConfig
from shipdeck.server import create_app
from tests.conftest import free_port

WAIT = 10.0
"""Seconds to wait for something that must happen (a bound, never a sleep)."""
QUIET = 0.1
PROBLEM = "application/problem+json"
HOSTILE = "\x1b]0;owned\x07\x1b[2J[red]not markup[/red] \r\n\t\x00 <b>"


def row(deployment_id: str = "d-1", status: str = "in-progress", second: int = 0) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "service": "api",
        "environment": "prod",
        "status": status,
        "happened_at": f"2026-05-28T10:00:{second:02d}Z",
        "version": "1.2.3",
    }


async def report(
    http: httpx.AsyncClient,
    key: str,
    deployment_id: str = "d-1",
    status: str = "in-progress",
    **kw: Any,
) -> dict[str, Any]:
    """Post a status row; insist on 201."""
    response = await http.post(
        "/api/deployments", json={**row(deployment_id, status, **kw)}, headers={"X-Api-Key": key}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_logs(
    http: httpx.AsyncClient, key: str | None, body: Any, deployment_id: str = "d-1"
) -> httpx.Response:
    headers = {} if key is None else {"X-Api-Key": key}
    return await http.post(f"/api/deployments/{deployment_id}/logs", json=body, headers=headers)


def messages(*texts: str) -> dict[str, Any]:
    return {"lines": [{"message": text} for text in texts]}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


@pytest.fixture
async def started(client: httpx.AsyncClient, reporter_key: str) -> str:
    """Deployment `d-1` is in progress; returns the reporter key."""
    await report(client, reporter_key)
    return reporter_key


# -- POST and GET ------------------------------------------------------------------------


async def test_posted_lines_are_numbered_and_read_back(
    client: httpx.AsyncClient, started: str
) -> None:
    first = await post_logs(client, started, messages("a", "b"))
    assert first.status_code == 201
    assert first.json() == {"deployment_id": "d-1", "count": 2, "first_seq": 1, "last_seq": 2}
    body = {"lines": [{"message": HOSTILE, "level": "warning", "stream": "stderr",
                       "at": "2026-05-28T12:00:00.5+02:00"}]}  # fmt: skip
    second = await post_logs(client, started, body)
    assert (second.json()["first_seq"], second.json()["last_seq"]) == (3, 3)
    page = (await client.get("/api/deployments/d-1/logs")).json()
    assert page["next_after"] is None
    assert [line["seq"] for line in page["items"]] == [1, 2, 3]
    assert page["items"][2] == {
        "seq": 3,
        "at": "2026-05-28T10:00:00.5Z",
        "level": "warning",
        "stream": "stderr",
        "message": HOSTILE,  # verbatim: sanitising is the display's job
    }
    assert page["items"][0]["level"] == "info" and page["items"][0]["stream"] == "system"


async def test_posting_needs_a_reporter_key_that_is_never_echoed(
    client: httpx.AsyncClient, engine: Engine, started: str
) -> None:
    _, viewer = await engine.keys.create("dashboard", Role.VIEWER)
    for key in (None, "sdk_unknown_key", started + "x"):
        problem = assert_problem(await post_logs(client, key, messages("x")), 401)
        assert key is None or key not in json.dumps(problem)
    forbidden = await post_logs(client, viewer, messages("x"))
    assert_problem(forbidden, 403)
    assert viewer not in forbidden.text
    assert (await client.get("/api/deployments/d-1/logs")).json()["items"] == []


async def test_lines_of_an_unknown_deployment_are_404(
    client: httpx.AsyncClient, started: str
) -> None:
    assert_problem(await post_logs(client, started, messages("x"), "nobody"), 404)
    assert_problem(await client.get("/api/deployments/nobody/logs"), 404)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"lines": [{"message": "x", "colour": "red"}]}, "/lines/0/colour"),
        ({"lines": [{"message": "x", "level": "loud"}]}, "/lines/0/level"),
        ({"lines": [{"message": "x", "stream": "stdin"}]}, "/lines/0/stream"),
        ({"lines": [{"message": 42}]}, "/lines/0/message"),
        ({"lines": [{}]}, "/lines/0/message"),
        ({"lines": [{"message": "x", "at": "yesterday"}]}, "/lines/0/at"),
        ({"lines": []}, "/lines"),
        ({"lines": "x"}, "/lines"),
        ({"line": []}, "/line"),
        ([], ""),
    ],
)
async def test_malformed_bodies_are_422(
    client: httpx.AsyncClient, started: str, body: Any, pointer: str
) -> None:
    problem = assert_problem(await post_logs(client, started, body), 422)
    assert pointer in [error["pointer"] for error in problem["errors"]]


async def test_a_body_that_is_not_json_is_422(client: httpx.AsyncClient, started: str) -> None:
    response = await client.post(
        "/api/deployments/d-1/logs", content=b"{nope", headers={"X-Api-Key": started}
    )
    assert_problem(response, 422)


async def test_too_many_lines_or_too_long_a_message_is_413(
    client: httpx.AsyncClient, started: str
) -> None:
    problem = assert_problem(await post_logs(client, started, messages(*["x"] * 1001)), 413)
    assert problem["errors"][0]["pointer"] == "/lines"
    exactly = "é" * 4096  # 8 KiB in UTF-8, 4096 characters
    assert (await post_logs(client, started, messages(*["x"] * 999, exactly))).status_code == 201
    over = assert_problem(await post_logs(client, started, messages("ok", exactly + "x")), 413)
    assert over["errors"][0]["pointer"] == "/lines/1/message"
    page = (await client.get("/api/deployments/d-1/logs", params={"after": 999})).json()
    assert [line["message"] for line in page["items"]] == [exactly]


async def test_pages_follow_next_after_to_the_end(client: httpx.AsyncClient, started: str) -> None:
    await post_logs(client, started, messages(*(f"l{n}" for n in range(1, 6))))
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get("/api/deployments/d-1/logs", params=params)).json()
        seen += [line["seq"] for line in page["items"]]
        if page["next_after"] is None:
            break
        params["after"] = page["next_after"]
    assert seen == [1, 2, 3, 4, 5]
    for bad in ({"limit": 0}, {"limit": 501}, {"after": -1}, {"after": "x"}):
        assert_problem(await client.get("/api/deployments/d-1/logs", params=bad), 422)


async def test_a_deployment_id_may_contain_slashes(client: httpx.AsyncClient, started: str) -> None:
    await report(client, started, "gh/org/repo/123")
    assert (await post_logs(client, started, messages("x"), "gh/org/repo/123")).status_code == 201
    page = (await client.get("/api/deployments/gh/org/repo/123/logs")).json()
    assert [line["message"] for line in page["items"]] == ["x"]
    assert (await client.get("/api/deployments/d-1/logs")).json()["items"] == []


async def test_closed_reads_need_a_key(db_url: str) -> None:
    engine = await Engine.open(db_url, EngineConfig(auth={"read": "key"}))
    try:
        _, viewer = await engine.keys.create("dashboard", Role.VIEWER)
        async with app_client(engine) as http:
            assert_problem(await http.get("/api/deployments/d-1/logs"), 401)
            assert_problem(await http.get("/api/deployments/d-1/status-stream"), 401)
            allowed = await http.get("/api/deployments/d-1/logs", headers={"X-Api-Key": viewer})
            assert_problem(allowed, 404)  # past the key check: there is no such deployment
    finally:
        await engine.close()


async def test_a_plain_get_of_the_websocket_path_is_426(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/deployments/d-1/logs/stream")
    assert_problem(response, 426)
    assert response.headers["upgrade"] == "websocket"


async def test_every_route_is_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    logs = paths["/api/deployments/{deployment_id}/logs"]
    assert {"201", "401", "403", "404", "413", "422"} <= set(logs["post"]["responses"])
    assert logs["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "404", "422"} <= set(logs["get"]["responses"])
    stream = paths["/api/deployments/{deployment_id}/logs/stream"]["get"]
    assert {"101", "426"} <= set(stream["responses"]) and "4401" in stream["description"]
    status = paths["/api/deployments/{deployment_id}/status-stream"]["get"]
    assert "text/event-stream" in status["responses"]["200"]["content"]
    for operation in (logs["post"], logs["get"], stream, status):
        assert "logs" in operation["tags"]


async def test_the_status_stream_of_an_unknown_deployment_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/deployments/nobody/status-stream"), 404)


@asynccontextmanager
async def app_client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine)
    app.state.engine = engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shipdeck.test") as http:
        yield http


# -- a real server -------------------------------------------------------------------------


@asynccontextmanager
async def serving(engine: Engine) -> AsyncIterator[str]:
    """uvicorn over `engine` on a loopback port, in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(engine), host="127.0.0.1", port=port, log_level="info", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done(), "uvicorn started")
        assert server.started, "uvicorn did not start"
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(WAIT):
            await task


async def until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


class Live:
    """A served engine with deployment `d-1` in progress."""

    def __init__(self, engine: Engine, host: str, key: str) -> None:
        self.engine = engine
        self.host = host
        self.key = key
        self.http = httpx.AsyncClient(base_url=f"http://{host}", timeout=WAIT)

    def connect(self, query: str = "", deployment_id: str = "d-1", **kw: Any) -> Any:
        url = f"ws://{self.host}/api/deployments/{deployment_id}/logs/stream{query}"
        return connect(url, open_timeout=WAIT, **kw)

    async def log(self, *texts: str) -> None:
        assert (await post_logs(self.http, self.key, messages(*texts))).status_code == 201

    async def report(self, status: str, second: int) -> dict[str, Any]:
        return await report(self.http, self.key, "d-1", status, second=second)


@pytest.fixture
async def live(engine: Engine, reporter_key: str) -> AsyncIterator[Live]:
    async with serving(engine) as host:
        served = Live(engine, host, reporter_key)
        async with served.http:
            await served.report("in-progress", 10)
            yield served


async def receive(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(WAIT):
        return [json.loads(await ws.recv()) for _ in range(count)]


async def close_code(ws: ClientConnection) -> int:
    """The code the server closes with; nothing else may come first."""
    try:
        async with asyncio.timeout(WAIT):
            extra = await ws.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code
    raise AssertionError(f"expected the close, got {extra!r}")


async def test_the_stream_sends_history_then_live_lines_then_closes(live: Live) -> None:
    await live.log("h1", "h2")
    async with live.connect() as ws:
        assert [line["message"] for line in await receive(ws, 2)] == ["h1", "h2"]
        await live.log("live1", "live2")
        assert [line["seq"] for line in await receive(ws, 2)] == [3, 4]
        await live.log(HOSTILE)
        await live.report("success", 30)
        (last,) = await receive(ws, 1)
        assert last["message"] == HOSTILE and last["seq"] == 5
        assert await close_code(ws) == 1000
    await until(lambda: live.engine.deployment_logs.follower_count == 0, "the follower is gone")


async def test_reconnecting_with_after_repeats_nothing(live: Live) -> None:
    await live.log("a", "b", "c")
    async with live.connect() as ws:
        await receive(ws, 2)
    await live.log("d")
    async with live.connect("?after=2") as ws:
        assert [line["message"] for line in await receive(ws, 2)] == ["c", "d"]
        await live.report("failure", 30)
        assert await close_code(ws) == 1000


async def test_a_finished_deployment_sends_its_history_and_closes(live: Live) -> None:
    await live.log("only")
    await live.report("cancelled", 30)
    async with live.connect() as ws:
        assert [line["message"] for line in await receive(ws, 1)] == ["only"]
        assert await close_code(ws) == 1000


async def test_a_client_that_leaves_releases_its_follower(live: Live) -> None:
    for _ in range(5):
        async with live.connect() as ws:
            await until(lambda: live.engine.deployment_logs.follower_count >= 1, "following")
            await asyncio.sleep(QUIET)  # idle: only the disconnect can tell the server
            assert ws.state.name == "OPEN"
    await until(lambda: live.engine.deployment_logs.follower_count == 0, "followers released")


@pytest.mark.parametrize(
    ("query", "deployment_id", "code"),
    [
        ("", "nobody", 4404),
        ("?after=x", "d-1", 4422),
        ("?after=-1", "d-1", 4422),
        ("?after=%C2%B2", "d-1", 4422),  # a digit to str.isdigit, not to int()
        ("?after=99999999999999999999", "d-1", 4422),
    ],
)
async def test_a_stream_that_cannot_start_closes_with_a_reason(
    live: Live, query: str, deployment_id: str, code: int
) -> None:
    async with live.connect(query, deployment_id) as ws:
        assert await close_code(ws) == code


async def test_shutting_down_closes_streams_as_going_away(live: Live) -> None:
    async with live.connect() as ws:
        await until(lambda: live.engine.deployment_logs.follower_count == 1, "following")
        live.engine.close_subscriptions()
        assert await close_code(ws) == 1001


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def uvicorn_log() -> Iterator[Captured]:
    """What uvicorn logs (it names every WebSocket's path and query when it opens)."""
    handler = Captured()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_a_token_opens_the_stream_when_reads_are_closed(
    db_url: str, uvicorn_log: Captured
) -> None:
    engine = await Engine.open(db_url, EngineConfig(auth={"read": "key"}))
    try:
        _, reporter = await engine.keys.create("ci", Role.REPORTER)
        _, viewer = await engine.keys.create("dashboard", Role.VIEWER)
        async with serving(engine) as host:
            served = Live(engine, host, reporter)
            async with served.http:
                await served.report("in-progress", 10)
                await served.log("a")
                await assert_stream_access(served, viewer)
    finally:
        await engine.close()
    opened = [m for m in uvicorn_log.messages if "/api/deployments/d-1/logs/stream" in m]
    assert len(opened) == 6, uvicorn_log.messages  # the scan does see each WebSocket
    assert not any(viewer in message for message in uvicorn_log.messages)
    assert any("after=1" in message for message in opened)


async def assert_stream_access(served: Live, viewer: str) -> None:
    for refused in ("", "?token=sdk_bad_token", "?token="):
        async with served.connect(refused) as ws:
            assert await close_code(ws) == 4401
    async with served.connect(f"?token={viewer}") as ws:
        assert [line["message"] for line in await receive(ws, 1)] == ["a"]
    async with served.connect(f"?after=1&token={viewer}") as ws:
        await served.log("b")
        assert [line["message"] for line in await receive(ws, 1)] == ["b"]
    async with served.connect(additional_headers={"X-Api-Key": viewer}) as ws:
        assert len(await receive(ws, 2)) == 2


# -- the status stream ---------------------------------------------------------------------


async def status_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """`event: status` payloads until the server ends the stream."""
    event = None
    async with asyncio.timeout(WAIT):
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert event == "status"
                yield json.loads(line.removeprefix("data: "))


async def test_a_finished_deployment_sends_one_status_and_closes(live: Live) -> None:
    stored = await live.report("success", 30)
    url = "/api/deployments/d-1/status-stream"
    async with live.http.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [event async for event in status_events(response)]
    assert events == [
        {
            "status": "success",
            "phase": None,
            "message": None,
            "version": "1.2.3",
            "happened_at": "2026-05-28T10:00:30Z",
            "id": stored["id"],
        }
    ]


async def test_a_running_deployment_streams_each_change_until_it_ends(live: Live) -> None:
    async with live.http.stream("GET", "/api/deployments/d-1/status-stream") as response:
        events = status_events(response)
        assert (await anext(events))["status"] == "in-progress"
        await live.report("queued", 5)  # older than the current row: not a change
        await report(live.http, live.key, "d-2", "success")  # another deployment
        pushed = await live.report("in-progress", 20)
        assert (await anext(events))["id"] == pushed["id"]
        await live.report("failure", 30)
        assert [event["status"] async for event in events] == ["failure"]
