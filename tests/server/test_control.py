"""`/api/control/*`: component events, the control stream, reset and recover, over a real
socket (an in-process uvicorn: SSE bodies never end, and the engine stays visible)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from shipdeck.domain import Role
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.config import StreamConfig
from shipdeck.engine.control_config import ControlConfig
from tests.conftest import free_port
from tests.server.test_sse import until

WAIT = 10.0
CONTROL_KEY = "test-control-key-0123456789"
ACKER = "api-test-reset"


def _config(**control: Any) -> EngineConfig:
    settings: dict[str, Any] = {
        "key": CONTROL_KEY,
        "allow_reset": True,
        "expected_components": [ACKER],
        "ack_timeout_seconds": 3.0,
    }
    settings.update(control)
    return EngineConfig(control=ControlConfig(**settings), stream=StreamConfig(ping_interval=0.3))


@asynccontextmanager
async def serving(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    from shipdeck.server import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done(), "uvicorn started")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as c:
            yield c
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def control_engine(db_url: str) -> AsyncIterator[Engine]:
    engine = await Engine.open(db_url, _config())
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def http(control_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(control_engine) as client:
        yield client


@pytest.fixture
async def key(control_engine: Engine) -> str:
    _, token = await control_engine.keys.create("ci", Role.REPORTER)
    return token


class Frames:
    """Frames (`event`, `id`, `data`) of an open SSE response; pings skipped."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, str]:
        frame: dict[str, str] = {}
        async with asyncio.timeout(WAIT):
            async for line in self._lines:
                if not line:
                    if "event" in frame:
                        return frame
                    frame = {}
                    continue
                name, _, value = line.partition(":")
                frame[name] = value.strip()
        raise AssertionError("stream ended")

    async def until(self, event: str) -> list[dict[str, str]]:
        seen = []
        while True:
            frame = await self.next()
            seen.append(frame)
            if frame["event"] == event:
                return seen


@asynccontextmanager
async def stream(
    http: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Frames]:
    async with http.stream("GET", path, headers=headers or {}) as response:
        assert response.status_code == 200, await response.aread()
        yield Frames(response)


def _event(**fields: Any) -> dict[str, Any]:
    return {"event_type": "status", "state": "running", "occurred_at": _now(), **fields}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def _ack(http: httpx.AsyncClient, key: str, correlation_id: str, kind: str) -> None:
    response = await http.post(
        "/api/control/events",
        json=_event(event_type=kind, state="paused"),
        headers={"X-Api-Key": key, "X-Component-Id": ACKER, "X-Correlation-Id": correlation_id},
    )
    assert response.status_code == 204, response.text


async def _ingest(http: httpx.AsyncClient, key: str, service: str = "svc") -> httpx.Response:
    return await http.post(
        "/api/deployments",
        json={
            "deployment_id": f"d-{service}",
            "service": service,
            "environment": "dev",
            "status": "success",
            "happened_at": _now(),
        },
        headers={"X-Api-Key": key},
    )


CONTROL = {"X-Control-API-Key": CONTROL_KEY}


# -- component events ------------------------------------------------------------------


