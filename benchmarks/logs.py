"""`python -m benchmarks.logs [name …]`: the log pane's figures, measured headless.

Benchmarks (issue targets):

- `throughput`: one `LogPane` following a deployment that writes as fast as it can (a fake
  client yielding batches of 500 generated lines, as the real clients batch a burst), and
  Textual's `RichLog` fed the same lines by the same kind of worker. Each runs for a few
  seconds; when the source stops, the figure is the lines on screen (the bottom row shows
  the newest line) divided by the time from the first line to that frame, so a widget that
  falls behind pays for it. Targets: ≥ 20,000 lines/s and ≥ 3× RichLog, at most one repaint
  (widget render pass) per frame.
- `memory`: 1,000,000 lines through a pane: RSS and traced Python heap growth (≤ 50 MB).

The lines are the same in every run: a seeded pool of messages of realistic lengths (most
40–160 characters, some long), 80 % info, 10 % debug, 7 % warning, 3 % error, a mix of
streams, and some with escape sequences the pane must sanitise. The RichLog gets each line as
a `Text` with the same columns and colours as the pane draws, bounded to the same number of
lines (`max_lines`), with `auto_scroll` on (what a log viewer would use).

Each measurement runs in a fresh child process (`--child NAME`) that prints one JSON line;
nothing is printed while an app runs (Textual captures stdout then).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import RichLog

from shipdeck.client import EngineClient, LogItem, LogLinesArrived
from shipdeck.domain import LogLine, LogPage
from shipdeck.tui.sanitize import sanitize
from shipdeck.tui.widgets import log_view
from shipdeck.tui.widgets.log_line import LEVEL_LABELS, STREAM_MARKS, time_text
from shipdeck.tui.widgets.log_pane import LogPane
from shipdeck.tui.widgets.log_view import LogView

from ._harness import Report, percentile, say

NAME = "logs"
SUMMARY = "the log pane headless: lines/s against RichLog, repaints per frame, memory"
SIZE = (160, 50)
"""Terminal size of every run."""
FRAME_MS = 1000 / 60
BATCH = 500
"""Lines per `LogLinesArrived` (the clients' largest batch)."""
RUN_S = 5.0
"""How long each widget is fed in the throughput runs."""
MEMORY_LINES = 1_000_000
MAX_LINES = log_view.MAX_LINES
"""Lines each widget keeps (the pane's default bound; RichLog's `max_lines`)."""
ROOT = Path(__file__).resolve().parent.parent
BASE = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)

_VOCABULARY = (
    "GET POST PUT /api/v1/orders /api/v1/payments/capture 200 201 404 500 503 latency_ms "
    "user_id=4821 cache miss hit worker pool retry attempt upstream timeout connection "
    "reset db-primary replica lag ms request_id=9f2c1a starting stopping health check ok "
    "pulled layer sha256:3f2c1a9e0b migrating schema version rollout canary 10% 50% ready"
)


def message_pool(size: int = 4096, seed: int = 7) -> list[tuple[str, str, str]]:
    """(level, stream, message) triples with realistic lengths and some hostile text."""
    rng = random.Random(seed)
    vocabulary = _VOCABULARY.split()
    pool = []
    for index in range(size):
        level = rng.choices(("info", "debug", "warning", "error"), (80, 10, 7, 3))[0]
        stream = rng.choices(("stdout", "stderr", "system"), (70, 20, 10))[0]
        words = rng.randint(3, 12) if rng.random() < 0.7 else rng.randint(12, 28)
        if rng.random() < 0.02:
            words = rng.randint(80, 160)  # a stack trace line, a JSON blob
        text = " ".join(rng.choices(vocabulary, k=words))
        if index % 50 == 0:
            text = f"\x1b[31m{text}\x1b[0m [bold]not markup[/bold]"
        pool.append((level, stream, text))
    return pool


POOL = message_pool()


def make_line(seq: int) -> LogLine:
    """Line `seq` of the benchmark's log (the same in every run and process)."""
    level, stream, message = POOL[seq % len(POOL)]
    return LogLine.model_construct(
        seq=seq,
        at=BASE + timedelta(microseconds=seq * 250),
        level=level,
        stream=stream,
        message=message,
    )


