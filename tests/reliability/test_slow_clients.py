"""Dead and slow clients: half the SSE and WebSocket clients stop reading.

The server must not buffer for them without bound, the clients that read keep receiving,
and once the dead ones are gone the server's task count (and memory) go back to where they
started. Then thousands of connect/disconnect cycles leave no task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from shipdeck.domain import Role
from tests.conftest import ServerProcess, create_key

from .conftest import until


async def metric(url: str, name: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for line in (await http.get("/metrics")).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def dead_sse(port: int) -> socket.socket:
    """An SSE client that sends its request and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    await asyncio.get_running_loop().sock_sendall(
        sock, b"GET /api/events/stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n"
    )
    return sock


async def dead_ws(port: int, deployment_id: str) -> socket.socket:
    """A WebSocket log client that completes the handshake and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    request = (
        f"GET /api/deployments/{deployment_id}/logs/stream HTTP/1.1\r\nHost: t\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await asyncio.get_running_loop().sock_sendall(sock, request.encode())
    return sock


async def live_sse(url: str, seen: list[float], stop: asyncio.Event) -> None:
    """A reading SSE client: records each event's delivery delay (data carries send time)."""
    timeout = httpx.Timeout(60, read=60)
    async with (
        httpx.AsyncClient(base_url=url, timeout=timeout) as http,
        aconnect_sse(http, "GET", "/api/events/stream") as source,
    ):
        async for sse in source.aiter_sse():
            if sse.event == "deployment" and '"version":"t' in sse.data:
                sent = float(sse.data.split('"version":"t')[1].split('"')[0])
                seen.append(time.time() - sent)
            if stop.is_set():
                return


