"""A closed-loop HTTP/1.1 load generator, run in its own process by the ingest benchmark.

`python -m benchmarks._load URL PATH --seconds S --connections C [--key K] [--client raw]`
keeps C keep-alive connections busy for S seconds (URL may be several, comma-separated:
servers of one engine, which the connections are spread over in turn), each sending the
next request as soon as the previous response is read, and prints one JSON line: requests
completed, statuses, per-request latencies (µs) and the CPU time the generator itself used.

The default `raw` client writes pre-built requests on asyncio streams and parses only the
status line and `Content-Length`, like wrk does: it costs ~60 µs of CPU per request, so
one generator can drive a one-core server past its limit on a two-core machine. The
`httpx` client (`httpx.AsyncClient`, the library the rest of shipdeck uses) is kept to
show why it is not the default: on this kind of machine it saturates its own core first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from ._dataset import LogShape, ingest_bodies


@dataclass(slots=True)
class LoadResult:
    """What one generator saw."""

    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_us: list[int] = field(default_factory=list)
    created_us: list[int] = field(default_factory=list)
    """The latencies of the `201 Created` answers alone."""

    def record(self, status: int, started: float) -> None:
        """Count one response that arrived now."""
        self.statuses[status] += 1
        latency = int((time.perf_counter() - started) * 1e6)
        self.latencies_us.append(latency)
        if status == 201:
            self.created_us.append(latency)


def bodies(count: int, seed: int) -> list[bytes]:
    """Distinct, realistic ingest bodies (50 services × 5 environments), happening now."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    shape = LogShape(rows=count, services=50, seed=seed)
    out = []
    for index, body in enumerate(ingest_bodies(shape)):
        body["deployment_id"] = f"load-{seed}-{index}"
        body["happened_at"] = now
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


def raw_requests(url: str, path: str, key: str | None, payloads: list[bytes]) -> list[bytes]:
    """Complete HTTP/1.1 requests, ready to write."""
    host = urlsplit(url).netloc
    auth = f"X-Api-Key: {key}\r\n" if key else ""
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: shipdeck-bench\r\n"
            f"Content-Type: application/json\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in payloads
    ]


async def _raw_connection(
    url: str, requests: list[bytes], offset: int, deadline: float, result: LoadResult
) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        index = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[index % len(requests)])
            index += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"transfer-encoding":
                    raise RuntimeError("chunked responses are not expected here")
            await reader.readexactly(length)
            result.record(status, started)
    finally:
        writer.close()
        await writer.wait_closed()


async def _httpx_connection(
    client: httpx.AsyncClient,
    path: str,
    payloads: list[bytes],
    offset: int,
    deadline: float,
    result: LoadResult,
) -> None:
    index = offset
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        response = await client.post(path, content=payloads[index % len(payloads)])
        index += 1
        result.record(response.status_code, started)


async def run_load(args: argparse.Namespace, payloads: list[bytes]) -> LoadResult:
    """Keep `args.connections` requests in flight for `args.seconds`."""
    result = LoadResult()
    step = len(payloads) // args.connections
    started = time.perf_counter()
    deadline = started + args.seconds
    urls = args.url.split(",")
    if args.client == "raw":
        requests = {url: raw_requests(url, args.path, args.key, payloads) for url in urls}
        await asyncio.gather(
            *(
                _raw_connection(url, requests[url], i * step, deadline, result)
                for i in range(args.connections)
                for url in [urls[i % len(urls)]]
            )
        )
    else:
        headers = {"Content-Type": "application/json"}
        if args.key:
            headers["X-Api-Key"] = args.key
        limits = httpx.Limits(
            max_connections=args.connections, max_keepalive_connections=args.connections
        )
        async with httpx.AsyncClient(base_url=urls[0], headers=headers, limits=limits) as client:
            await asyncio.gather(
                *(
                    _httpx_connection(client, args.path, payloads, i * step, deadline, result)
                    for i in range(args.connections)
                )
            )
    result.seconds = time.perf_counter() - started
    return result


def main() -> None:
    """Run one load phase and print its JSON result."""
    parser = argparse.ArgumentParser(description="closed-loop HTTP/1.1 load generator")
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--key", default=None)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--bodies", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    payloads = bodies(args.bodies, args.seed)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(run_load(args, payloads))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    used = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    print(
        json.dumps(
            {
                "seconds": result.seconds,
                "statuses": {str(k): v for k, v in result.statuses.items()},
                "latencies_us": result.latencies_us,
                "created_latencies_us": result.created_us,
                "cpu_seconds": used,
            }
        )
    )


if __name__ == "__main__":
    main()
