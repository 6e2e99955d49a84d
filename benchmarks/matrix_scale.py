"""`python -m benchmarks matrix-scale`: the matrix from 16 × 4 to 50,000 × 8 slots.

Measured as a user sees it, with the TUI as a black box: from the app's start to the first
frame that shows a matrix row with cell content, at four sizes (services × environments,
about two rows a slot), with the embedded engine and with a real `shipdeck serve` on
loopback; the bytes read from the server and the TUI's memory at that moment; the same
10,000 rows in Textual's own `DataTable`; and, at 10,000 services, what a filter keystroke,
a sort, a live row and a cursor move cost.

How a paint is seen: `ScreenProbe` wraps `Widget.render_lines` (every widget's lines pass
through it) and keeps the text of the lines the matrix grid — the widget with id
`matrix-grid` — draws; the app's `_display`, where a finished frame goes to the driver,
dates them. A line is painted at the first frame after it was rendered. A line "shows
a matrix row" when its first word is one of the data set's services and it holds a status
glyph or a version. Nothing of the TUI's own code (model, client, grid internals) is
wrapped or read, so the figures stay comparable while that code changes.

Every measurement runs in a fresh child process (cold, as a new `shipdeck` would), median
of 3, at 160 × 48. A child that takes too long is killed and its figure printed as not
measured; a size whose first run is slow (> 15 s) is run once, so the whole benchmark stays
within a few minutes even against a TUI that loads the full matrix. Wire bytes count what
the remote child's sockets received (`socket.recv`/`recv_into`, after any compression),
requests and the live feed alike, up to the first painted row.

Data sets are built once with the bulk loader (`benchmarks._dataset.load_slots`) into
`benchmarks/.data/` (50,000 × 8 is 800,000 rows: a few minutes, with progress).

Options (`python -m benchmarks.matrix_scale --help`): `--sizes`, `--skip`, `--prepare`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ._dataset import LogShape, cached_db, load_slots, slot_db_name
from ._harness import REPO, Figure, Report, Server, percentile, say, scratch_dir, settled_copy

NAME = "matrix-scale"
SUMMARY = (
    "the matrix at 16×4 … 50,000×8: first paint embedded and remote, wire bytes, RSS; "
    "Textual's DataTable; filter, sort, live rows and cursor at 10,000 services"
)
SIZE = (160, 48)
"""Terminal size of every run."""
FRAME_MS = 1000 / 60
PER_SLOT = 2
RUNS = 3
SLOW_RUN_S = 15.0
"""A size whose first run takes longer is not run again (its one run is reported)."""
PAINT_TIMEOUT_S = 60.0
"""A first-paint child is killed after this long (its figure: not measured)."""
KEYS_TIMEOUT_S = 240.0
SERVER_READY_S = 180.0
"""`shipdeck serve` warms the matrix before it answers `/readyz`; 400,000 slots take a while."""
MEMORY_LIMIT = 8 * 2**30
"""Address-space limit of every child and server: a TUI that loads 50,000 × 8 slots in full
fails (not measured) rather than taking the shared machine's memory."""
MB = 1_000_000

ENVS_4 = ("dev", "qa", "staging", "prod")
ENVS_6 = ("dev", "qa", "staging", "uat", "preprod", "prod")
ENVS_8 = ("dev", "qa", "test", "staging", "uat", "preprod", "prod", "prod-eu")
GLYPHS = "✓✗◐◷‖⊘⊗"
"""The TUI's status glyphs (a grid row with a cell shows at least one, or a version)."""
VERSION = re.compile(r"\b\d+\.\d+\.\d+\b")


@dataclass(frozen=True, slots=True)
class Scale:
    """One size of the matrix."""

    services: int
    envs: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.services:,}×{len(self.envs)}"

    @property
    def slots(self) -> int:
        return self.services * len(self.envs)

    def db_name(self) -> str:
        return slot_db_name(f"scale-{self.services}s-{len(self.envs)}e-{PER_SLOT}r")


SCALES = (Scale(16, ENVS_4), Scale(2_000, ENVS_6), Scale(10_000, ENVS_8), Scale(50_000, ENVS_8))
SMALL, TARGET = SCALES[0], SCALES[2]
"""16 × 4 is the baseline the 10,000 × 8 time is held against."""


def envs_of(services: int) -> tuple[str, ...]:
    """The environments of the size with this many services."""
    return next((s.envs for s in SCALES if s.services == services), TARGET.envs)