async def run(
    db_url: str,
    server_config: Path,
    server_factory: type[ServerProcess],
    sse_clients: int,
    ws_clients: int,
    cycles: int,
) -> dict[str, float]:
    reporter = create_key(db_url, "ci", Role.REPORTER)
    server = server_factory(db_url, server_config).start()
    headers = {"X-Api-Key": reporter}
    figures: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        row = {
            "deployment_id": "long-run",
            "service": "api",
            "environment": "dev",
            "status": "in-progress",
            "happened_at": "2026-05-28T09:00:00Z",
        }
        assert (await http.post("/api/deployments", json=row)).status_code == 201
        await asyncio.sleep(1.5)
        base_tasks = await metric(server.url, "shipdeck_asyncio_tasks")
        base_rss = await metric(server.url, "process_resident_memory_bytes")

        stop = asyncio.Event()
        delays: list[float] = []
        readers = [
            asyncio.create_task(live_sse(server.url, delays, stop))
            for _ in range(sse_clients - sse_clients // 2)
        ]
        async with asyncio.timeout(120):  # every reader subscribed before the first event
            while await metric(server.url, "shipdeck_stream_subscribers") < len(readers):  # noqa: ASYNC110  # polling the server
                await asyncio.sleep(0.2)

        async def traffic(seconds: float) -> int:
            sent = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                body = {**row, "deployment_id": f"e-{time.monotonic_ns()}", "status": "success"}
                body["version"] = f"t{time.time():.6f}"
                await http.post("/api/deployments", json=body)
                lines = {"lines": [{"message": "x" * 200} for _ in range(20)]}
                await http.post("/api/deployments/long-run/logs", json=lines)
                sent += 1
                await asyncio.sleep(0.05)
            return sent

        # The readers' latency alone, then with as many dead clients beside them.
        sent = await traffic(5.0)
        async with asyncio.timeout(120):
            await until(lambda: len(delays) >= sent * len(readers))
        alone = list(delays)
        delays.clear()
        warm_blocks = await metric(server.url, "shipdeck_python_heap_blocks")
        dead = [await dead_sse(server.port) for _ in range(sse_clients // 2)]
        dead += [await dead_ws(server.port, "long-run") for _ in range(ws_clients // 2)]
        # Until their socket buffers are full, dead clients cost what live ones do (the
        # server cannot tell them apart): fill them with large rows, then measure.
        bulky = {**row, "status": "success", "message": "x" * 4000}
        for n in range(100):
            await http.post("/api/deployments", json={**bulky, "deployment_id": f"fill-{n}"})
        await asyncio.sleep(2.0)
        sent = await traffic(10.0)
        loaded_rss = await metric(server.url, "process_resident_memory_bytes")
        loaded_blocks = await metric(server.url, "shipdeck_python_heap_blocks")
        async with asyncio.timeout(120):  # every event to every reader
            await until(lambda: len(delays) >= sent * len(readers))
        stop.set()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for sock in dead:
            sock.close()
        figures["events"] = sent
        figures["alone_p50_ms"] = statistics.median(alone) * 1000
        figures["alone_p99_ms"] = statistics.quantiles(alone, n=100)[98] * 1000
        figures["delivery_p50_ms"] = statistics.median(delays) * 1000
        figures["delivery_p99_ms"] = statistics.quantiles(delays, n=100)[98] * 1000
        # Not a performance target (those are benchmarks): a server that waited on a dead
        # client's socket would stall the readers for seconds, far past this.
        assert figures["delivery_p99_ms"] < figures["alone_p99_ms"] + 1000, figures
        figures["rss_loaded_mb"] = (loaded_rss - base_rss) / 2**20

        # Back to the baseline within 60 s: tasks, and the heap blocks the dead clients held
        # (at least three quarters of them: the rest is the caches the traffic warmed).
        started = time.monotonic()
        tasks_back = blocks_back = None
        while time.monotonic() - started < 60 and (tasks_back is None or blocks_back is None):
            tasks = await metric(server.url, "shipdeck_asyncio_tasks")
            blocks = await metric(server.url, "shipdeck_python_heap_blocks")
            if tasks_back is None and tasks <= base_tasks:
                tasks_back = time.monotonic() - started
            if blocks_back is None and blocks - warm_blocks < (loaded_blocks - warm_blocks) / 4:
                blocks_back = time.monotonic() - started
            await asyncio.sleep(0.5)
        figures["heap_blocks_warm"] = warm_blocks
        figures["heap_blocks_loaded"] = loaded_blocks
        figures["heap_blocks_after"] = blocks
        assert tasks_back is not None, f"{tasks} tasks, baseline {base_tasks}"
        assert blocks_back is not None, f"heap blocks {figures}"
        figures["tasks_back_s"] = tasks_back
        figures["heap_back_s"] = blocks_back
        assert await metric(server.url, "shipdeck_stream_subscribers") == 0
        assert await metric(server.url, "shipdeck_log_followers") == 0
        rss = await metric(server.url, "process_resident_memory_bytes")
        figures["rss_after_mb"] = (rss - base_rss) / 2**20
        assert rss - base_rss < 100 * 2**20

        # Connect and disconnect, many times.
        async def cycle(n: int) -> None:
            for _ in range(n):
                async with (
                    httpx.AsyncClient(base_url=server.url, timeout=60) as c,
                    aconnect_sse(c, "GET", "/api/events/stream") as source,
                ):
                    assert source.response.status_code == 200
                with contextlib.suppress(OSError):
                    sock = await dead_ws(server.port, "long-run")
                    sock.close()

        # Ten at a time: the point is what the server keeps afterwards, not its rate.
        await asyncio.gather(*(cycle(cycles // 10) for _ in range(10)))
        started = time.monotonic()
        while time.monotonic() - started < 60:
            tasks = await metric(server.url, "shipdeck_asyncio_tasks")
            if tasks <= base_tasks:
                break
            await asyncio.sleep(0.5)
        assert tasks <= base_tasks, f"{tasks} tasks after {cycles} cycles, baseline {base_tasks}"
        figures["cycles"] = cycles
    return figures


def unsent_bytes(server_port: int, client_port: int) -> int:
    """The kernel's send queue of the server's socket to one client (`/proc/net/tcp`)."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[0], 16)
    raise AssertionError(f"no socket {local} → {remote}")


@pytest.mark.slow
async def test_a_stream_nobody_reads_holds_a_bounded_backlog(
    db_url: str, server_config: Path, server_factory: type[ServerProcess]
) -> None:
    """The kernel would grow a non-reading client's send buffer to megabytes (and the
    server would go on writing to it at every tick); the server bounds it instead."""
    reporter = create_key(db_url, "ci", Role.REPORTER)
    server = server_factory(db_url, server_config).start()
    sock = await dead_sse(server.port)
    try:
        row = {
            "service": "api",
            "environment": "dev",
            "status": "success",
            "happened_at": "2026-05-28T09:00:00Z",
            "message": "x" * 4000,
        }
        headers = {"X-Api-Key": reporter}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            for n in range(1000):  # 4 MB of events for a client that reads none of them
                body = {**row, "deployment_id": f"big-{n}"}
                assert (await http.post("/api/deployments", json=body)).status_code == 201
        await asyncio.sleep(1.0)  # the last tick delivered
        unsent = unsent_bytes(server.port, sock.getsockname()[1])
        assert 0 < unsent <= 2 * 128 * 1024, f"{unsent} bytes queued for a dead client"
    finally:
        sock.close()


@pytest.mark.slow
async def test_dead_clients_fast(
    db_url: str, server_config: Path, server_factory: type[ServerProcess]
) -> None:
    figures = await run(db_url, server_config, server_factory, 40, 10, 200)
    print(f"\ndead clients (fast): {figures}")


@pytest.mark.full
async def test_dead_clients_full(
    db_url: str, server_config: Path, server_factory: type[ServerProcess]
) -> None:
    figures = await run(db_url, server_config, server_factory, 500, 100, 10_000)
    print(f"\ndead clients (500 SSE, 100 WS, half dead; 10,000 cycles): {figures}")