class Firehose:
    """A fake `EngineClient` for one deployment that writes as fast as it is read."""

    label = "bench"

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.produced = 0
        self.stopped = False
        self.gate = asyncio.Event()
        """Closed until the measurement starts (the pane subscribes as it mounts)."""
        self.started: float | None = None
        self.batches: list[tuple[float, int]] = []
        """(time, last seq) of each batch handed out."""

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        last = min(self.produced, after + limit)
        items = [make_line(seq) for seq in range(after + 1, last + 1)]
        return LogPage(items=items, next_after=last if last < self.produced else None)

    def batches_of(self, after: int) -> AsyncIterator[tuple[LogLine, ...]]:
        """Batches of new lines until stopped (or the limit)."""

        async def batches() -> AsyncIterator[tuple[LogLine, ...]]:
            seq = max(after, self.produced)
            await self.gate.wait()
            while not self.stopped and (self.limit is None or seq < self.limit):
                end = seq + BATCH if self.limit is None else min(self.limit, seq + BATCH)
                batch = tuple(make_line(s) for s in range(seq + 1, end + 1))
                seq = self.produced = end
                if self.started is None:
                    self.started = time.perf_counter()
                self.batches.append((time.perf_counter(), end))
                yield batch
            await asyncio.Event().wait()  # a live stream: it ends when the reader leaves

        return batches()

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        async def items() -> AsyncIterator[LogItem]:
            async for batch in self.batches_of(after):
                yield LogLinesArrived(batch)

        return items()


class Frames:
    """Frames the app composed, and what the log widget showed in each."""

    def __init__(self, app: App[Any]) -> None:
        self.times: list[float] = []
        self.shown: list[int] = []
        """Newest seq on screen at each frame."""
        self.passes_per_frame: list[int] = []
        self._passes = 0
        self.bottom = 0
        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and not app._batch_count:
                self.times.append(time.perf_counter())
                self.shown.append(self.bottom)
                self.passes_per_frame.append(self._passes)
                self._passes = 0

        app._display = timed_display  # type: ignore[method-assign]

    def render_pass(self) -> None:
        self._passes += 1


def wrap_widget(cls: type, frames: Callable[[], Frames | None], bottom: Callable[..., int]) -> None:
    """Count `cls`'s render passes and note the seq on its bottom row."""
    render_lines, render_line = cls.render_lines, cls.render_line  # type: ignore[attr-defined]

    def counted_lines(widget: Any, crop: Any) -> Any:
        probe = frames()
        if probe is not None:
            probe.render_pass()
        return render_lines(widget, crop)

    def noted_line(widget: Any, y: int) -> Any:
        strip = render_line(widget, y)
        probe = frames()
        if probe is not None and y == widget.scrollable_content_region.height - 1:
            probe.bottom = max(probe.bottom, bottom(widget, y))
        return strip

    cls.render_lines = counted_lines  # type: ignore[attr-defined]
    cls.render_line = noted_line  # type: ignore[attr-defined]


# -- the two widgets -------------------------------------------------------------------------


class PaneApp(App[None]):
    """One log pane following the firehose."""

    def __init__(self, client: Firehose) -> None:
        super().__init__()
        self.client = client

    def compose(self) -> ComposeResult:
        yield LogPane(cast(EngineClient, self.client), "bench-1", "bench → prod 1.0.0")


def rich_text(line: LogLine) -> Text:
    """The line as the pane draws it (same columns and colours), for RichLog."""
    colour = {"debug": "dim", "warning": "yellow", "error": "bold red"}.get(line.level, "")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(time_text(line.at, millis=True) + " ", style="dim")
    text.append(LEVEL_LABELS[line.level] + " ", style=colour)
    text.append(STREAM_MARKS[line.stream] + " ", style="red" if line.stream == "stderr" else "")
    text.append(sanitize(line.message), style=colour)
    return text


class RichLogApp(App[None]):
    """Textual's RichLog fed the same batches by one worker."""

    def __init__(self, client: Firehose, max_lines: int | None) -> None:
        super().__init__()
        self.client = client
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield RichLog(max_lines=self.max_lines, auto_scroll=True, wrap=False)

    def feed(self) -> None:
        self.run_worker(self._feed(), exclusive=True)

    async def _feed(self) -> None:
        log = self.query_one(RichLog)
        async for batch in self.client.batches_of(0):
            for line in batch:
                log.write(rich_text(line))
            await asyncio.sleep(0)  # as the pane does: let frames happen


def _pane_bottom(view: LogView, y: int) -> int:
    return view.line_at(y) or 0


