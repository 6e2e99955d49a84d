"""An engine on PostgreSQL sees every row another replica commits, also when one of its own
commits is published before the other replica's notice arrives (the two come on different
connections, and a slow listener thread lets the local answer overtake)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine
from shipdeck.engine.config import EngineConfig
from shipdeck.engine.ingest import ingest_row
from shipdeck.engine.logs import LogFollower
from shipdeck.engine.store import open_store

BASE = datetime(2026, 6, 1, tzinfo=UTC)


def body(deployment_id: str, service: str, status: Status, minute: int) -> DeploymentEventIngest:
    return DeploymentEventIngest(
        deployment_id=deployment_id,
        service=service,
        environment="prod",
        status=status,
        version="1.0",
        happened_at=BASE + timedelta(minutes=minute),
    )


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def drain(follower: LogFollower) -> None:
    async with follower as lines:
        async for _ in lines:
            pass


async def test_a_row_whose_notice_a_local_commit_overtook_is_read(pg_url: str) -> None:
    engine = await Engine.open(pg_url, EngineConfig())
    other = open_store(pg_url)  # another replica
    try:
        started = other.append_deployment(ingest_row(body("d-b", "api", Status.IN_PROGRESS, 1)))
        await until(lambda: engine.head >= started.seq, "the engine to hear the other replica")
        following = asyncio.create_task(drain(engine.follow_logs("d-b")))
        await asyncio.sleep(0.1)  # the follower has read the store and waits for news
        listener = engine.store._listener  # type: ignore[attr-defined]
        told, listener.callback = listener.callback, None  # its notices are late from now on
        ended = other.append_deployment(ingest_row(body("d-b", "api", Status.SUCCESS, 2)))
        event, _ = await engine.ingest(body("d-a", "web", Status.SUCCESS, 3))
        assert engine.head > ended.seq  # this engine's commit came after the other's
        # The follower ends once the engine sees d-b's final row: read for the gap before
        # its own event, not for the notice (which never came).
        await asyncio.wait_for(following, 5)
        listener.callback = told
        assert await engine.event_position_of_row(event.id) == engine.head
    finally:
        other.close()
        await engine.close()


async def test_what_another_replica_committed_before_the_listener_listened_is_read(
    pg_url: str,
) -> None:
    """An engine reads its head when it is made and listens once started: a commit of
    another replica in between sends its notice to no one, so the listener, once
    listening, has the engine read all."""
    other = open_store(pg_url)  # another replica
    engine = Engine(open_store(pg_url), EngineConfig())  # its head is read now
    try:
        unheard = other.append_deployment(ingest_row(body("d-b", "api", Status.SUCCESS, 1)))
        assert engine.head < unheard.seq
        engine.start()
        await engine.recovered()
        await until(lambda: engine.head >= unheard.seq, "the engine to read the row")
    finally:
        other.close()
        await engine.close()
