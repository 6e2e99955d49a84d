"""Log streams across 20 server restarts: resubscribed with backoff, every line once.

A deployment writes log lines while its server is stopped and started again and again (the
writer pauses while it is down). The client follows through a proxy that records each
connection: no line is lost or repeated, and no stream tries more than once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import httpx
import pytest

from shipdeck.client import LinkState, LogLinesArrived, LogLinkChanged, LogStreamEnded
from shipdeck.client.remote import RemoteClient
from tests.conftest import ServerProcess, create_key

from .conftest import CuttingProxy, until


async def restarts(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
    count: int,
) -> dict[str, float]:
    key = create_key(db_url, "ci")
    server = server_factory(db_url, server_config).start()
    proxy = await cutting_proxy(server.port, random.Random(0)).start()
    proxy.cutting = False
    headers = {"X-Api-Key": key}
    written = 0
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=5) as http:
        row = {
            "deployment_id": "long",
            "service": "api",
            "environment": "dev",
            "status": "in-progress",
            "happened_at": "2026-05-28T09:00:00Z",
        }
        assert (await http.post("/api/deployments", json=row)).status_code == 201

        async def write(n: int) -> None:
            nonlocal written
            for _ in range(n):
                body = {"lines": [{"message": f"line {written + 1}"}]}
                response = await http.post("/api/deployments/long/logs", json=body)
                assert response.status_code == 201
                written += 1

        client = RemoteClient(proxy.url, key, backoff_base=0.2, backoff_cap=1.0)
        await client.start()
        seqs: list[int] = []
        messages: list[str] = []
        links: list[LinkState] = []
        ended = asyncio.Event()

        async def follow() -> None:
            async for item in client.follow_logs("long"):
                if isinstance(item, LogLinesArrived):
                    seqs.extend(line.seq for line in item.lines)
                    messages.extend(line.message for line in item.lines)
                elif isinstance(item, LogLinkChanged):
                    links.append(item.status.state)
                elif isinstance(item, LogStreamEnded):
                    ended.set()

        follower = asyncio.create_task(follow())
        try:
            await write(5)
            for _ in range(count):
                await asyncio.wait_for(until(lambda: len(seqs) >= written), 30)
                await asyncio.to_thread(server.stop)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(server.start)
                await write(5)
            final = {**row, "status": "success", "happened_at": "2026-05-28T09:10:00Z"}
            assert (await http.post("/api/deployments", json=final)).status_code == 201
            await asyncio.wait_for(ended.wait(), 60)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await client.close()
    assert seqs == list(range(1, written + 1)), "lines lost, repeated or out of order"
    assert messages == [f"line {n}" for n in range(1, written + 1)]
    assert links.count(LinkState.RECONNECTING) >= count
    gaps = [b - a for a, b in zip(proxy.connected_at, proxy.connected_at[1:], strict=False)]
    assert min(gaps) >= 0.95, f"two attempts {min(gaps):.2f} s apart (at most one per second)"
    return {"restarts": count, "lines": written, "connections": proxy.connections}


@pytest.mark.slow
async def test_log_stream_across_restarts_fast(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
) -> None:
    await restarts(db_url, server_config, server_factory, cutting_proxy, 3)


@pytest.mark.full
async def test_log_stream_across_twenty_restarts(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    cutting_proxy: type[CuttingProxy],
) -> None:
    started = time.monotonic()
    figures = await restarts(db_url, server_config, server_factory, cutting_proxy, 20)
    print(f"\nlog stream across restarts: {figures}, {time.monotonic() - started:.0f} s")


async def test_refused_key_stops_with_a_reason(
    db_url: str, tmp_path: Path, server_factory: type[ServerProcess]
) -> None:
    """Reads need a key here: a wrong one is refused at the handshake, and not retried."""
    config = tmp_path / "closed.toml"
    config.write_text('[auth]\nread = "key"\n')
    server = server_factory(db_url, config).start()
    client = RemoteClient(server.url, "sdk_nope_nope")
    await client.start()
    items = []
    try:
        async with asyncio.timeout(20):
            async for item in client.follow_logs("anything"):
                items.append(item)
    finally:
        await client.close()
    last = items[-1]
    assert isinstance(last, LogLinkChanged) and last.status.state is LinkState.OFFLINE
    assert "key" in last.status.detail