def _richlog_bottom(log: RichLog, y: int) -> int:
    index = int(log.scroll_offset.y) + y
    return log._start_line + index + 1 if index < len(log.lines) else 0


async def until(predicate: Callable[[], object], timeout: float = 60.0) -> bool:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def throughput_child(widget: str) -> dict[str, Any]:
    """Feed one widget for `RUN_S` seconds; what it showed, frame by frame."""
    client = Firehose()
    probe: Frames | None = None
    if widget == "pane":
        app: App[None] = PaneApp(client)
        wrap_widget(LogView, lambda: probe, _pane_bottom)
    else:
        app = RichLogApp(client, None if widget == "richlog-unbounded" else MAX_LINES)
        wrap_widget(RichLog, lambda: probe, _richlog_bottom)
    gc.collect()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        probe = Frames(app)
        client.gate.set()
        if isinstance(app, RichLogApp):
            app.feed()
        await asyncio.sleep(RUN_S)
        client.stopped = True
        stopped_at, last = time.perf_counter(), client.produced
        caught_up = await until(lambda: probe is not None and probe.bottom >= last, timeout=120)
        await asyncio.sleep(0.1)
        result = _throughput_result(client, probe, last, caught_up)
        result["after_stop_ms"] = (result["shown_at"] - stopped_at) * 1000
        if widget == "pane":
            view = app.query_one(LogView)
            result["syncs"] = view.syncs
            result["held"] = view.held
    return result


def _throughput_result(
    client: Firehose, probe: Frames, last: int, caught_up: bool
) -> dict[str, Any]:
    assert client.started is not None
    shown_at = next(t for t, seq in zip(probe.times, probe.shown, strict=True) if seq >= last)
    frames = [t for t in probe.times if client.started <= t <= shown_at]
    lags = _lags(client.batches, probe.times, probe.shown)
    return {
        "lines": last,
        "seconds": shown_at - client.started,
        "shown_at": shown_at,
        "caught_up": caught_up,
        "frames": len(frames),
        "max_passes_per_frame": max(probe.passes_per_frame, default=0),
        "frames_with_a_pass": sum(1 for p in probe.passes_per_frame if p),
        "lag_p50_ms": percentile(lags, 50),
        "lag_p99_ms": percentile(lags, 99),
        "lag_max_ms": max(lags, default=0.0),
    }


def _lags(batches: list[tuple[float, int]], times: list[float], shown: list[int]) -> list[float]:
    """For each batch: ms from its arrival to the first frame showing its last line."""
    lags = []
    for arrived, seq in batches:
        start = bisect.bisect_left(times, arrived)
        for index in range(start, len(times)):
            if shown[index] >= seq:
                lags.append((times[index] - arrived) * 1000)
                break
    return lags


# -- memory ----------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process now."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    return 0


async def memory_child(traced: bool) -> dict[str, Any]:
    """1,000,000 lines through a pane; RSS (or the traced heap) before, at 100k and after."""
    client = Firehose(limit=MEMORY_LINES)
    app = PaneApp(client)
    samples: dict[str, float] = {}

    def sample(name: str) -> None:
        gc.collect()
        samples[f"{name}_rss"] = rss_bytes()
        if traced:
            samples[f"{name}_traced"] = tracemalloc.get_traced_memory()[0]

    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause(0.2)
        if traced:
            tracemalloc.start()
        sample("start")
        client.gate.set()
        started = time.perf_counter()
        await until(lambda: view.last_seq >= 100_000, timeout=600)
        await pilot.pause(0.1)
        sample("100k")
        await until(lambda: view.last_seq >= MEMORY_LINES, timeout=1200)
        seconds = time.perf_counter() - started
        await until(lambda: view.line_at(view.scrollable_content_region.height - 1) == MEMORY_LINES)
        await pilot.pause(0.2)
        sample("end")
        held = view.held
    if traced:
        tracemalloc.stop()
    return {**samples, "held": held, "seconds": seconds, "lines": view.last_seq}


# -- running and reporting -------------------------------------------------------------------


