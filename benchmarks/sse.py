"""`sse`: delivery latency of /api/events/stream to 500 subscribers at 100 events/s.

Target: p99 ≤ 100 ms.

`shipdeck serve` (one uvicorn worker) runs in a child process. Subscriber processes
(`benchmarks._sse_reader`) open the streams and say when every one is subscribed; then a
pacer process (`benchmarks._sse_pacer`) ingests rows on a fixed schedule, each carrying
its send time. Latency of a delivery = the time a subscriber parsed the frame − the time
the pacer sent the row (one machine, one clock). Every stream must get every row exactly
once, in order: deliveries, gaps, repeats and resyncs are counted.

Scenarios, all on the same server:
1. the target: 500 subscribers × 100 events/s × 10 s (500,000 deliveries);
2. a lighter load, 500 × 20 events/s, to show where one worker stands comfortably;
3. the client's own cost: 100 subscribers × 100 events/s read with the hand-made client,
   then with `httpx` + `httpx-sse` (what shipdeck's remote client uses).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._harness import Report, Server, Workers, create_key, percentile, say, scratch_dir
from ._histogram import Histogram

NAME = "sse"
SUMMARY = "SSE delivery latency, 500 subscribers × 100 events/s"
TARGET_P99_MS = 100.0
READER_PROCESSES = 2


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load shape."""

    subscribers: int
    rate: float
    seconds: float
    client: str = "raw"
    processes: int = READER_PROCESSES

    @property
    def expected(self) -> int:
        """Rows the pacer sends."""
        return int(self.rate * self.seconds)

    def __str__(self) -> str:
        return (
            f"{self.subscribers} subscribers × {self.rate:g} events/s × {self.seconds:g} s"
            f" ({self.client} client, {self.processes} process(es))"
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a scenario measured."""

    scenario: Scenario
    latencies: Histogram
    deliveries: int
    sent: int
    posted: int
    """Rows the server accepted (`201`)."""
    gaps: int
    repeats: int
    resyncs: int
    answer_ms: list[float]
    server_cores: float
    client_cpu_s: float
    wall_s: float

    def pct(self, q: float) -> float:
        """A delivery latency percentile in ms."""
        return self.latencies.percentile_ms(q)


def play(server: Server, key: str, scenario: Scenario) -> Outcome:
    """Subscribe, pace the rows, collect every subscriber's tally."""
    say(f"{scenario}:")
    per_process = scenario.subscribers // scenario.processes
    with Workers() as workers, scratch_dir("sse-ready") as folder:
        ready = [folder / f"reader-{index}" for index in range(scenario.processes)]
        for flag in ready:
            workers.spawn(
                "benchmarks._sse_reader",
                server.url,
                str(flag),
                f"--connections={per_process}",
                f"--expect={scenario.expected}",
                f"--client={scenario.client}",
                f"--timeout={scenario.seconds + 120:g}",
            )
        workers.wait_for_files(ready, timeout=60)
        cpu_before = server.cpu_seconds()
        workers.spawn(
            "benchmarks._sse_pacer",
            server.url,
            key,
            f"--rate={scenario.rate}",
            f"--seconds={scenario.seconds}",
        )
        *tallies, pacer = workers.results(timeout=scenario.seconds + 180)
        server_cpu = server.cpu_seconds() - cpu_before
    latencies = Histogram.merged(tally["latencies"] for tally in tallies)
    # From the first send to the last delivery: how long the server needed for the load.
    last = max((t["last_ns"] for t in tallies), default=0)
    wall = max(pacer["seconds"], (last - pacer["start_ns"]) / 1e9)
    outcome = Outcome(
        scenario,
        latencies,
        latencies.count,
        pacer["sent"],
        pacer["statuses"].get("201", 0),
        sum(t["gaps"] for t in tallies),
        sum(t["repeats"] for t in tallies),
        sum(t["resyncs"] for t in tallies),
        pacer["answer_ms"],
        server_cpu / wall,
        sum(t["cpu_seconds"] for t in tallies),
        wall,
    )
    show(outcome)
    return outcome


def show(o: Outcome) -> None:
    """One scenario's figures, as they come."""
    expected = o.scenario.subscribers * o.posted
    say(
        f"  deliveries {o.deliveries:,} of {expected:,} expected; gaps {o.gaps}, repeats"
        f" {o.repeats}, resyncs {o.resyncs}"
    )
    say(
        f"  latency p50 {o.pct(50):.1f} ms, p95 {o.pct(95):.1f} ms, p99 {o.pct(99):.1f} ms,"
        f" max {o.latencies.max_ms:.1f} ms"
    )
    say(
        f"  ingest answers p50 {percentile(o.answer_ms, 50):.1f} ms, p99"
        f" {percentile(o.answer_ms, 99):.1f} ms; server {o.server_cores:.2f} cores;"
        f" subscribers' CPU {o.client_cpu_s:.1f} s"
        f" = {o.client_cpu_s / max(o.deliveries, 1) * 1e6:.1f} µs per delivery"
    )


def run() -> Report:
    """Run the scenarios against one server."""
    report = Report(NAME)
    with scratch_dir(NAME) as folder:
        url = f"sqlite:///{folder / 'sse.db'}"
        key = create_key(url)
        with Server(url) as server:
            target = play(server, key, Scenario(500, 100, 10))
            light = play(server, key, Scenario(500, 20, 10))
            raw = play(server, key, Scenario(100, 100, 5, "raw", 1))
            httpx = play(server, key, Scenario(100, 100, 5, "httpx", 1))
    summarise(report, target, light, raw, httpx)
    return report


def summarise(
    report: Report, target: Outcome, light: Outcome, raw: Outcome, httpx: Outcome
) -> None:
    """Turn the scenarios into figures."""
    expected = target.scenario.subscribers * target.posted
    missing = expected - target.deliveries
    report.add("500 × 100/s: deliveries", target.deliveries, "")
    wrong = missing + target.repeats + target.gaps
    report.add("500 × 100/s: missing, repeated or gaps", wrong, "", "0", wrong == 0)
    report.add("500 × 100/s: latency p50", target.pct(50), "ms")
    report.add("500 × 100/s: latency p95", target.pct(95), "ms")
    p99 = target.pct(99)
    report.add(
        "500 × 100/s: latency p99", p99, "ms", f"≤ {TARGET_P99_MS:g} ms", p99 <= TARGET_P99_MS
    )
    report.add("500 × 100/s: latency max", target.latencies.max_ms, "ms")
    report.add("500 × 100/s: deliveries/s sustained", target.deliveries / target.wall_s, "/s")
    report.add("500 × 100/s: server CPU", target.server_cores, "cores")
    report.add("500 × 20/s: latency p99", light.pct(99), "ms")
    report.add("100 × 100/s: p99, hand-made client", raw.pct(99), "ms")
    report.add("100 × 100/s: p99, httpx-sse client", httpx.pct(99), "ms")
    for outcome, label in ((raw, "hand-made"), (httpx, "httpx-sse")):
        per_delivery = outcome.client_cpu_s / max(outcome.deliveries, 1) * 1e6
        report.add(f"client CPU per delivery, {label}", per_delivery, "µs")
