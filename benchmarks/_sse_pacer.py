"""The ingest side of the `sse` benchmark, run in its own process.

`python -m benchmarks._sse_pacer URL KEY --rate R --seconds S` posts R rows a second for
S seconds on a fixed schedule (open loop: a slow answer never delays the next row), each
row carrying its send time as `bench-sent-ns=<time.time_ns()>` in `message`, taken just
before the request is written. The last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx

from ._dataset import LogShape, ingest_bodies


async def pace(args: argparse.Namespace) -> dict[str, object]:
    """Post on schedule; count answers."""
    shape = LogShape(rows=int(args.rate * args.seconds), services=50, seed=args.seed)
    bodies = list(ingest_bodies(shape))
    statuses: dict[int, int] = {}
    answer_ms: list[float] = []
    headers = {"X-Api-Key": args.key, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    async def post(client: httpx.AsyncClient, index: int, body: dict[str, object]) -> None:
        body["deployment_id"] = f"sse-{args.seed}-{index}"
        body["happened_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body["message"] = f"bench-sent-ns={time.time_ns()}"
        started = time.perf_counter()
        response = await client.post("/api/deployments", content=json.dumps(body))
        answer_ms.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(base_url=args.url, headers=headers, limits=limits) as client:
        await client.get("/readyz")  # open a connection before the clock starts
        start = time.perf_counter()
        start_ns = time.time_ns()
        tasks = []
        for index, body in enumerate(bodies):
            delay = start + index / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(client, index, body)))
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    return {
        "sent": len(bodies),
        "start_ns": start_ns,
        "seconds": seconds,
        "statuses": {str(k): v for k, v in statuses.items()},
        "answer_ms": answer_ms,
    }


def main() -> None:
    """Pace the rows and print the JSON summary."""
    parser = argparse.ArgumentParser(description="paced ingest for the sse benchmark")
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(pace(args))))


if __name__ == "__main__":
    main()