def _child(name: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.logs", "--child", name]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=1800, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"benchmarks.logs child {name} failed: {done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def throughput(report: Report) -> None:
    """The pane against RichLog, each in its own process."""
    pane, rich = _child("throughput-pane"), _child("throughput-richlog")
    unbounded = _child("throughput-richlog-unbounded")
    runs = (("pane", pane), ("RichLog", rich), ("RichLog without max_lines", unbounded))
    for name, run in runs:
        say(
            f"  {name}: {run['lines']:,} lines in {run['seconds']:.2f} s, {run['frames']} "
            f"frames, caught up: {run['caught_up']}, batch → on screen p50 "
            f"{run['lag_p50_ms']:.1f} ms, p99 {run['lag_p99_ms']:.1f} ms, max "
            f"{run['lag_max_ms']:.1f} ms"
        )
    pane_rate = pane["lines"] / pane["seconds"]
    rich_rate = rich["lines"] / rich["seconds"]
    report.add(
        "pane: lines/s on screen", round(pane_rate), "lines/s", "≥ 20,000", pane_rate >= 20_000
    )
    report.add("RichLog: lines/s on screen (same lines, same run)", round(rich_rate), "lines/s")
    ratio = pane_rate / rich_rate if rich_rate else float("inf")
    report.add("pane / RichLog", ratio, "x", "≥ 3×", ratio >= 3)
    passes = pane["max_passes_per_frame"]
    report.add("pane: render passes in one frame (max)", passes, "", "≤ 1", passes <= 1)
    report.add(
        "pane: layout updates per composed frame", pane["syncs"] / max(1, pane["frames"]), ""
    )
    report.add("pane: source stopped → last line on screen", pane["after_stop_ms"], "ms")
    report.add("pane: batch → on screen p50", pane["lag_p50_ms"], "ms")
    report.add("pane: batch → on screen p99", pane["lag_p99_ms"], "ms")
    report.add("RichLog: batch → on screen p99", rich["lag_p99_ms"], "ms")
    report.add(
        "RichLog without max_lines: lines/s (memory unbounded)",
        round(unbounded["lines"] / unbounded["seconds"]),
        "lines/s",
    )
    for name, run in runs:
        if not run["caught_up"]:
            report.note(f"{name} had not shown the last line 120 s after the source stopped")
    report.add(
        "pane: lines held at the end",
        pane["held"],
        "",
        f"≤ {MAX_LINES:,}",
        pane["held"] <= MAX_LINES,
    )


def memory(report: Report) -> None:
    """RSS in one process, the traced heap in another (tracing inflates RSS)."""
    plain, traced = _child("memory"), _child("memory-traced")
    mib = 1024 * 1024
    say(
        f"  {plain['lines']:,} lines in {plain['seconds']:.1f} s untraced, "
        f"{traced['seconds']:.1f} s traced; lines held at the end: {plain['held']:,}"
    )
    growth = (plain["end_rss"] - plain["start_rss"]) / mib
    report.add(
        "RSS growth after 1,000,000 lines", growth, "MiB", "≤ 50 MB", growth * 1.048576 <= 50
    )
    report.add(
        "  of which after the first 100,000", (plain["end_rss"] - plain["100k_rss"]) / mib, "MiB"
    )
    heap = (traced["end_traced"] - traced["start_traced"]) / mib
    report.add(
        "traced heap growth after 1,000,000 lines", heap, "MiB", "≤ 50 MB", heap * 1.048576 <= 50
    )
    report.add(
        "  of which after the first 100,000",
        (traced["end_traced"] - traced["100k_traced"]) / mib,
        "MiB",
    )


BENCHMARKS: dict[str, Callable[[Report], None]] = {"throughput": throughput, "memory": memory}


def run(names: list[str] | None = None) -> Report:
    """Every (or the named) log benchmark as one `Report` (what `python -m benchmarks` runs)."""
    report = Report(NAME)
    for name in names or list(BENCHMARKS):
        say(f"-- {name}")
        BENCHMARKS[name](report)
    return report


CHILDREN: dict[str, Callable[[], Any]] = {
    "throughput-pane": lambda: throughput_child("pane"),
    "throughput-richlog": lambda: throughput_child("richlog"),
    "throughput-richlog-unbounded": lambda: throughput_child("richlog-unbounded"),
    "memory": lambda: memory_child(traced=False),
    "memory-traced": lambda: memory_child(traced=True),
}


def main(argv: list[str] | None = None) -> None:
    """Run the named log benchmarks (all by default) and print their figures."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.logs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of: {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(CHILDREN[args.child]())))
        return
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    run(args.names)


if __name__ == "__main__":
    main()