async def test_component_event_rules(http: httpx.AsyncClient, key: str) -> None:
    post = http.post
    ok = {"X-Api-Key": key, "X-Component-Id": "dashboard-fetcher"}
    assert (await post("/api/control/events", json=_event(), headers=ok)).status_code == 204
    no_key = await post(
        "/api/control/events", json=_event(), headers={"X-Component-Id": "dashboard-fetcher"}
    )
    assert no_key.status_code == 401
    for bad in ({}, {"X-Component-Id": "BAD_ID"}):
        response = await post(
            "/api/control/events", json=_event(), headers={"X-Api-Key": key, **bad}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/X-Component-Id"
    long = await post(
        "/api/control/events", json=_event(), headers={**ok, "X-Correlation-Id": "x" * 129}
    )
    assert long.status_code == 422
    empty = await post("/api/control/events", json=_event(), headers={**ok, "X-Correlation-Id": ""})
    assert empty.status_code == 204  # names nothing: stored as `correlation_id: null`
    big = await post(
        "/api/control/events", json=_event(payload={"blob": "x" * (8 * 1024 + 1)}), headers=ok
    )
    assert big.status_code == 413
    unknown = await post("/api/control/events", json=_event(component="x"), headers=ok)
    assert unknown.status_code == 422
    bad_time = await post("/api/control/events", json=_event(occurred_at="yesterday"), headers=ok)
    assert bad_time.status_code == 422


async def test_component_events_stream_live_then_replay(http: httpx.AsyncClient, key: str) -> None:
    headers = {"X-Api-Key": key, "X-Component-Id": "demo-driver"}
    async with stream(http, "/api/control/events/stream") as frames:
        await asyncio.sleep(0.2)
        await http.post("/api/control/events", json=_event(payload={"n": 1}), headers=headers)
        first = await frames.next()
        await http.post(
            "/api/control/events",
            json=_event(event_type="heartbeat"),
            headers={**headers, "X-Correlation-Id": "abc"},
        )
        second = await frames.next()
    data = json.loads(first["data"])
    # Every field upstream's frontend reads of a `ComponentEventRecord` (its model).
    read = {"id", "component_id", "event_type", "state", "occurred_at", "received_at", "payload"}
    assert read <= set(data)
    assert first["event"] == "component" and first["id"] == data["id"]
    assert data["component_id"] == "demo-driver" and data["payload"] == {"n": 1}
    assert data["correlation_id"] is None and data["received_at"]
    async with stream(http, "/api/control/events/stream", {"Last-Event-ID": first["id"]}) as frames:
        replayed = await frames.next()
    assert replayed["id"] == second["id"]
    assert json.loads(replayed["data"])["correlation_id"] == "abc"
    # The ids are what the document says they are (a client may validate the stream).
    document = (await http.get("/openapi.json")).json()
    (kind,) = document["paths"]["/api/control/events/stream"]["get"]["responses"]["200"]["content"][
        "text/event-stream"
    ]["schema"]["oneOf"]
    assert re.fullmatch(kind["properties"]["id"]["pattern"], first["id"])


# -- keys and configuration ------------------------------------------------------------


async def test_control_key_is_required_and_distinct(http: httpx.AsyncClient, key: str) -> None:
    for headers in ({}, {"X-Control-API-Key": key}, {"X-Control-API-Key": "nope"}):
        assert (await http.post("/api/control/reset", headers=headers)).status_code == 401
        assert (await http.get("/api/control/stream", headers=headers)).status_code == 401
        recover = await http.post("/api/control/recover", json={"days_back": 1}, headers=headers)
        assert recover.status_code == 401
        assert key not in (await http.post("/api/control/reset", headers=headers)).text


async def test_reset_needs_allow_reset_and_a_key(db_url: str) -> None:
    engine = await Engine.open(db_url, _config(allow_reset=False))
    try:
        async with serving(engine) as http:
            off = await http.post("/api/control/reset", headers=CONTROL)
            assert off.status_code == 403
            assert "allow_reset = true" in off.json()["detail"]
    finally:
        await engine.close()
    engine = await Engine.open(db_url, EngineConfig())
    try:
        async with serving(engine) as http:
            keyless = await http.post("/api/control/reset", headers=CONTROL)
            assert keyless.status_code == 403
            assert "key_sha256" in keyless.json()["detail"]
    finally:
        await engine.close()


# -- reset -----------------------------------------------------------------------------


async def test_reset_runs_its_phases_and_erases_history(
    http: httpx.AsyncClient, key: str, control_engine: Engine
) -> None:
    assert (await _ingest(http, key)).status_code == 201
    async with stream(http, "/api/control/stream?component=demo-driver", CONTROL) as frames:
        await asyncio.sleep(0.2)
        accepted = await http.post("/api/control/reset", headers=CONTROL)
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["state"] == "draining" and body["reset_id"] == body["correlation_id"]
        again = await http.post("/api/control/reset", headers=CONTROL)
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        await _ack(http, key, body["correlation_id"], "reset-ack")
        seen = await frames.until("reset-completed")
    by_type = {f["event"]: json.loads(f["data"]) for f in seen}
    assert list(by_type) == ["reset-initiated", "reset-started", "reset-completed"]
    cid = body["correlation_id"]
    assert by_type["reset-initiated"]["id"] == cid
    for data in by_type.values():
        assert data["correlation_id"] == cid and data["component"] == "*"
    assert by_type["reset-started"]["id"] != cid
    # Ack-driven: well before the 3 s ack timeout.
    started = datetime.fromisoformat(by_type["reset-started"]["occurred_at"])
    initiated = datetime.fromisoformat(by_type["reset-initiated"]["occurred_at"])
    assert started - initiated < timedelta(seconds=2.5)
    assert (await http.get("/api/deployments")).json()["items"] == []
    assert (await http.get("/api/services")).json()["items"] == []
    assert (await http.get("/api/matrix")).json()["rows"] == []
    assert (await _ingest(http, key, "after")).status_code == 201
    verdict = await control_engine.audit.verify()
    assert verdict.ok, verdict.detail
    actions = [e.action for e in (await control_engine.audit.page()).items]
    assert "control.reset" in actions and "control.reset.completed" in actions
    # Replay of the control stream from the zero id holds the whole saga.
    zero = {**CONTROL, "Last-Event-ID": "00000000-0000-0000-0000-000000000000"}
    async with stream(http, "/api/control/stream", zero) as frames:
        assert [f["event"] for f in await frames.until("reset-completed")][-1] == "reset-completed"


async def test_reset_without_acks_waits_for_the_timeout(
    db_url: str,
) -> None:
    engine = await Engine.open(db_url, _config(ack_timeout_seconds=1.0))
    try:
        async with serving(engine) as http, stream(http, "/api/control/stream", CONTROL) as frames:
            await asyncio.sleep(0.2)
            begun = asyncio.get_running_loop().time()
            assert (await http.post("/api/control/reset", headers=CONTROL)).status_code == 202
            await frames.until("reset-completed")
            assert asyncio.get_running_loop().time() - begun >= 0.9
    finally:
        await engine.close()


async def test_event_feed_resyncs_after_a_reset(
    http: httpx.AsyncClient, key: str, control_engine: Engine
) -> None:
    """Live subscribers get `event: resync`; one resuming from before the reset is told to
    resync instead of being replayed erased rows; ids keep increasing."""
    await _ingest(http, key, "a")
    before = control_engine.head
    async with stream(http, "/api/events/stream") as live:
        await asyncio.sleep(0.2)
        body = (await http.post("/api/control/reset", headers=CONTROL)).json()
        await _ack(http, key, body["correlation_id"], "reset-ack")
        resync = await live.until("resync")
    assert int(resync[-1]["id"]) > before
    async with stream(http, "/api/events/stream", {"Last-Event-ID": str(before - 1)}) as old:
        first = await old.next()
    assert first["event"] == "resync"
    await _ingest(http, key, "b")
    rows = (await http.get("/api/deployments")).json()["items"]
    assert [row["service"] for row in rows] == ["b"]


# -- recover ---------------------------------------------------------------------------


async def test_recover_is_validated(http: httpx.AsyncClient) -> None:
    for body in (
        {},
        {"days_back": 0},
        {"days_back": 1, "since": _now()},
        {"days_back": 1, "x": 1},
        {"days_back": 1, "since": None},
        {"days_back": "2"},
        {"days_back": 1.5},
        {"days_back": True},
    ):
        response = await http.post("/api/control/recover", json=body, headers=CONTROL)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_recover_takes_a_whole_number_written_with_a_point(
    http: httpx.AsyncClient,
) -> None:
    """`1.0` is an integer to JSON Schema (and to every JSON client that writes numbers as
    doubles): accepted as one day."""
    response = await http.post("/api/control/recover", json={"days_back": 1.0}, headers=CONTROL)
    assert response.status_code == 202, response.text


async def test_recover_runs_its_phases_and_keeps_data(http: httpx.AsyncClient, key: str) -> None:
    await _ingest(http, key, "kept")
    since = "2026-07-14T00:00:00Z"
    async with stream(http, "/api/control/stream", CONTROL) as frames:
        await asyncio.sleep(0.2)
        accepted = await http.post("/api/control/recover", json={"since": since}, headers=CONTROL)
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["state"] == "draining" and body["since"] == since
        assert (await http.post("/api/control/reset", headers=CONTROL)).status_code == 409
        await _ack(http, key, body["correlation_id"], "recover-ack")
        seen = await frames.until("recover-completed")
    completed = json.loads(seen[-1]["data"])
    assert completed["correlation_id"] == body["correlation_id"]
    assert completed["payload"] == {"since": since}
    assert [f["event"] for f in seen] == [
        "recover-initiated",
        "recover-started",
        "recover-completed",
    ]
    rows = (await http.get("/api/deployments", params={"service": "kept"})).json()["items"]
    assert len(rows) == 1
