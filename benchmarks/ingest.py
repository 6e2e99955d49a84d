"""`ingest`: POST /api/deployments throughput against one uvicorn worker.

Target: ingest ≥ 0.5 × the requests/s of an empty endpoint of the same app, same run.

The server is `benchmarks.server_runner` (the `shipdeck serve` app plus `POST /bench/empty`)
in a child process on loopback. A load generator in another process (`benchmarks._load`)
keeps 32 keep-alive connections busy, closed loop, for 5 s per phase, with distinct,
realistic bodies and a reporter's `X-Api-Key`; the empty endpoint gets the very same
requests. Phases alternate (empty, ingest, empty, ingest) so drift on a shared machine
hits both alike. Every ingest answer is then checked against the rows the log holds.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import statistics
import time
from dataclasses import dataclass

from shipdeck.domain import DeploymentEventIngest
from shipdeck.engine import Engine

from ._harness import Report, Server, Workers, create_key, percentile, say, scratch_dir
from ._load import bodies

NAME = "ingest"
SUMMARY = "POST /api/deployments vs an empty endpoint, one uvicorn worker"
TARGET_RATIO = 0.5
CONNECTIONS = 32
SECONDS = 5.0
ROUNDS = 2
WARM_UP_SECONDS = 1.5
HTTPX_CONNECTIONS = 8
HTTPX_SECONDS = 3.0
ENGINE_SECONDS = 3.0
EMPTY, INGEST = "/bench/empty", "/api/deployments"
CONFIG_TEXT = """\
# Written by benchmarks/ingest.py: the load generator uses one key, and the default
# per-key limit (200 changes/s, bursts of 2,000) would answer 429 long before the server
# reaches its own limit.
[rate_limit]
per_second = 1000000
burst = 1000000
"""


@dataclass(frozen=True, slots=True)
class Phase:
    """One load phase as measured."""

    path: str
    requests: int
    created: int
    """Answers `201 Created` (every request should get one)."""
    seconds: float
    latencies_ms: list[float]
    server_cores: float
    """Server CPU seconds per second of load: ~1.0 means its one core was saturated."""
    loop_share: float
    """The part of the server's CPU spent on its event-loop thread (the rest: the store's
    writer and readers, and the thread pools of sync dependencies)."""
    client_cores: float

    @property
    def rate(self) -> float:
        """`201 Created` answers per second (a `429` or an error is no row)."""
        return self.created / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per completed request."""
        return self.server_cores * self.seconds / max(self.requests, 1) * 1e6


_seeds = itertools.count(1)


def phase(
    server: Server,
    path: str,
    key: str,
    seconds: float,
    *,
    client: str = "raw",
    connections: int = CONNECTIONS,
) -> Phase:
    """Run one load generator process against `path` and collect what it saw."""
    with Workers() as workers:
        cpu_before, loop_before = server.cpu_seconds(), server.loop_cpu_seconds()
        workers.spawn(
            "benchmarks._load",
            server.url,
            path,
            f"--seconds={seconds}",
            f"--connections={connections}",
            f"--key={key}",
            f"--client={client}",
            f"--seed={next(_seeds)}",
        )
        [result] = workers.results(timeout=seconds + 60)
        server_cpu = server.cpu_seconds() - cpu_before
        loop_cpu = server.loop_cpu_seconds() - loop_before
    statuses: dict[str, int] = result["statuses"]
    wall: float = result["seconds"]
    return Phase(
        path,
        sum(statuses.values()),
        statuses.get("201", 0),
        wall,
        [us / 1000 for us in result["latencies_us"]],
        server_cpu / wall,
        loop_cpu / server_cpu if server_cpu else 0.0,
        result["cpu_seconds"] / wall,
    )


def _show(p: Phase) -> None:
    say(
        f"  {p.path:<18} {p.rate:8,.0f} req/s  p50 {percentile(p.latencies_ms, 50):6.1f} ms"
        f"  p99 {percentile(p.latencies_ms, 99):6.1f} ms  server {p.server_cores:.2f} cores"
        f" ({p.cpu_us_per_request:.0f} µs/request, {p.loop_share:.0%} on the event loop)"
        f"  load generator {p.client_cores:.2f} cores"
    )
    if p.created != p.requests:
        say(f"  !! {p.requests - p.created} answers were not 201 Created")


