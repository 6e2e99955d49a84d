"""The live feed over a connection cut at random points: every event once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import httpx
import pytest

from shipdeck.client import ConnectionChanged, DeploymentArrived, LinkState, ResyncNeeded
from shipdeck.client.remote import RemoteClient
from tests.conftest import ServerProcess, free_port

from .conftest import CuttingProxy, until

WAIT = 180.0


async def ingest(url: str, key: str, count: int, concurrency: int = 8) -> set[str]:
    """Post `count` rows with `concurrency` writers; the ids of the acknowledged ones."""
    sent: set[str] = set()
    numbers = iter(range(count))

    async def writer(client: httpx.AsyncClient) -> None:
        for n in numbers:
            body = {
                "deployment_id": f"cut-{n}",
                "service": f"svc-{n % 20}",
                "environment": "dev",
                "status": "success",
                "version": f"1.0.{n}",
                "happened_at": "2026-05-28T09:00:00Z",
            }
            response = await client.post("/api/deployments", json=body)
            assert response.status_code == 201, response.text
            sent.add(f"cut-{n}")

    async with httpx.AsyncClient(base_url=url, headers={"X-Api-Key": key}, timeout=30) as client:
        await asyncio.gather(*(writer(client) for _ in range(concurrency)))
    return sent


async def run_cuts(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
    events: int,
    min_cuts: int,
) -> tuple[int, int]:
    from tests.conftest import create_key

    key = create_key(db_url, "ci")
    server = server_factory(db_url, server_config).start()
    proxy = await cutting_proxy(server.port, random.Random(7), 500, 40_000).start()
    client = RemoteClient(proxy.url, backoff_base=0.01, backoff_cap=0.05, rng=random.Random(3))
    await client.start()
    seen: list[tuple[int, str]] = []
    resyncs = 0
    live = asyncio.Event()

    async def follow() -> None:
        nonlocal resyncs
        async for item in client.feed():
            if isinstance(item, ConnectionChanged) and item.status.state is LinkState.LIVE:
                live.set()
            elif isinstance(item, ResyncNeeded):
                resyncs += 1
            elif isinstance(item, DeploymentArrived):
                seen.append((item.seq, item.event.deployment_id))
                if len(seen) >= events:
                    return

    follower = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(live.wait(), 30)
        sent = await ingest(server.url, key, events)
        # Keep cutting until enough cuts happened, then let the tail arrive uncut.
        await until(lambda: proxy.cuts >= min_cuts or follower.done())
        proxy.cutting = proxy.cuts < min_cuts
        await asyncio.wait_for(follower, WAIT)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await client.close()
    ids = [deployment_id for _, deployment_id in seen]
    seqs = [seq for seq, _ in seen]
    assert len(ids) == len(set(ids)) == events, "duplicates or losses"
    assert set(ids) == sent
    assert seqs == list(range(seqs[0], seqs[0] + events)), "not in order or with gaps"
    assert resyncs == 0
    assert proxy.cuts >= min_cuts
    return proxy.cuts, proxy.connections


@pytest.mark.slow
async def test_sse_under_cuts_fast(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
) -> None:
    await run_cuts(db_url, server_config, server_factory, cutting_proxy, 1_000, 10)


@pytest.mark.full
async def test_sse_under_cuts_full(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
) -> None:
    cuts, connections = await run_cuts(
        db_url, server_config, server_factory, cutting_proxy, 10_000, 50
    )
    print(f"\nSSE under cuts: 10,000 events, {cuts} cuts, {connections} connections, 0 lost")


async def test_a_server_that_closes_at_once_is_not_hammered() -> None:
    """Accept-and-close: attempts back off exponentially (full jitter), they don't spin."""
    attempts = 0

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.transport.abort()

    server = await asyncio.start_server(slam, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    client = RemoteClient(f"http://127.0.0.1:{port}", backoff_base=0.1, backoff_cap=2.0)
    await client.start()
    statuses: list[int] = []

    async def follow() -> None:
        async for item in client.feed():
            if isinstance(item, ConnectionChanged) and item.status.state is LinkState.RECONNECTING:
                statuses.append(item.status.attempt)

    task = asyncio.create_task(follow())
    await asyncio.sleep(3.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.close()
    server.close()
    # Delays grow 0.1, 0.2, 0.4, 0.8, 1.6, 2 (caps) at most: in 3 s only a handful of tries,
    # never the hundreds a loop without backoff would make.
    assert 2 <= attempts <= 20
    assert statuses == list(range(1, len(statuses) + 1)), "attempts count up without reset"


async def test_backoff_resets_after_a_healthy_stream(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
) -> None:
    server = server_factory(db_url, server_config).start()
    proxy = await cutting_proxy(server.port, random.Random(1)).start()
    proxy.cutting = False
    client = RemoteClient(proxy.url, backoff_base=0.05, backoff_cap=0.2, healthy_after=0.5)
    await client.start()
    attempts: list[int] = []
    lives = 0

    async def follow() -> None:
        nonlocal lives
        async for item in client.feed():
            if not isinstance(item, ConnectionChanged):
                continue
            if item.status.state is LinkState.RECONNECTING:
                attempts.append(item.status.attempt)
            elif item.status.state is LinkState.LIVE:
                lives += 1
                if lives == 3:
                    return

    task = asyncio.create_task(follow())
    try:
        for n in range(2):
            # Wait for the stream to be live, keep it so past `healthy_after`, then cut it.
            await asyncio.wait_for(until(lambda: lives > n or task.done()), 60)  # noqa: B023
            await asyncio.sleep(1.2)
            assert proxy.cut_all() >= 1
            await asyncio.wait_for(until(lambda: len(attempts) > n or task.done()), 60)  # noqa: B023
        await asyncio.wait_for(task, 60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
    assert attempts[:2] == [1, 1], "each loss after a healthy stream starts the backoff over"
