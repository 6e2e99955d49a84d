"""The ingest side of the `sse` benchmark, run in its own process.

`python -m benchmarks._sse_pacer URL KEY --rate R --seconds S` posts R rows a second for
S seconds on a fixed schedule (open loop: a slow answer never delays the next row), each
row carrying its send time as `bench-sent-ns=<time.time_ns()>` in `message`, taken just
before the request is written. The last stdout line is a JSON summary.

Requests go over a pool of keep-alive connections written and read by hand (the status
line and `Content-Length` only, like `_load`): tens of µs of CPU per request, so the
pacer keeps its schedule while subscribers and the server share the machine's two cores
(an `httpx` pacer needed most of a core at 200 rows/s there, fell behind, and its pool's
backlog then made every request slower still). An answer's time is measured from the
row's scheduled moment, so a pacer that had to wait for a free connection shows it; so is
`late_ms`, each row's send time − its scheduled time (what the send-time stamp leaves out).
`--stamp scheduled` writes the row's scheduled wall-clock time instead of its send time, so
delivery latencies then include any lateness of the pacer too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

from ._dataset import LogShape, ingest_bodies

CONNECTIONS = 32


def templates(rows: int, seed: int) -> list[bytes]:
    """Bodies with `@SENT@` and `@AT@` where the send time and `happened_at` go."""
    out = []
    for index, body in enumerate(ingest_bodies(LogShape(rows=rows, services=50, seed=seed))):
        body["deployment_id"] = f"sse-{seed}-{index}"
        body["happened_at"] = "@AT@"
        body["message"] = "bench-sent-ns=@SENT@"
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


async def pace(args: argparse.Namespace) -> dict[str, object]:
    """Post on schedule over `CONNECTIONS` keep-alive connections; count answers."""
    bodies = templates(int(args.rate * args.seconds), args.seed)
    parts = urlsplit(args.url)
    head = (
        f"POST /api/deployments HTTP/1.1\r\nHost: {parts.netloc}\r\nX-Api-Key: {args.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    statuses: dict[int, int] = {}
    answer_ms: list[float] = []
    late_ms: list[float] = []  # per row: send time − scheduled time (the pacer's lateness)
    queue: asyncio.Queue[tuple[float, int, bytes] | None] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while (item := await queue.get()) is not None:
                scheduled, scheduled_ns, template = item
                late_ms.append((time.perf_counter() - scheduled) * 1000)
                stamp = scheduled_ns if args.stamp == "scheduled" else time.time_ns()
                body = template.replace(b"@SENT@", b"%d" % stamp).replace(
                    b"@AT@", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()
                )
                writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
                answer = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in answer.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                answer_ms.append((time.perf_counter() - scheduled) * 1000)
                status = int(answer[9:12])
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    await asyncio.sleep(0.2)  # connections open before the clock starts
    start = time.perf_counter()
    start_ns = time.time_ns()
    for index, body in enumerate(bodies):
        scheduled = start + index / args.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, start_ns + round(index / args.rate * 1e9), body))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return {
        "sent": len(bodies),
        "start_ns": start_ns,
        "seconds": time.perf_counter() - start,
        "statuses": {str(k): v for k, v in statuses.items()},
        "answer_ms": answer_ms,
        "late_ms": late_ms,
    }


def main() -> None:
    """Pace the rows and print the JSON summary."""
    parser = argparse.ArgumentParser(description="paced ingest for the sse benchmark")
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--stamp",
        choices=["sent", "scheduled"],
        default="sent",
        help="write the time the row was sent (default) or the time it was due",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(pace(args))))


if __name__ == "__main__":
    main()