def _build(services: int, envs: tuple[str, ...], url: str) -> None:
    rows = services * len(envs) * PER_SLOT
    say(f"building {services:,} × {len(envs)} ({rows:,} rows, once; later runs reuse it)…")
    load_slots(url, services, envs, PER_SLOT, progress=100_000 if rows >= 200_000 else 0)


def scale_db(scale: Scale, report: Report) -> Path:
    """The cached database of `scale`, built now if missing."""
    path, seconds = cached_db(
        scale.db_name(), functools.partial(_build, scale.services, scale.envs)
    )
    if seconds is not None:
        report.add(f"build {scale.label} database (once)", seconds, "s")
    return path


def warm_file(path: Path) -> None:
    """Read a database once so the first measured run does not pay for the disk."""
    with path.open("rb") as handle:
        while handle.read(8 * 2**20):
            pass


# -- observing paints, black box ----------------------------------------------------------


@dataclass(slots=True)
class Frame:
    """A frame that put lines of a watched widget on screen."""

    at: float
    lines: list[tuple[int, str]]
    """`(y, text)` of the watched lines rendered since the previous frame."""


def is_grid(widget: Any) -> bool:
    """The matrix grid, whatever its implementation (by id, or by class name)."""
    return widget.id == "matrix-grid" or type(widget).__name__ == "MatrixGrid"


@dataclass
class ScreenProbe:
    """Dates frames, and keeps the text of what the watched widgets drew in each."""

    app: Any
    watched: Callable[[Any], bool]
    frames: list[float] = field(default_factory=list)
    painted: list[Frame] = field(default_factory=list)
    screen: dict[int, str] = field(default_factory=dict)
    """The latest text of each watched line (what is on screen now)."""
    hooks: list[Callable[[Frame], None]] = field(default_factory=list)
    """Called with every frame that painted watched lines (inside the frame: keep short)."""
    _pending: list[tuple[int, str]] = field(default_factory=list)

    @contextlib.contextmanager
    def installed(self) -> Iterator[ScreenProbe]:
        from textual.widget import Widget

        probe, app = self, self.app
        original = Widget.__dict__["render_lines"]

        def render_lines(widget: Any, crop: Any) -> Any:
            strips = original(widget, crop)
            if probe.watched(widget):
                for offset, strip in enumerate(strips):
                    probe._pending.append((crop.y + offset, strip.text))
            return strips

        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and not app._batch_count:
                probe._frame()

        Widget.render_lines = render_lines  # type: ignore[method-assign]
        app._display = timed_display
        try:
            yield self
        finally:
            del app._display
            Widget.render_lines = original  # type: ignore[method-assign]

    def _frame(self) -> None:
        now = time.perf_counter()
        self.frames.append(now)
        if not self._pending:
            return
        frame = Frame(now, self._pending)
        self._pending = []
        self.painted.append(frame)
        for y, text in frame.lines:
            self.screen[y] = text
        for hook in self.hooks:
            hook(frame)

    async def frame_after(
        self, moment: float, test: Callable[[Frame], bool], timeout: float
    ) -> Frame | None:
        """The first painted frame at or after `moment` that passes `test` (None: timeout)."""
        deadline = time.perf_counter() + timeout
        seen = 0
        while True:
            frames = self.painted
            for frame in frames[seen:]:
                if frame.at >= moment and test(frame):
                    return frame
            seen = len(frames)
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(0.002)


def first_word(text: str) -> str:
    words = text.split(maxsplit=1)
    return words[0] if words else ""


def shows_row(text: str, names: set[str] | frozenset[str]) -> bool:
    """A line that shows a matrix row: a known service and a status glyph or a version."""
    return first_word(text) in names and (
        any(glyph in text for glyph in GLYPHS) or VERSION.search(text) is not None
    )


def matches(query: str, name: str) -> bool:
    """The filter's rule as users read it: a substring, or the query's letters in order."""
    query, name = query.lower(), name.lower()
    position = 0
    for char in query:
        position = name.find(char, position) + 1
        if not position:
            return False
    return True


def memory_now() -> dict[str, float]:
    """VmRSS now and the peak RSS so far, in MB."""
    rss = math.nan
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024 / MB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    return {"rss_mb": rss, "maxrss_mb": peak}