def run() -> Report:
    """Alternate empty and ingest phases; compare their rates."""
    report = Report(NAME)
    wrk = shutil.which("wrk")
    say(f"wrk: {'installed at ' + wrk + ' (not used)' if wrk else 'not installed'}")
    say(f"load: {CONNECTIONS} keep-alive connections, closed loop, {SECONDS:g} s per phase")
    with scratch_dir(NAME) as folder:
        database = folder / "ingest.db"
        url = f"sqlite:///{database}"
        key = create_key(url)
        config = folder / "ingest.toml"
        config.write_text(CONFIG_TEXT)
        with Server(url, runner=True, config=config) as server:
            warm = [phase(server, path, key, WARM_UP_SECONDS) for path in (EMPTY, INGEST)]
            empty: list[Phase] = []
            ingest: list[Phase] = []
            for round_ in range(1, ROUNDS + 1):
                say(f"round {round_}:")
                for path, phases in ((EMPTY, empty), (INGEST, ingest)):
                    phases.append(phase(server, path, key, SECONDS))
                    _show(phases[-1])
            httpx_empty = phase(
                server,
                EMPTY,
                key,
                HTTPX_SECONDS,
                client="httpx",
                connections=HTTPX_CONNECTIONS,
            )
            say(f"httpx.AsyncClient, {HTTPX_CONNECTIONS} connections:")
            _show(httpx_empty)
        with sqlite3.connect(database) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM deployments").fetchone()[0]
        in_process = asyncio.run(engine_rate(f"sqlite:///{folder / 'engine.db'}"))
    created = sum(p.created for p in ingest) + warm[1].created
    summarise(report, empty, ingest, httpx_empty, stored - created)
    report.add("Engine.ingest in-process (no HTTP)", in_process, "rows/s")
    return report


async def engine_rate(url: str) -> float:
    """Rows/s `Engine.ingest` sustains with as many callers in flight, without HTTP."""
    payloads = [DeploymentEventIngest.model_validate_json(b) for b in bodies(5_000, seed=99)]
    engine = await Engine.open(url)
    done = 0
    deadline = time.perf_counter() + ENGINE_SECONDS

    async def caller(offset: int) -> None:
        nonlocal done
        index = offset
        while time.perf_counter() < deadline:
            await engine.ingest(payloads[index % len(payloads)])
            index += 1
            done += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(caller(i * 150) for i in range(CONNECTIONS)))
        return done / (time.perf_counter() - started)
    finally:
        await engine.close()


def summarise(
    report: Report, empty: list[Phase], ingest: list[Phase], httpx_empty: Phase, lost: int
) -> None:
    """Turn the phases into figures."""
    empty_rate = statistics.mean(p.rate for p in empty)
    ingest_rate = statistics.mean(p.rate for p in ingest)
    latencies = [ms for p in ingest for ms in p.latencies_ms]
    empty_latencies = [ms for p in empty for ms in p.latencies_ms]
    ratio = ingest_rate / empty_rate
    report.add("empty endpoint", empty_rate, "req/s")
    report.add("POST /api/deployments", ingest_rate, "req/s")
    report.add("ingest / empty", ratio, "x", f"≥ {TARGET_RATIO:g}x", ratio >= TARGET_RATIO)
    report.add("ingest latency p50", percentile(latencies, 50), "ms")
    report.add("ingest latency p99", percentile(latencies, 99), "ms")
    report.add("empty latency p50", percentile(empty_latencies, 50), "ms")
    report.add("server CPU during ingest", statistics.mean(p.server_cores for p in ingest), "cores")
    for label, phases in (("empty", empty), ("ingest", ingest)):
        per_request = statistics.mean(p.cpu_us_per_request for p in phases)
        loop = statistics.mean(p.loop_share for p in phases)
        report.add(f"server CPU per {label} request", per_request, "µs")
        report.add(f"  … on the event-loop thread ({label})", per_request * loop, "µs")
    report.add("load generator CPU during empty", max(p.client_cores for p in empty), "cores")
    report.add("rows stored − 201 answers", lost, "rows", "0", lost == 0)
    report.add("httpx client, empty endpoint (its ceiling)", httpx_empty.rate, "req/s")
    if httpx_empty.rate < TARGET_RATIO * empty_rate:
        report.note(
            f"httpx.AsyncClient tops out at {httpx_empty.rate:,.0f} req/s on its own core"
            f" ({httpx_empty.client_cores:.2f} cores busy): too slow to measure the empty"
            " endpoint, hence the raw keep-alive load generator"
        )
