"""The control plane across replicas and its reads: the component-events stream under
`auth.read`, the poller (pages until caught up; only while it has something to do), and the
engine's clock on every control time.

Over a real socket where a stream is read; the helpers are test_control.py's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipdeck.domain import Role, format_rfc3339, to_micros
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.config import StreamConfig
from shipdeck.engine.control_config import ControlConfig
from shipdeck.engine.control_hub import QUEUE_SIZE, REPLAY_LIMIT
from shipdeck.engine.control_models import ComponentEvent, RecoverRequest
from shipdeck.engine.store import open_store

from .test_control import CONTROL_KEY, Frames, _config, serving, stream
from .test_sse import until

EVENTS = "/api/control/events/stream"


def _status(detail: str = "") -> ComponentEvent:
    return ComponentEvent(
        event_type="status",
        state="running",
        detail=detail or None,
        occurred_at=format_rfc3339(datetime.now(UTC)),
    )


@asynccontextmanager
async def _unstarted(db_url: str, config: EngineConfig, **kwargs: Any) -> AsyncIterator[Engine]:
    """A replica whose background work is not started: the test runs each poll itself."""
    engine = Engine(await asyncio.to_thread(open_store, db_url), config, **kwargs)
    try:
        yield engine
    finally:
        await engine.close()


async def _until_frame(frames: Frames, frame_id: str) -> list[str]:
    """The ids of the frames read up to and with `frame_id`."""
    seen = []
    while True:
        seen.append((await frames.next())["id"])
        if seen[-1] == frame_id:
            return seen


# -- the component-events stream is a read ----------------------------------------------


@pytest.mark.parametrize("read", ["open", "key"])
async def test_the_component_events_stream_needs_a_key_only_where_reads_do(
    db_url: str, read: str
) -> None:
    """Open by default (the contract); with `auth.read = "key"` it wants a key, as every
    other read does."""
    config = EngineConfig(control=ControlConfig(key=CONTROL_KEY), auth={"read": read})
    engine = await Engine.open(db_url, config)
    answers: dict[str, tuple[int, str]] = {}
    try:
        _, token = await engine.keys.create("viewer", Role.VIEWER)
        async with serving(engine) as http:
            for name, headers in (("none", {}), ("wrong", {"X-Api-Key": "not-a-key"})):
                async with http.stream("GET", EVENTS, headers=headers) as response:
                    answers[name] = (response.status_code, response.headers["content-type"])
            async with stream(http, EVENTS, {"X-Api-Key": token}) as frames:
                await until(lambda: engine.control.components.subscriber_count == 1, "followed")
                row = await engine.control.report("demo-driver", None, _status())
                (frame_id,) = await _until_frame(frames, row.id)
    finally:
        await engine.close()
    assert frame_id == row.id
    if read == "key":
        for status, content_type in answers.values():
            assert status == 401
            assert content_type.startswith("application/problem+json")
    else:  # an open read does not look at a key it does not need
        for status, content_type in answers.values():
            assert status == 200
            assert content_type.startswith("text/event-stream")


# -- the poller -------------------------------------------------------------------------


async def test_a_poll_delivers_every_page_stored_elsewhere_in_order_once(db_url: str) -> None:
    """More than a page of another replica's events between two polls: each arrives, in
    the order stored, once (a second poll and this replica's own events repeat none)."""
    count = REPLAY_LIMIT + 10
    assert count <= QUEUE_SIZE  # within what one subscriber may fall behind by
    config = _config(expected_components=[])
    async with _unstarted(db_url, config) as a:
        b = await Engine.open(db_url, config)
        try:
            async with serving(a) as http, stream(http, EVENTS) as frames:
                await until(lambda: a.control.components.subscriber_count == 1, "followed")
                rows = await asyncio.gather(
                    *(b.control.report("demo-driver", None, _status(str(n))) for n in range(count))
                )
                await a.control.poll()
                await a.control.poll()
                sentinel = await a.control.report("api-test-reset", None, _status("last"))
                seen = await _until_frame(frames, sentinel.id)
        finally:
            await b.close()
    stored = [row.id for row in rows]
    assert stored == sorted(stored)
    assert seen == [*stored, sentinel.id]


async def test_the_poller_runs_without_a_control_key_only_while_component_events_are_followed(
    db_url: str,
) -> None:
    """No control key: nothing to watch but other replicas' component events, and only
    while someone follows them here."""
    keyless = EngineConfig(stream=StreamConfig(ping_interval=0.3))
    a = await Engine.open(db_url, keyless)
    b = await Engine.open(db_url, keyless)
    try:
        idle = a.control.polling
        async with serving(a) as http:
            async with stream(http, EVENTS) as frames:
                await until(lambda: a.control.polling, "a follower starts the poller")
                row = await b.control.report("demo-driver", None, _status())
                (frame_id,) = await _until_frame(frames, row.id)
            await until(lambda: not a.control.polling, "the poller stops with the last follower")
    finally:
        await a.close()
        await b.close()
    assert not idle
    assert frame_id == row.id  # stored on the other replica, delivered by the poller


async def test_the_poller_runs_with_a_control_key(db_url: str) -> None:
    """With a key the slot is watched (other replicas' resets close ingest here)."""
    engine = await Engine.open(db_url, _config())
    try:
        polling = engine.control.polling
    finally:
        await engine.close()
    assert polling
    assert not engine.control.polling


# -- the engine's clock -----------------------------------------------------------------


async def test_control_times_come_from_the_engines_clock(db_url: str) -> None:
    fixed = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    config = _config(expected_components=[])
    async with _unstarted(db_url, config, clock=lambda: fixed) as engine:
        row = await engine.control.report("demo-driver", None, _status())
        principal = engine.control.check_key(CONTROL_KEY)
        accepted = await engine.control.recover(principal, RecoverRequest(days_back=2))
        await until(lambda: not engine.control.sagas.driving, "the recover completed")
        stored = await asyncio.to_thread(engine.store.control_events_after, "", 0, 100)
        replayed = await asyncio.to_thread(engine.store.component_events_after, "", 0, 100)
    assert replayed == [row]
    assert row.received_at == to_micros(fixed)
    assert accepted.accepted_at == format_rfc3339(fixed)
    assert accepted.since == format_rfc3339(fixed - timedelta(days=2))
    assert [event.type for event in stored] == [
        "recover-initiated",
        "recover-started",
        "recover-completed",
    ]
    assert {event.occurred_at for event in stored} == {to_micros(fixed)}
    assert json.loads(stored[-1].payload or "{}") == {"since": accepted.since}