class WireCounter:
    """Bytes this process's sockets received (what came over the wire, compressed or not)."""

    def __init__(self) -> None:
        self.bytes = 0

    def install(self) -> None:
        counter, cls = self, socket.socket
        recv, recv_into = cls.recv, cls.recv_into

        def counted_recv(sock: socket.socket, *args: Any) -> bytes:
            data = recv(sock, *args)
            counter.bytes += len(data)
            return data

        def counted_recv_into(sock: socket.socket, *args: Any) -> int:
            size = recv_into(sock, *args)
            counter.bytes += size
            return size

        cls.recv = counted_recv  # type: ignore[method-assign]
        cls.recv_into = counted_recv_into  # type: ignore[method-assign]


def limit_memory() -> None:
    """Cap this process's address space (children and servers of this benchmark)."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def make_client(kind: str, target: str) -> Any:
    if kind == "embedded":
        from shipdeck.client.embedded import EmbeddedClient

        return EmbeddedClient(target)
    from shipdeck.client.remote import RemoteClient

    return RemoteClient(target)


def save(out: Path, result: dict[str, Any]) -> None:
    """Write a child's result at once (a child killed afterwards still leaves it)."""
    out.write_text(json.dumps(result))


# -- children: first paint ----------------------------------------------------------------


async def paint_child(kind: str, target: str, services: int, out: Path) -> None:
    """App start → the first frame with a matrix row, in this fresh process."""
    wire = WireCounter()
    if kind == "remote":
        wire.install()
    from shipdeck.tui.app import ShipdeckApp

    names = frozenset(LogShape(services=services).service_names())
    app = ShipdeckApp(make_client(kind, target))
    probe = ScreenProbe(app, is_grid)
    result: dict[str, Any] = {}

    def first_row(frame: Frame) -> None:
        if "painted_ms" not in result and any(shows_row(t, names) for _, t in frame.lines):
            result["painted_ms"] = (frame.at - started) * 1000
            result["wire_bytes"] = wire.bytes
            result.update(memory_now())

    probe.hooks.append(first_row)
    with probe.installed():
        started = time.perf_counter()
        async with app.run_test(size=SIZE):
            painted = await _until(lambda: "painted_ms" in result, PAINT_TIMEOUT_S - 5)
            if probe.frames:
                result["first_frame_ms"] = (probe.frames[0] - started) * 1000
            if painted:
                save(out, result)
            app.exit()
    if not painted:
        print(f"no matrix row painted within {PAINT_TIMEOUT_S - 5:.0f} s", file=sys.stderr)
        sys.exit(3)


