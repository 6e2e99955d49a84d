"""SSE subscribers for the `sse` benchmark, run in their own process.

`python -m benchmarks._sse_reader URL READY --connections N --expect E [--client …]`
opens N streams on `URL/api/events/stream`, creates the file READY once every stream has
sent its first frame (the server subscribes before it writes anything), then reads until each
stream has delivered E `deployment` events or no event came for `--idle` seconds. The
last stdout line is one JSON document: deliveries, a latency histogram (receive time
minus the send time the pacer wrote into each row's `message`), gaps, repeats, resyncs and
CPU.

Two clients read the same streams:

- `raw` (default): an `asyncio.Protocol` per stream that finds frames with one regular
  expression — a few µs of CPU per event, so 500 streams × 200 events/s stay cheap next
  to the server on a two-core machine;
- `httpx`: `httpx.AsyncClient` + `httpx_sse.aconnect_sse`, what shipdeck's remote client
  uses; it costs several times more CPU per event (the benchmark reports both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from httpx_sse import aconnect_sse

from ._histogram import Histogram

SENT = b"bench-sent-ns="
FRAME = re.compile(rb"id: (\d+)\n(?:event: ([\w-]+)\ndata: ([^\n]*)\n)?\n")
"""A frame with an `id:` as the server writes them; `retry:` lines and `: ping` comments are
skipped, and chunked encoding's size lines fall between frames, never inside one."""
STREAM_PATH = "/api/events/stream"


@dataclass(slots=True)
class Tally:
    """What every stream of this process delivered."""

    latencies: Histogram = field(default_factory=Histogram)
    gaps: int = 0
    repeats: int = 0
    resyncs: int = 0
    others: int = 0
    last_event: float = 0.0
    """`time.monotonic()` of the latest delivery (for the idle stop)."""
    last_ns: int = 0
    """`time.time_ns()` of the latest delivery."""


@dataclass(slots=True)
class Stream:
    """One subscription's position and progress."""

    tally: Tally
    expect: int
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    last_id: int | None = None
    delivered: int = 0

    def frame(self, event: bytes, frame_id: bytes | None, data: bytes, received: int) -> None:
        """Account for one SSE frame (`event` empty for a block with only an `id:`)."""
        self.ready.set()
        tally = self.tally
        if frame_id is not None:
            seq = int(frame_id)
            last = self.last_id
            if last is not None and seq <= last:
                tally.repeats += 1
            elif last is not None and seq != last + 1:
                tally.gaps += seq - last - 1
            self.last_id = seq
        if event != b"deployment":
            if event == b"resync":
                tally.resyncs += 1
            return
        start = data.find(SENT)
        if start < 0:
            tally.others += 1
            return
        start += len(SENT)
        sent = int(data[start : data.index(b'"', start)])
        tally.latencies.add_us((received - sent) // 1000)
        self.delivered += 1
        if self.delivered >= self.expect:
            self.done.set()


class RawSSE(asyncio.Protocol):
    """An SSE stream over HTTP/1.1 chunked encoding, read with one regular expression.

    Only complete frames are parsed (up to the last blank line received); `FRAME` skips
    the chunk-size lines between them, so a TCP read costs one C-level scan, not a Python
    loop per line: a few µs of CPU per event, small next to the server's share.
    """

    def __init__(self, stream: Stream, request: bytes) -> None:
        self.stream = stream
        self.request = request
        self.head: bytes | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        received = time.time_ns()
        buffer = self.buffer + data
        if self.head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.head, buffer = buffer[:end], buffer[end + 4 :]
            if not self.head.startswith(b"HTTP/1.1 200") or b"chunked" not in self.head.lower():
                raise RuntimeError(f"unexpected stream answer: {self.head!r}")
        end = buffer.rfind(b"\n\n") + 2
        self.buffer = buffer[end:]
        if end < 2:
            return
        stream = self.stream
        for frame_id, event, payload in FRAME.findall(buffer, 0, end):
            stream.frame(event, frame_id, payload, received)
        if stream.delivered:
            stream.tally.last_event = time.monotonic()
            stream.tally.last_ns = max(stream.tally.last_ns, received)
        stream.ready.set()  # the opening block (`retry:` + `id:`) says it is subscribed


async def open_raw(url: str, stream: Stream) -> asyncio.BaseTransport:
    """Subscribe with the hand-made client."""
    parts = urlsplit(url)
    request = (
        f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(
        lambda: RawSSE(stream, request), parts.hostname, parts.port
    )
    return transport


async def read_httpx(client: httpx.AsyncClient, stream: Stream) -> None:
    """Subscribe with httpx + httpx-sse and read until told to stop."""
    async with aconnect_sse(client, "GET", STREAM_PATH) as source:
        async for sse in source.aiter_sse():
            received = time.time_ns()
            frame_id = sse.id.encode() if sse.id else None
            stream.frame(sse.event.encode(), frame_id, sse.data.encode(), received)
            stream.tally.last_event = time.monotonic()
            stream.tally.last_ns = max(stream.tally.last_ns, received)


def raise_file_limit(needed: int) -> None:
    """Allow `needed` open sockets (soft limit up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def subscribe_all(
    args: argparse.Namespace, on_ready: Callable[[], None]
) -> dict[str, object]:
    """Open every stream, call `on_ready`, read, and tally."""
    tally = Tally()
    streams = [Stream(tally, args.expect) for _ in range(args.connections)]
    tasks: list[asyncio.Task[None]] = []
    transports: list[asyncio.BaseTransport] = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(10.0, read=None)
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=timeout) as client:
        for start in range(0, len(streams), 50):  # in batches: kind to the listen backlog
            batch = streams[start : start + 50]
            for stream in batch:
                if args.client == "raw":
                    transports.append(await open_raw(args.url, stream))
                else:
                    tasks.append(asyncio.create_task(read_httpx(client, stream)))
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in batch)), 30)
        on_ready()
        cpu_start = resource.getrusage(resource.RUSAGE_SELF)
        await wait_done(streams, tally, args.idle, args.timeout)
        cpu_end = resource.getrusage(resource.RUSAGE_SELF)
        for transport in transports:
            transport.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    cpu = cpu_end.ru_utime + cpu_end.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime
    return {
        "connections": len(streams),
        "latencies": tally.latencies.to_json(),
        "per_stream": [s.delivered for s in streams],
        "gaps": tally.gaps,
        "repeats": tally.repeats,
        "resyncs": tally.resyncs,
        "others": tally.others,
        "last_ns": tally.last_ns,
        "cpu_seconds": cpu,
    }


async def wait_done(streams: list[Stream], tally: Tally, idle: float, timeout: float) -> None:
    """Until every stream has all it expects, or events stopped coming for `idle` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s.done.is_set() for s in streams):
            return
        if tally.last_event and time.monotonic() - tally.last_event > idle:
            return
        await asyncio.sleep(0.1)


def main() -> None:
    """Subscribe, read, print the JSON tally."""
    parser = argparse.ArgumentParser(description="SSE subscribers for the sse benchmark")
    parser.add_argument("url")
    parser.add_argument("ready", help="a file to create once every stream is subscribed")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    raise_file_limit(args.connections + 64)
    result = asyncio.run(subscribe_all(args, Path(args.ready).touch))
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