async def _until(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


# -- children: Textual's DataTable ----------------------------------------------------------

_PEER_STATUSES = (("✓", "success"), ("✗", "failure"), ("◐", "deploying"), ("◷", "queued"))


def peer_rows(services: int, envs: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows like the matrix's: a service, then `✓ success 1.2.3 4m` per environment."""
    rows = []
    for s, name in enumerate(LogShape(services=services).service_names()):
        cells = [name]
        for e in range(len(envs)):
            glyph, word = _PEER_STATUSES[(s + e) % len(_PEER_STATUSES)]
            cells.append(f"{glyph} {word} {PER_SLOT}.{s}.{e} {(s * 7 + e * 3) % 59 + 1}m")
        rows.append(tuple(cells))
    return rows


async def datatable_child(services: int, out: Path) -> None:
    """The same rows in a minimal App with a `DataTable` that adds them on mount."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    envs = envs_of(services)
    rows = peer_rows(services, envs)
    names = frozenset(row[0] for row in rows)

    class Peer(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

        def on_mount(self) -> None:
            table: DataTable[str] = self.query_one(DataTable)
            table.add_columns("service", *envs)
            table.add_rows(rows)

    app = Peer()
    probe = ScreenProbe(app, lambda widget: isinstance(widget, DataTable))
    result: dict[str, Any] = {}

    def first_row(frame: Frame) -> None:
        if "painted_ms" not in result and any(shows_row(t, names) for _, t in frame.lines):
            result["painted_ms"] = (frame.at - started) * 1000
            result.update(memory_now())

    probe.hooks.append(first_row)
    with probe.installed():
        started = time.perf_counter()
        async with app.run_test(size=SIZE):
            if await _until(lambda: "painted_ms" in result, PAINT_TIMEOUT_S - 5):
                save(out, result)
            app.exit()


# -- children: keys and live rows at 10,000 services ---------------------------------------

CURSOR_PRESSES = 40
SORT_PRESSES = 6
FILTER_QUERIES = ("ledger", "search", "orders", "review", "pricin")
EVENT_RATE = 200
EVENT_SECONDS = 10.0
EVENT_WARMUP = 1.0
PANEL_MAX = 9
"""Lines the slot panel under the grid may take from it: rows above stay in view."""
KEY_WAIT_S = 10.0
"""How long a key press may take to be handled."""
FRAME_WAIT_S = 3.0
"""How long a press may wait for its frame (after that: counted as never repainted)."""


async def keys_child(target: str, services: int, out: Path) -> None:
    """At `services` loaded (embedded): filter keystrokes, sort, cursor, then live rows."""
    from shipdeck.tui.app import ShipdeckApp

    names = frozenset(LogShape(services=services).service_names())
    app = ShipdeckApp(make_client("embedded", target))
    probe = ScreenProbe(app, is_grid)
    result: dict[str, Any] = {}
    with probe.installed():
        started = time.perf_counter()
        async with app.run_test(size=SIZE) as pilot:
            frame = await probe.frame_after(
                0, lambda f: any(shows_row(t, names) for _, t in f.lines), PAINT_TIMEOUT_S
            )
            if frame is None:
                result["error"] = "the matrix never painted"
            else:
                result["painted_ms"] = (frame.at - started) * 1000
                await asyncio.sleep(0.5)
                for phase in (_cursor, _sort, _filter, _events):
                    try:
                        result.update(await phase(app, pilot, probe, names))
                    except Exception as exc:  # one phase failing leaves the others' figures
                        result[f"error {phase.__name__}"] = f"{type(exc).__name__}: {exc}"
                    save(out, result)
            save(out, result)
            app.exit()


async def _press(pilot: Any, key: str) -> None:
    await asyncio.wait_for(pilot.press(key), timeout=KEY_WAIT_S)


async def _cursor(
    app: Any, pilot: Any, probe: ScreenProbe, names: frozenset[str]
) -> dict[str, Any]:
    """`down` → the next frame that repaints grid lines (the rows the cursor left/entered)."""
    latencies, missed = [], 0
    for _ in range(CURSOR_PRESSES):
        pressed = time.perf_counter()
        await _press(pilot, "down")
        frame = await probe.frame_after(pressed, lambda f: True, FRAME_WAIT_S)
        if frame is None:
            missed += 1
        else:
            latencies.append((frame.at - pressed) * 1000)
        await asyncio.sleep(0.03)
    return {"cursor": latencies, "cursor_missed": missed}


def _top(probe: ScreenProbe) -> str:
    return first_word(probe.screen.get(0, ""))


async def _sort(app: Any, pilot: Any, probe: ScreenProbe, names: frozenset[str]) -> dict[str, Any]:
    """`s` → the first frame whose top grid row is another service (the new order shown)."""
    latencies, missed = [], 0
    for _ in range(SORT_PRESSES):
        before = _top(probe)
        pressed = time.perf_counter()
        await _press(pilot, "s")

        def reordered(frame: Frame, before: str = before) -> bool:
            top = [first_word(t) for y, t in frame.lines if y == 0]
            return bool(top) and top[0] in names and top[0] != before

        frame = await probe.frame_after(pressed, reordered, FRAME_WAIT_S * 3)
        if frame is None:
            missed += 1
        else:
            latencies.append((frame.at - pressed) * 1000)
        await asyncio.sleep(0.3)
    return {"sort": latencies, "sort_missed": missed}


async def _filter(
    app: Any, pilot: Any, probe: ScreenProbe, names: frozenset[str]
) -> dict[str, Any]:
    """Each key of a 6-letter query typed in `/` → the grid repainted with matching rows."""
    latencies, missed = [], 0
    for query in FILTER_QUERIES:
        await _press(pilot, "slash")
        await asyncio.sleep(0.15)
        for length in range(1, len(query) + 1):
            prefix = query[:length]
            pressed = time.perf_counter()
            await _press(pilot, query[length - 1])

            def filtered(frame: Frame, prefix: str = prefix) -> bool:
                shown = [first_word(t) for y, t in frame.lines if first_word(t) in names]
                top = [first_word(t) for y, t in frame.lines if y == 0]
                return (
                    bool(top) and top[0] in names and all(matches(prefix, name) for name in shown)
                )

            frame = await probe.frame_after(pressed, filtered, FRAME_WAIT_S)
            if frame is None:
                missed += 1
            else:
                latencies.append((frame.at - pressed) * 1000)
            await asyncio.sleep(0.12)  # a quick typist: ~8 keys a second
        await _press(pilot, "escape")  # clears the filter (the matrix's binding)
        await asyncio.sleep(0.4)
    return {"filter": latencies, "filter_missed": missed}


def live_body(index: int, service: str, env: str) -> Any:
    """A row happening now, with a version no other row has (as `benchmarks.tui` sends)."""
    from shipdeck.domain import DeploymentEventIngest, Status, utc_now

    return DeploymentEventIngest.model_validate(
        {
            "deployment_id": f"live-{service}-{env}-{index // 3}",
            "service": service,
            "environment": env,
            "status": Status.SUCCESS,
            "version": f"v{index:07d}",
            "happened_at": utc_now(),
            "actor": "bench",
            "run_url": f"https://ci.example.com/{service}/runs/{index}",
        }
    )


async def _events(
    app: Any, pilot: Any, probe: ScreenProbe, names: frozenset[str]
) -> dict[str, Any]:
    """Rows at 200/s through the app's own engine: send (scheduled) → cell painted."""
    engine = getattr(app.client, "engine", None)
    if engine is None:
        return {"error _events": "the embedded client has no engine to ingest through"}
    await _press(pilot, "home")
    await asyncio.sleep(0.3)
    height = max(probe.screen, default=-1) + 1
    rows = [
        first_word(probe.screen[y])
        for y in sorted(probe.screen)
        if y < height - PANEL_MAX and first_word(probe.screen[y]) in names
    ]
    envs = envs_of(len(names))
    cells = [(service, env) for service in rows for env in envs]
    if not cells:
        return {"error _events": "no service rows on screen"}
    sent: dict[str, float] = {}
    painted: dict[str, float] = {}
    waiting: dict[str, set[str]] = {}

    def seen(frame: Frame) -> None:
        for _, text in frame.lines:
            versions = waiting.get(first_word(text))
            if versions:
                found = [v for v in versions if v in text]
                versions.difference_update(found)
                for version in found:
                    painted.setdefault(version, frame.at)

    probe.hooks.append(seen)
    total = int(EVENT_RATE * (EVENT_SECONDS + EVENT_WARMUP))
    tasks = []
    lags = []
    start = time.perf_counter() + 0.05
    for i in range(total):
        at = start + i / EVENT_RATE
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append((time.perf_counter() - at) * 1000)
        service, env = cells[i % len(cells)]
        body = live_body(i, service, env)
        sent[body.version] = at
        waiting.setdefault(service, set()).add(body.version)
        tasks.append(asyncio.create_task(engine.ingest(body)))
    await asyncio.gather(*tasks)
    await _until(lambda: len(painted) >= len(sent), 5)
    warm = int(EVENT_RATE * EVENT_WARMUP)
    measured = [v for i, v in enumerate(sent) if i >= warm]
    latencies = [(painted[v] - sent[v]) * 1000 for v in measured if v in painted]
    return {
        "events": latencies,
        "events_unpainted": len(measured) - len(latencies),
        "events_cells": len(cells),
        "events_sender_lag_p99": percentile(lags, 99),
    }


# -- running children ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What one child gave back: its result, or why there is none."""

    result: dict[str, Any] | None
    seconds: float
    why: str = ""


def child(args: list[str], timeout: float) -> Outcome:
    """`python -m benchmarks.matrix_scale --child …` in a fresh process."""
    fd, name = tempfile.mkstemp(prefix="shipdeck-bench-scale-", suffix=".json")
    os.close(fd)
    out = Path(name)
    out.unlink()
    argv = [sys.executable, "-m", "benchmarks.matrix_scale", *args, "--out", str(out)]
    started = time.perf_counter()
    why = ""
    try:
        done = subprocess.run(
            argv,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=limit_memory,  # the parent runs no threads
        )
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            why = f"child failed ({done.returncode}): {tail[:160]}"
    except subprocess.TimeoutExpired:
        why = f"no result within {timeout:.0f} s"
    seconds = time.perf_counter() - started
    result = None
    if out.exists():
        result = json.loads(out.read_text())
        out.unlink()
    elif not why:
        why = "the child saved no result"
    return Outcome(result, seconds, why)


def repeated(args: list[str], timeout: float, what: str) -> tuple[list[dict[str, Any]], str]:
    """Up to `RUNS` results (fewer when a run fails, or the first one is slow)."""
    results: list[dict[str, Any]] = []
    why = ""
    for run in range(RUNS):
        outcome = child(args, timeout)
        if outcome.result is None:
            why = outcome.why
            say(f"  {what}: run {run + 1} not measured ({outcome.why})")
            break
        results.append(outcome.result)
        say(
            f"  {what}: run {run + 1}: painted {outcome.result['painted_ms']:,.0f} ms "
            f"(child {outcome.seconds:.1f} s)"
        )
        if outcome.seconds > SLOW_RUN_S:
            say(f"  {what}: slow (> {SLOW_RUN_S:.0f} s a run), not repeated")
            break
    return results, why


class ReadyLater(Server):
    """`shipdeck serve` that may take minutes to become ready (it warms a large matrix)."""

    def __enter__(self) -> ReadyLater:
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=limit_memory,  # the parent runs no threads
        )
        deadline = time.monotonic() + SERVER_READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace").strip().splitlines()
                self.__exit__()
                raise RuntimeError(f"shipdeck serve exited early: {(err or ['?'])[-1]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"shipdeck serve was not ready within {SERVER_READY_S:.0f} s")


# -- the benchmark ------------------------------------------------------------------------


class Unmeasured(Figure):
    """A figure that could not be measured (a child timed out or failed)."""

    __slots__ = ()

    def text(self) -> str:
        return "not measured"


def unmeasured(report: Report, label: str, why: str, target: str | None = None) -> None:
    report.figures.append(Unmeasured(label, math.nan, "", target, None))
    suffix = "" if target is None else f"   target {target}: -"
    say(f"{label:<44}{'not measured':>16}{suffix}   ({why})")


def held(
    report: Report,
    label: str,
    value: float | None,
    unit: str,
    limit: float | None = None,
    why: str = "",
    target: str | None = None,
) -> None:
    """A figure (held against `value ≤ limit` when given), or not measured."""
    if limit is not None and target is None:
        target = f"≤ {limit:,g} {unit}" if unit != "x" else f"≤ {limit:g}x"
    if value is None or math.isnan(value):
        unmeasured(report, label, why or "no result", target)
    elif limit is None:
        report.add(label, value, unit)
    else:
        report.add(label, value, unit, target, value <= limit)


def median_of(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if isinstance(r.get(key), int | float)]
    return statistics.median(values) if values else None


@dataclass
class Paints:
    """First-paint results of one size."""

    scale: Scale
    embedded: list[dict[str, Any]] = field(default_factory=list)
    remote: list[dict[str, Any]] = field(default_factory=list)
    why_embedded: str = ""
    why_remote: str = ""


def first_paints(report: Report, scales: tuple[Scale, ...]) -> list[Paints]:
    """Every size, embedded then remote, each run a fresh process."""
    out = []
    for scale in scales:
        say(f"\n{scale.label} ({scale.slots:,} slots)   load average {os.getloadavg()[0]:.2f}")
        paints = Paints(scale)
        out.append(paints)
        try:
            path = scale_db(scale, report)
        except Exception as exc:
            paints.why_embedded = paints.why_remote = f"no database: {exc}"
            say(f"  {paints.why_embedded}")
            continue
        warm_file(path)
        url = f"sqlite:///{path}"
        common = ["--services", str(scale.services)]
        paints.embedded, paints.why_embedded = repeated(
            ["--child", "paint", "--client", "embedded", "--target", url, *common],
            PAINT_TIMEOUT_S,
            "embedded",
        )
        try:
            started = time.perf_counter()
            with ReadyLater(url) as server:
                say(f"  shipdeck serve ready in {time.perf_counter() - started:.1f} s")
                paints.remote, paints.why_remote = repeated(
                    ["--child", "paint", "--client", "remote", "--target", server.url, *common],
                    PAINT_TIMEOUT_S,
                    "remote",
                )
        except Exception as exc:
            paints.why_remote = f"server: {exc}"
            say(f"  remote not measured ({paints.why_remote})")
    return out


def report_paints(report: Report, all_paints: list[Paints]) -> dict[str, float | None]:
    """Figures and the curve; returns the medians the later ratios need."""
    medians: dict[str, float | None] = {}
    for p in all_paints:
        scale, target = p.scale, p.scale == TARGET
        emb, rem = median_of(p.embedded, "painted_ms"), median_of(p.remote, "painted_ms")
        medians[f"embedded {scale.label}"], medians[f"remote {scale.label}"] = emb, rem
        n_e, n_r = len(p.embedded), len(p.remote)
        held(
            report,
            f"{scale.label} first paint, embedded (median of {n_e})",
            emb,
            "ms",
            1000 if target else None,
            p.why_embedded,
        )
        held(
            report,
            f"{scale.label} first paint, remote (median of {n_r})",
            rem,
            "ms",
            1500 if target else None,
            p.why_remote,
        )
        wire = median_of(p.remote, "wire_bytes")
        held(
            report,
            f"{scale.label} bytes read from the server before paint",
            None if wire is None else wire / MB,
            "MB",
            1,
            p.why_remote,
        )
        if wire == 0:
            report.note(
                f"{scale.label}: the wire counter saw no bytes (the loop is not asyncio's?)"
            )
        for kind, results, why in (
            ("embedded", p.embedded, p.why_embedded),
            ("remote", p.remote, p.why_remote),
        ):
            held(
                report,
                f"{scale.label} RSS after first paint, {kind}",
                median_of(results, "rss_mb"),
                "MB",
                200 if target else None,
                why,
            )
    say("\nfirst paint over the sizes (medians; ms from `run_test()` entered, MB = 10^6 bytes)")
    say(
        f"  {'services × envs':>16} {'slots':>9} {'embedded':>10} {'remote':>10} {'wire MB':>9}"
        f" {'RSS emb':>8} {'RSS rem':>8} {'peak emb':>9}"
    )
    for p in all_paints:
        cells = [
            median_of(p.embedded, "painted_ms"),
            median_of(p.remote, "painted_ms"),
            _div(median_of(p.remote, "wire_bytes"), MB),
            median_of(p.embedded, "rss_mb"),
            median_of(p.remote, "rss_mb"),
            median_of(p.embedded, "maxrss_mb"),
        ]
        shown = [
            "—" if v is None else f"{v:,.0f}" if i < 2 else f"{v:,.2f}" if i == 2 else f"{v:,.0f}"
            for i, v in enumerate(cells)
        ]
        say(
            f"  {p.scale.label:>16} {p.scale.slots:>9,} {shown[0]:>10} {shown[1]:>10} {shown[2]:>9}"
            f" {shown[3]:>8} {shown[4]:>8} {shown[5]:>9}"
        )
    for kind in ("embedded", "remote"):
        big, small = medians.get(f"{kind} {TARGET.label}"), medians.get(f"{kind} {SMALL.label}")
        held(
            report,
            f"{TARGET.label} ÷ {SMALL.label} first paint, {kind}",
            _div(big, small),
            "x",
            2,
            "a size was not measured",
        )
    return medians


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def peer(report: Report, medians: dict[str, float | None]) -> None:
    """Textual's DataTable with the same 10,000 rows × 9 columns."""
    say(f"\nDataTable, {TARGET.services:,} rows × {len(TARGET.envs) + 1} columns")
    results, why = repeated(
        ["--child", "datatable", "--services", str(TARGET.services)], PAINT_TIMEOUT_S, "DataTable"
    )
    table = median_of(results, "painted_ms")
    held(
        report,
        f"DataTable {TARGET.services:,} rows first paint (median of {len(results)})",
        table,
        "ms",
        why=why,
    )
    held(report, "  DataTable RSS after first paint", median_of(results, "rss_mb"), "MB", why=why)
    held(
        report,
        f"shipdeck {TARGET.label} embedded ÷ DataTable",
        _div(medians.get(f"embedded {TARGET.label}"), table),
        "x",
        0.1,
        "a first paint was not measured",
    )
    held(
        report,
        f"shipdeck {TARGET.label} remote ÷ DataTable",
        _div(medians.get(f"remote {TARGET.label}"), table),
        "x",
        why="a first paint was not measured",
    )


def keys(report: Report) -> None:
    """Filter, sort, live rows and cursor with 10,000 services loaded (embedded)."""
    say(f"\nkeys at {TARGET.label} (embedded)   load average {os.getloadavg()[0]:.2f}")
    try:
        path = scale_db(TARGET, report)
    except Exception as exc:
        for label in (
            "filter keystroke → repaint p99",
            "sort → repaint max",
            "event → cell p99",
            "cursor down → repaint p99",
        ):
            unmeasured(report, label, f"no database: {exc}")
        return
    with scratch_dir("scale-keys") as folder:
        copy = folder / "keys.db"
        settled_copy(path, copy)  # live rows are written to it
        outcome = child(
            [
                "--child",
                "keys",
                "--target",
                f"sqlite:///{copy}",
                "--services",
                str(TARGET.services),
            ],
            KEYS_TIMEOUT_S,
        )
    r = outcome.result or {}
    why = outcome.why or "no result"
    for key, value in r.items():
        if key.startswith("error"):
            say(f"  {key}: {value}")
            report.note(f"keys at {TARGET.label}: {key}: {value}")

    def stat(name: str, q: float) -> float | None:
        values = r.get(name)
        return percentile(values, q) if values else None

    n = len(r.get("filter", []))
    held(report, f"filter keystroke → repaint p50 ({n} keys)", stat("filter", 50), "ms", why=why)
    held(report, "filter keystroke → repaint p99", stat("filter", 99), "ms", 33, why)
    if r.get("filter_missed"):
        report.add("  keystrokes never repainted (3 s)", r["filter_missed"], "keys")
    if r.get("sort_missed"):
        report.add("  sorts never repainted (9 s)", r["sort_missed"], "presses")
    if r.get("cursor_missed"):
        report.add("  cursor moves never repainted (3 s)", r["cursor_missed"], "presses")
    n = len(r.get("sort", []))
    held(report, f"s sort → repaint p50 ({n} presses)", stat("sort", 50), "ms", why=why)
    held(report, "s sort → repaint max", stat("sort", 100), "ms", 200, why)
    n = len(r.get("events", []))
    held(report, f"event → cell p50 (200/s, {n} rows)", stat("events", 50), "ms", why=why)
    held(report, "event → cell p99", stat("events", 99), "ms", 100, why)
    if "events_unpainted" in r:
        report.add("  events never painted", r["events_unpainted"], "rows")
        report.add("  sender behind schedule p99", r["events_sender_lag_p99"], "ms")
    n = len(r.get("cursor", []))
    held(report, f"cursor down → repaint p50 ({n} presses)", stat("cursor", 50), "ms", why=why)
    held(
        report,
        "cursor down → repaint p99",
        stat("cursor", 99),
        "ms",
        FRAME_MS,
        why,
        target="≤ 1 frame (16.7 ms)",
    )


PARTS = ("paint", "datatable", "keys")


def run(scales: tuple[Scale, ...] = SCALES, skip: tuple[str, ...] = ()) -> Report:
    """Every part (`python -m benchmarks matrix-scale`)."""
    report = Report(NAME)
    say(f"terminal {SIZE[0]}×{SIZE[1]}; load average {_load()}")
    medians: dict[str, float | None] = {}
    if "paint" not in skip:
        medians = report_paints(report, first_paints(report, scales))
    if "datatable" not in skip:
        peer(report, medians)
    if "keys" not in skip:
        keys(report)
    report.note(f"matrix-scale: load average at the end {_load()} (2 shared cores)")
    return report


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.matrix_scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(s.services) for s in SCALES),
        help="services of the sizes to run, comma-separated (default: all four)",
    )
    parser.add_argument(
        "--skip", default="", help=f"parts to skip, comma-separated: {', '.join(PARTS)}"
    )
    parser.add_argument("--prepare", action="store_true", help="only build the databases")
    parser.add_argument("--child", choices=["paint", "datatable", "keys"], help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=["embedded", "remote"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--services", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "paint":
        asyncio.run(paint_child(args.client, args.target, args.services, args.out))
        return
    if args.child == "datatable":
        asyncio.run(datatable_child(args.services, args.out))
        return
    if args.child == "keys":
        asyncio.run(keys_child(args.target, args.services, args.out))
        return
    wanted = {int(n) for n in args.sizes.split(",") if n}
    scales = tuple(s for s in SCALES if s.services in wanted)
    if args.prepare:
        report = Report(NAME)
        for scale in scales:
            scale_db(scale, report)
        return
    run(scales, tuple(p for p in args.skip.split(",") if p))


if __name__ == "__main__":
    main()
