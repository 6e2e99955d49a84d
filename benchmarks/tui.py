"""`python -m benchmarks.tui [name …]`: the TUI's figures, measured headless.

Benchmarks (issue targets):

- `event-latency`: a row ingested → its cell repainted, at 200 rows/s (p99 ≤ 100 ms,
  p50 ≤ 35 ms).
- `matrix-first-paint`: 2,000 services × 6 environments on screen (≤ 1 s); a cursor move
  repainted within one frame.
- `history-1m`: 1,000,000 rows in the store: the first page on screen (≤ 200 ms) and
  page-down, fetches included (≤ 50 ms).
- `startup`: a new process to the matrix painted (≤ 700 ms, median of 5).
- `memory`: RSS and traced Python memory during 30,000 ingested rows (should plateau).

How "painted" is observed: every app runs for real under `App.run_test()` / headless
`run_async()`, where Textual composes each frame exactly as in a terminal and only skips
writing it. `PaintProbe` wraps `MatrixGrid.render_line` and `HistoryTable.render_line` to
see each line as it is produced, and the app's `_display` — where a finished frame is
handed to the driver — to date the frames. A line counts as painted at the first frame
after it was rendered. Nothing in `src/` is changed to measure.

Each benchmark runs in a fresh child process (and every first paint in its own), so one
run's leftovers — a larger heap means slower garbage collections — never reach the next.
Nothing is printed while an app runs: Textual captures stdout then.

Generated databases are cached in `benchmarks/.data/`, built in a child process so the
measuring process never imports Alembic; the 1M-row log is the one `benchmarks.matrix`
builds with `benchmarks._dataset.bulk_load` (same file name, shared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.domain import DeploymentEventIngest, Status, utc_now
from shipdeck.engine import DeploymentFilters, Engine
from shipdeck.engine.cursors import encode_cursor
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.model import MatrixModel
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.history_table import HistoryTable
from shipdeck.tui.widgets.matrix_grid import MatrixGrid

from ._dataset import (
    LogShape,
    bulk_load,
    cached_db,
    ingest_bodies,
    load_slots,
    new_row,
    shape_metadata,
    slot_db_name,
)
from ._harness import DATA_DIR, Figure, Report, percentile, say, scratch_dir, settled_copy, verdict

NAME = "tui"
SUMMARY = "the TUI headless: event latency, first paints, history paging, startup, memory"
SIZE = (160, 50)
"""Terminal size of every run (a large but ordinary terminal)."""
FRAME_MS = 1000 / 60
"""One frame at Textual's default 60 fps (`TEXTUAL_FPS`)."""
SMALL_ENVS = ("dev", "qa", "staging", "prod")
WIDE_ENVS = ("dev", "qa", "staging", "uat", "preprod", "prod")
ROOT = Path(__file__).resolve().parent.parent


# -- observing paints ------------------------------------------------------------------

LineKeys = Callable[[ScrollView, int, Strip], Iterable[Hashable]]
"""(widget, content row index, strip) → keys of what that line shows, for `PaintProbe`."""


@dataclass
class PaintProbe:
    """Dates lines of the grid and the table by the frame that put them on screen."""

    app: ShipdeckApp
    line_keys: LineKeys
    painted: dict[Hashable, float] = field(default_factory=dict)
    """Key → time of the first frame after a line showing it was rendered."""
    rendered: dict[Hashable, float] = field(default_factory=dict)
    """Key → time the first line showing it was rendered."""
    frames: list[float] = field(default_factory=list)
    ticks: list[float] = field(default_factory=list)
    """Starts of the screens' update-timer callbacks (where a frame's work begins)."""
    extends: list[float] = field(default_factory=list)
    """Times a page of rows was appended to a `HistoryTable`."""
    _unframed: list[Hashable] = field(default_factory=list)

    def _line(self, widget: ScrollView, y: int, strip: Strip) -> None:
        keys = self.line_keys(widget, int(widget.scroll_offset.y) + y, strip)
        if keys:
            now = time.perf_counter()
            for key in keys:
                self.rendered.setdefault(key, now)
                self._unframed.append(key)

    def _frame(self) -> None:
        now = time.perf_counter()
        self.frames.append(now)
        for key in self._unframed:
            self.painted.setdefault(key, now)
        self._unframed.clear()

    @contextlib.contextmanager
    def installed(self) -> Iterator[PaintProbe]:
        """Wrap the hooks (class attributes are restored on exit)."""
        probe, app = self, self.app
        saved: list[tuple[type, str, Any]] = []

        def patch(cls: type, name: str, make: Callable[[Any], Any]) -> None:
            original = cls.__dict__[name]
            saved.append((cls, name, original))
            setattr(cls, name, make(original))

        def lines(original: Any) -> Any:
            def render_line(widget: ScrollView, y: int) -> Strip:
                strip = original(widget, y)
                probe._line(widget, y, strip)
                return strip

            return render_line

        def extend(original: Any) -> Any:
            def wrapped(table: HistoryTable, *args: Any) -> None:
                original(table, *args)
                probe.extends.append(time.perf_counter())

            return wrapped

        def tick(original: Any) -> Any:
            def wrapped(screen: Screen[Any]) -> None:
                probe.ticks.append(time.perf_counter())
                original(screen)

            return wrapped

        patch(MatrixGrid, "render_line", lines)
        patch(HistoryTable, "render_line", lines)
        patch(HistoryTable, "extend", extend)
        patch(Screen, "_on_timer_update", tick)
        display = app._display

        def timed_display(screen: Screen[Any], renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and not app._batch_count:
                probe._frame()

        app._display = timed_display  # type: ignore[method-assign]
        try:
            yield self
        finally:
            del app._display
            for cls, name, original in reversed(saved):
                setattr(cls, name, original)

    def frame_after(self, moment: float) -> float | None:
        """The first frame at or after `moment`."""
        return next((f for f in self.frames if f >= moment), None)

    def tick_before(self, moment: float) -> float:
        """The start of the update that produced the frame at `moment`."""
        return max((t for t in self.ticks if t <= moment), default=moment)


async def until(predicate: Callable[[], object], timeout: float = 30.0) -> bool:
    """Let the app run until `predicate()` holds; False on timeout."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


def matrix_loaded(app: ShipdeckApp) -> bool:
    """The matrix screen shows the loaded services."""
    screen = app.screen
    return isinstance(screen, MatrixScreen) and bool(screen.query_one(MatrixGrid).services)


def ms(seconds: float) -> float:
    """Seconds → milliseconds."""
    return seconds * 1000


def at_most(
    report: Report, label: str, value: float, limit: float, unit: str = "ms", target: str = ""
) -> None:
    """A figure held against `value ≤ limit` (printed, never asserted)."""
    report.add(label, value, unit, target or f"≤ {limit:g} {unit}", value <= limit)


# -- data --------------------------------------------------------------------------------


def _build_small(url: str) -> None:
    load_slots(url, 50, SMALL_ENVS, 2)


def _build_wide(url: str) -> None:
    load_slots(url, 2000, WIDE_ENVS, 3)


def _build_million(url: str) -> None:
    shape = LogShape()
    say(f"building {shape.rows:,} rows (once; later runs reuse it)…")
    bulk_load(url, (new_row(body) for body in ingest_bodies(shape)))


def _data_name(stem: str) -> str:
    return slot_db_name(stem)


def wide_matrix_db(report: Report) -> Path:
    """2,000 services × 6 environments, 3 rows a slot (36,000 rows)."""
    path, seconds = cached_db(_data_name("matrix-2000s-6e-3r"), _build_wide)
    if seconds is not None:
        report.add("build 2,000 × 6 database (36,000 rows, once)", seconds, "s")
    return path


def small_db(folder: Path) -> str:
    """A private copy of a 50 services × 4 environments store (2 rows a slot) in `folder`."""
    path, _ = cached_db(_data_name("small-50s-4e-2r"), _build_small)
    settled_copy(path, folder / "small.db")
    return f"sqlite:///{folder / 'small.db'}"


def live_body(index: int, service: str, env: str, status: str = "success") -> Any:
    """A row happening now, with a version no other row has."""
    return DeploymentEventIngest.model_validate(
        {
            "deployment_id": f"live-{service}-{env}-{index // 3}",
            "service": service,
            "environment": env,
            "status": Status(status),
            "version": f"v{index:07d}",
            "happened_at": utc_now(),
            "actor": "bench",
            "run_url": f"https://ci.example.com/{service}/runs/{index}",
        }
    )


# -- event-latency -----------------------------------------------------------------------

LATENCY_RATE = 200
LATENCY_SECONDS = 10.0
LATENCY_WARMUP = 1.0
PANEL_MAX = 9
"""The slot panel's `max-height`: the grid can lose that many lines to it."""


async def event_latency(report: Report) -> None:
    """Rows at 200/s through the app's own engine; each dated from send to its cell's paint."""
    with scratch_dir("tui-latency") as folder:
        app = ShipdeckApp(EmbeddedClient(small_db(folder)))
        sent: dict[str, float] = {}
        waiting: dict[str, set[str]] = {}

        def keys(widget: ScrollView, index: int, strip: Strip) -> list[str]:
            if not isinstance(widget, MatrixGrid) or not 0 <= index < len(widget.services):
                return []
            versions = waiting.get(widget.services[index])
            if not versions:
                return []
            found = [v for v in versions if v in strip.text]
            versions.difference_update(found)
            return found

        probe = PaintProbe(app, keys)
        with probe.installed():
            async with app.run_test(size=SIZE):
                await until(lambda: matrix_loaded(app))
                grid = app.screen.query_one(MatrixGrid)
                # Rows that stay in view even when the slot panel grows to its full height.
                rows = grid.services[: grid.size.height - PANEL_MAX]
                cells = [(s, e) for s in rows for e in SMALL_ENVS]
                lags = await _send_at_rate(app, cells, sent, waiting)
                await until(lambda: len(probe.painted) >= len(sent), timeout=5)
    warm = int(LATENCY_RATE * LATENCY_WARMUP)
    measured = [v for i, v in enumerate(sent) if i >= warm]
    latencies = [ms(probe.painted[v] - sent[v]) for v in measured if v in probe.painted]
    report.add("events measured (after 1 s warm-up)", len(latencies), "rows")
    report.add("events never painted", len(measured) - len(latencies), "rows")
    at_most(report, "send → cell painted p50", percentile(latencies, 50), 35)
    report.add("send → cell painted p95", percentile(latencies, 95), "ms")
    at_most(report, "send → cell painted p99", percentile(latencies, 99), 100)
    report.add("send → cell painted max", max(latencies), "ms")
    report.add("sender behind schedule p99", percentile(lags, 99), "ms")
    work = [ms(f - probe.tick_before(f)) for f in probe.frames]
    report.add("frames painted during the run", len(work), "frames")
    report.add("frame work (update tick → frame) p50", percentile(work, 50), "ms")
    report.add("frame work (update tick → frame) p99", percentile(work, 99), "ms")
    report.note(
        f"event-latency: {len(cells)} visible cells round-robin, one row each time; "
        "latency counted from the scheduled send time (a late sender counts against it)"
    )


async def _send_at_rate(
    app: ShipdeckApp,
    cells: list[tuple[str, str]],
    sent: dict[str, float],
    waiting: dict[str, set[str]],
) -> list[float]:
    """Ingest `LATENCY_RATE` rows a second on the app's engine; return each send's lag (ms)."""
    engine = app.client.engine  # type: ignore[attr-defined]
    total = int(LATENCY_RATE * (LATENCY_SECONDS + LATENCY_WARMUP))
    tasks: list[asyncio.Task[Any]] = []
    lags: list[float] = []
    start = time.perf_counter() + 0.05
    for i in range(total):
        at = start + i / LATENCY_RATE
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(ms(time.perf_counter() - at))
        service, env = cells[i % len(cells)]
        body = live_body(i, service, env)
        sent[body.version] = at
        waiting.setdefault(service, set()).add(body.version)
        tasks.append(asyncio.create_task(engine.ingest(body)))
    await asyncio.gather(*tasks)
    return lags


# -- matrix-first-paint ----------------------------------------------------------------

FIRST_PAINT_RUNS = 5
CURSOR_PRESSES = 40
SETTLE_S = 0.5
"""Seconds between the first paint and the first cursor move."""


def _grid_keys(widget: ScrollView, index: int, strip: Strip) -> list[Hashable]:
    if not isinstance(widget, MatrixGrid) or not 0 <= index < len(widget.services):
        return []
    return ["rows", ("cursor", index)] if index == widget.cursor_row else ["rows"]


def matrix_first_paint(report: Report) -> None:
    """App start → the 2,000 × 6 grid's rows painted; then cursor moves (fresh processes)."""
    url = f"sqlite:///{wide_matrix_db(report)}"
    _first_paint_child(url, cursor=False)  # warms the disk cache, not reported
    runs = [
        _first_paint_child(url, cursor=i == FIRST_PAINT_RUNS - 1) for i in range(FIRST_PAINT_RUNS)
    ]
    for run in runs:
        say(
            "  run: "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in run.items() if not k.startswith("cursor"))
        )
    paint = statistics.median(r["grid rows painted"] for r in runs)
    at_most(report, f"start → 12,000 slots painted (median of {len(runs)})", paint, 1000)
    report.add(
        "start → 12,000 slots painted (worst)", max(r["grid rows painted"] for r in runs), "ms"
    )
    for phase in ("first frame", "matrix fetched", "model built"):
        # The last two exist only while the app loads the whole matrix in one call.
        if all(phase in r for r in runs):
            median = statistics.median(r[phase] for r in runs)
            report.add(f"  of which: start → {phase}", median, "ms")
    last = runs[-1]
    report.add(f"down → row repainted p50 ({CURSOR_PRESSES} presses)", last["cursor p50"], "ms")
    at_most(
        report,
        "down → row repainted p99",
        last["cursor p99"],
        FRAME_MS,
        target="≤ 1 frame (16.7 ms)",
    )
    at_most(
        report,
        "  frame work for it (tick → frame) p50",
        last["cursor work p50"],
        4,
        target="≪ 16 ms (≤ 4 ms)",
    )
    report.add("  frame work for it (tick → frame) p99", last["cursor work p99"], "ms")
    report.note(
        "matrix-first-paint: each run is a fresh process, timed from `run_test()` "
        "(imports done); a key press waits for Textual's next 60 fps update tick, "
        "so press → paint includes 0–16.7 ms of frame pacing"
    )


def _first_paint_child(url: str, *, cursor: bool) -> dict[str, float]:
    argv = [sys.executable, "-m", "benchmarks.tui", "--first-paint-child", url]
    done = subprocess.run(
        argv + ["--cursor"] * cursor,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"first-paint child failed: {done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def _first_paint_once(url: str, *, cursor: bool) -> dict[str, float]:
    client = EmbeddedClient(url)
    app = ShipdeckApp(client)
    marks: dict[str, float] = {}
    # Phase marks where the app still loads the whole matrix in one call (`client.matrix`,
    # then `MatrixModel.from_matrix`); without them, only the paints are timed.
    fetch, build = getattr(client, "matrix", None), MatrixModel.__dict__.get("from_matrix")

    async def timed_fetch() -> Any:
        assert fetch is not None
        snapshot = await fetch()
        marks["matrix fetched"] = time.perf_counter()
        return snapshot

    def timed_build(cls: type[MatrixModel], snapshot: Any) -> MatrixModel:
        model = build.__func__(cls, snapshot)
        marks["model built"] = time.perf_counter()
        return model

    if fetch is not None:
        client.matrix = timed_fetch  # type: ignore[method-assign]
    if build is not None:
        MatrixModel.from_matrix = classmethod(timed_build)  # type: ignore[assignment]
    probe = PaintProbe(app, _grid_keys)
    try:
        with probe.installed():
            started = time.perf_counter()
            async with app.run_test(size=SIZE) as pilot:
                await until(lambda: "rows" in probe.painted)
                out = {k: ms(v - started) for k, v in marks.items()}
                out["first frame"] = ms(probe.frames[0] - started)
                out["grid rows painted"] = ms(probe.painted["rows"] - started)
                if cursor:
                    # As `matrix_scale`'s keys: the moves of a settled screen, not keys
                    # pressed in the first instants, while the start finishes (the footer's
                    # keys come right after the rows, a recompose of up to ~40 ms).
                    await asyncio.sleep(SETTLE_S)
                    out.update(await _cursor_moves(app, pilot, probe))
    finally:
        if build is not None:
            MatrixModel.from_matrix = build  # type: ignore[method-assign]
    return out


async def _cursor_moves(app: ShipdeckApp, pilot: Any, probe: PaintProbe) -> dict[str, float]:
    grid = app.screen.query_one(MatrixGrid)
    latencies, work = [], []
    for _ in range(CURSOR_PRESSES):
        key = ("cursor", grid.cursor_row + 1)
        pressed = time.perf_counter()
        await pilot.press("down")
        await until(lambda key=key: key in probe.painted, timeout=5)
        frame = probe.painted[key]
        latencies.append(ms(frame - pressed))
        work.append(ms(frame - probe.tick_before(frame)))
        await asyncio.sleep(0.03)
    return {
        "cursor p50": percentile(latencies, 50),
        "cursor p99": percentile(latencies, 99),
        "cursor work p50": percentile(work, 50),
        "cursor work p99": percentile(work, 99),
    }


# -- history-1m --------------------------------------------------------------------------

HISTORY_OPENS = 5
PAGE_DOWNS = 60
DEEP_PAGE = 500_000
"""Where a deep page is fetched (paging there in the TUI would take hours of pagedown)."""


def million_log(report: Report) -> Path:
    """The 1,000,000-row log of `benchmarks._dataset` (shared with `benchmarks.matrix`)."""
    shape = LogShape()
    meta = (DATA_DIR / shape.cache_name()).with_suffix(".json")
    path, seconds = cached_db(shape.cache_name(), _build_million)
    if seconds is not None:
        meta.write_text(shape_metadata(shape, seconds))
    elif meta.exists():
        seconds = json.loads(meta.read_text()).get("build_seconds")
    if seconds is not None:
        report.add("bulk load of the 1M-row log (when built)", seconds, "s")
    report.add("1M-row database size", path.stat().st_size / 2**20, "MiB")
    return path


async def check_log(url: str, path: Path, report: Report) -> None:
    """The engine opens the log and pages it in the store's order; deep pages are timed."""
    conn = sqlite3.connect(path)
    try:
        count = conn.execute("SELECT COUNT(*) FROM deployments").fetchone()[0]
        order = "SELECT happened_at, id FROM deployments ORDER BY happened_at DESC, id DESC"
        expected = [r[1] for r in conn.execute(order + " LIMIT 200")]
        deep = conn.execute(order + " LIMIT 1 OFFSET ?", (DEEP_PAGE,)).fetchone()
    finally:
        conn.close()
    engine = await Engine.open(url)
    try:
        first = await engine.deployments.page(DeploymentFilters(), limit=100)
        second = await engine.deployments.page(DeploymentFilters(), cursor=first.next_cursor)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            await engine.deployments.page(DeploymentFilters(), cursor=encode_cursor(*deep))
            timings.append(ms(time.perf_counter() - started))
    finally:
        await engine.close()
    report.add("rows in the log", count, "rows")
    if [row.id for row in first.items + second.items] == expected:
        say("engine lists the log newest first, page 2 continues page 1: OK")
    else:
        report.note("history-1m: the engine's listing DIFFERS from the store's order")
    report.add(
        f"engine page of 100, {DEEP_PAGE:,} rows deep (median of 5)",
        statistics.median(timings),
        "ms",
    )


def _table_keys(visit: list[int]) -> LineKeys:
    def keys(widget: ScrollView, index: int, strip: Strip) -> list[Hashable]:
        if not isinstance(widget, HistoryTable) or not 0 <= index < len(widget.rows):
            return []
        if index == widget.cursor:
            return [("rows", visit[0]), ("cursor", visit[0], index)]
        return [("rows", visit[0])]

    return keys


async def history_1m(report: Report) -> None:
    """H → first page painted, then page-down through lazily fetched pages."""
    path = million_log(report)
    url = f"sqlite:///{path}"
    await check_log(url, path, report)
    visit = [0]
    need_more: list[float] = []
    client = EmbeddedClient(url)
    app = ShipdeckApp(client)
    probe = PaintProbe(app, _table_keys(visit))
    fetches: list[float] = []
    fetch = client.deployments

    async def timed_fetch(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        page = await fetch(*args, **kwargs)
        fetches.append(ms(time.perf_counter() - started))
        return page

    client.deployments = timed_fetch  # type: ignore[method-assign]

    def hook(message: object) -> None:
        if isinstance(message, HistoryTable.NeedMore):
            need_more.append(time.perf_counter())

    opens: list[float] = []
    with probe.installed():
        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            # Nothing is printed while the app runs: Textual captures stdout then.
            await until(lambda: matrix_loaded(app))
            for _ in range(HISTORY_OPENS):
                visit[0] += 1
                pressed = time.perf_counter()
                await pilot.press("H")
                await until(lambda: ("rows", visit[0]) in probe.painted, timeout=10)
                opens.append(ms(probe.painted[("rows", visit[0])] - pressed))
                if len(opens) < HISTORY_OPENS:
                    await pilot.press("escape")
                    await until(lambda: isinstance(app.screen, MatrixScreen))
            paging = await _page_downs(app, pilot, probe, visit[0], need_more)
    say("  H → first page: " + ", ".join(f"{v:.0f}" for v in opens) + " ms")
    median = statistics.median(opens)
    at_most(report, f"H → first page painted (median of {HISTORY_OPENS})", median, 200)
    report.add("H → first page painted (worst)", max(opens), "ms")
    report.add(
        f"  client.deployments() page of 100, p50 of {len(fetches)}", percentile(fetches, 50), "ms"
    )
    report.add("  client.deployments() page of 100, max", max(fetches), "ms")
    _paging_report(report, paging)


KEY_REPEAT_S = 1 / 30
"""A held key repeats about 30 times a second."""


async def _page_downs(
    app: ShipdeckApp, pilot: Any, probe: PaintProbe, visit: int, need_more: list[float]
) -> dict[str, Any]:
    """Pagedown held down (30 presses/s); presses that start a page fetch are told apart.

    Garbage collections meanwhile are timed with `gc.callbacks` (the tail's usual cause).
    """
    table = app.screen.query_one(HistoryTable)
    plain, fetching, fetch_presses, stalled = [], [], [], 0
    pauses: list[tuple[int, float, float]] = []  # (generation, start, end) of collections
    began = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], began[0], time.perf_counter()))

    gc.callbacks.append(collected)
    slow_with_gc = 0
    try:
        for _ in range(PAGE_DOWNS):
            before, asked = table.cursor, len(need_more)
            pressed = time.perf_counter()
            await pilot.press("pagedown")
            if table.cursor == before:  # on the last loaded row while a page is on its way
                stalled += 1
            else:
                key = ("cursor", visit, table.cursor)
                await until(lambda key=key: key in probe.painted, timeout=10)
                painted = probe.painted[key]
                latency = ms(painted - pressed)
                (fetching if len(need_more) > asked else plain).append(latency)
                if len(need_more) > asked:
                    fetch_presses.append(pressed)
                if latency > 50 and any(b <= painted and e >= pressed for _, b, e in pauses):
                    slow_with_gc += 1
            await asyncio.sleep(max(0.0, pressed + KEY_REPEAT_S - time.perf_counter()))
    finally:
        gc.callbacks.remove(collected)
    await until(lambda: not table.fetching, timeout=10)
    await asyncio.sleep(0.05)
    page_in = []
    for pressed in fetch_presses:  # press → the page it asked for laid out in the table
        extended = next((t for t in probe.extends if t >= pressed), None)
        frame = None if extended is None else probe.frame_after(extended)
        if frame is not None:
            page_in.append(ms(frame - pressed))
    full = [ms(e - b) for generation, b, e in pauses if generation == 2]
    return {
        "plain": plain,
        "fetching": fetching,
        "page_in": page_in,
        "stalled": stalled,
        "cursor": table.cursor,
        "rows": len(table.rows),
        "full collections": full,
        "collections ms": sum(ms(e - b) for _, b, e in pauses),
        "slow with gc": slow_with_gc,
    }


def _paging_report(report: Report, paging: dict[str, Any]) -> None:
    both = paging["plain"] + paging["fetching"]
    fetching, page_in = paging["fetching"], paging["page_in"]
    say(
        f"  {PAGE_DOWNS} page-downs at {1 / KEY_REPEAT_S:.0f}/s reached row "
        f"{paging['cursor']:,} of {paging['rows']:,} loaded"
    )
    report.add("pagedown → rows painted p50", percentile(both, 50), "ms")
    at_most(report, "pagedown → rows painted p99", percentile(both, 99), 50)
    report.add("pagedown → rows painted max", max(both), "ms")
    report.add("  presses that started a page fetch", len(fetching), "presses")
    at_most(report, "  those: pagedown → rows painted max", max(fetching, default=0.0), 50)
    at_most(report, "  those: → fetched page laid out, max", max(page_in, default=0.0), 50)
    at_most(report, "  presses that found no next page yet", paging["stalled"], 0, "presses")
    full = paging["full collections"]
    report.add("  full (gen 2) collections while paging", len(full), "")
    report.add("  … longest full collection", max(full, default=0.0), "ms")
    report.add("  all collections while paging, total", paging["collections ms"], "ms")
    report.add("  presses > 50 ms with a collection in them", paging["slow with gc"], "presses")


# -- startup -----------------------------------------------------------------------------

STARTUP_RUNS = 5

_STARTUP_CHILD = """\
import sys, time
import asyncio, json
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
started = float(sys.argv[2])
imported = time.time()
app = ShipdeckApp(EmbeddedClient(sys.argv[1]))
state = {"rows": False, "painted": None}
render_line = MatrixGrid.render_line
def probe_line(grid, y):
    strip = render_line(grid, y)
    state["rows"] = state["rows"] or grid.scroll_offset.y + y < len(grid.services)
    return strip
MatrixGrid.render_line = probe_line
display = app._display
def probe_display(screen, renderable):
    display(screen, renderable)
    if state["rows"] and renderable is not None and state["painted"] is None:
        state["painted"] = time.time()
        app.exit()
app._display = probe_display
asyncio.run(app.run_async(headless=True, size=(160, 50)))
done = time.time()
print(json.dumps({"imported": imported - started, "painted": state["painted"] - started,
                  "exited": done - started}))
"""


def _startup_once(url: str) -> dict[str, float]:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP_CHILD, url, repr(started)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"startup child failed: {done.stderr}")
    return {k: ms(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def startup(report: Report) -> None:
    """A new `python -c` process → the matrix painted, headless (median of 5 after a warm-up)."""
    with scratch_dir("tui-startup") as folder:
        url = small_db(folder)
        _startup_once(url)  # compiles .pyc files and warms the disk cache
        runs = [_startup_once(url) for _ in range(STARTUP_RUNS)]
    say("  runs: " + ", ".join(f"{r['painted']:.0f}" for r in runs) + " ms")
    painted = statistics.median(r["painted"] for r in runs)
    at_most(report, f"process start → matrix painted (median of {STARTUP_RUNS})", painted, 700)
    report.add(
        "  of which: process start → imports done",
        statistics.median(r["imported"] for r in runs),
        "ms",
    )
    if painted > 700:
        say("over target: slowest imports (python -X importtime, cumulative):")
        for cumulative, name in import_offenders():
            say(f"  {cumulative / 1000:8.1f} ms  {name}")


def import_offenders(top: int = 15) -> list[tuple[int, str]]:
    """The largest cumulative import times of the app's modules (µs, indented name)."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import shipdeck.tui.app, shipdeck.client.embedded",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "[us]" not in line:
            _, cumulative, name = line.removeprefix("import time:").split("|", 2)
            rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


# -- memory ------------------------------------------------------------------------------

MEMORY_ROWS = 30_000
"""Rows of the main run, on the matrix screen (the heap is flat from ~5,000 on; tracemalloc
makes each row ~3x dearer, so 50,000 would take minutes on a busy two-core machine)."""
HISTORY_ROWS = 5_000
"""Rows that follow with the history screen open (it keeps live rows by design)."""
MEMORY_BATCH = 500
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class MemorySample:
    """Memory after `rows` ingested rows (after a full garbage collection)."""

    rows: int
    rss: int
    blocks: int
    """`sys.getallocatedblocks()`: live pymalloc blocks, a cheap gauge of the Python heap."""
    traced: int
    """`tracemalloc`'s current size."""


def sample(rows: int) -> MemorySample:
    """RSS from `/proc/self/statm`, allocated blocks and (if on) `tracemalloc`'s figure."""
    gc.collect()
    resident = int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
    traced = tracemalloc.get_traced_memory()[0]
    return MemorySample(rows, resident, sys.getallocatedblocks(), traced)


def memory_rows(start: int, count: int, cells: list[tuple[str, str]]) -> Iterator[Any]:
    """Deployments moving queued → in-progress → success (1 in 20 fails), cell after cell."""
    for i in range(start, start + count):
        service, env = cells[(i // 3) % len(cells)]
        status = ("queued", "in-progress", "success")[i % 3]
        if status == "success" and (i // 3) % 20 == 0:
            status = "failure"
        yield live_body(i, service, env, status)


async def _ingest_sampled(
    app: ShipdeckApp, start: int, count: int, every: int, cells: list[tuple[str, str]]
) -> list[MemorySample]:
    """Ingest `count` rows in concurrent batches; sample memory every `every` rows."""
    engine = app.client.engine  # type: ignore[attr-defined]
    samples = [sample(start)]
    for offset in range(0, count, MEMORY_BATCH):
        batch = memory_rows(start + offset, MEMORY_BATCH, cells)
        await asyncio.gather(*(engine.ingest(body) for body in batch))
        done = offset + MEMORY_BATCH
        if done % every == 0:
            await until(lambda: not app._pending, timeout=10)
            await asyncio.sleep(0.05)  # let the last repaint happen
            samples.append(sample(start + done))
    return samples


@dataclass
class MemoryRun:
    """The samples of both phases and what else the run saw."""

    matrix: list[MemorySample] = field(default_factory=list)
    history: list[MemorySample] = field(default_factory=list)
    seconds: float = 0.0
    reloads: int = 0


async def memory(report: Report) -> None:
    """`MEMORY_ROWS` at full speed into the matrix, then 5,000 with the history open.

    `tracemalloc` runs from before the app starts: started later, it would count every
    object the app replaces in steady state as growth (the old ones were never traced).
    """
    run = MemoryRun()
    tracemalloc.start()
    try:
        with scratch_dir("tui-memory") as folder:
            await _memory_run(small_db(folder), run)
    finally:
        tracemalloc.stop()
    _memory_report(report, run)


async def _memory_run(url: str, run: MemoryRun) -> None:
    app = ShipdeckApp(EmbeddedClient(url))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: matrix_loaded(app))
        fetch = app.client.matrix

        async def counted() -> Any:
            run.reloads += 1
            return await fetch()

        app.client.matrix = counted  # type: ignore[method-assign]
        cells = [(s, e) for s in app.screen.query_one(MatrixGrid).services for e in SMALL_ENVS]
        started = time.perf_counter()
        run.matrix = await _ingest_sampled(app, 0, MEMORY_ROWS, 5_000, cells)
        run.seconds = time.perf_counter() - started
        await pilot.press("H")
        await until(lambda: isinstance(app.screen, HistoryScreen))
        run.history = await _ingest_sampled(app, MEMORY_ROWS, HISTORY_ROWS, 2_500, cells)


def _growth(a: MemorySample, b: MemorySample, value: Callable[[MemorySample], Any]) -> float:
    """MiB (or blocks) per 10,000 rows between two samples."""
    return (value(b) - value(a)) / ((b.rows - a.rows) / 10_000)


def _memory_report(report: Report, run: MemoryRun) -> None:
    mib = 2**20
    say("     rows   RSS MiB   alloc blocks   traced MiB")
    for s in run.matrix + run.history:
        say(f"  {s.rows:>7,}  {s.rss / mib:8.1f}  {s.blocks:>13,}   {(s.traced or 0) / mib:10.1f}")
    first, last, middle = run.matrix[0], run.matrix[-1], run.matrix[len(run.matrix) // 2]
    report.add(f"{MEMORY_ROWS:,} rows at full speed", MEMORY_ROWS / run.seconds, "rows/s")
    report.add("matrix reloads (resyncs) meanwhile", run.reloads, "")
    report.add("RSS start (matrix loaded)", first.rss / mib, "MiB")
    report.add("RSS peak", max(s.rss for s in run.matrix) / mib, "MiB")
    report.add(f"RSS after {MEMORY_ROWS:,} rows", last.rss / mib, "MiB")
    rss = _growth(middle, last, lambda s: s.rss / mib)
    at_most(report, "RSS growth per 10k rows, 2nd half", rss, 1, "MiB", "plateau (≤ 1 MiB)")
    blocks = _growth(middle, last, lambda s: s.blocks)
    report.add("allocated blocks per 10k rows, 2nd half", round(blocks), "blocks")
    report.add("traced heap, 5k rows → end", (last.traced - run.matrix[1].traced) / mib, "MiB")
    traced = _growth(middle, last, lambda s: s.traced / mib)
    at_most(
        report,
        "traced heap growth per 10k rows, 2nd half",
        traced,
        0.5,
        "MiB",
        "plateau (≤ 0.5 MiB)",
    )
    history = _growth(run.history[0], run.history[-1], lambda s: s.traced / mib)
    report.add("traced growth per 10k rows, history open", history, "MiB")


# -- running -----------------------------------------------------------------------------


def _sync(bench: Callable[[Report], Any]) -> Callable[[Report], None]:
    def run(report: Report) -> None:
        result = bench(report)
        if asyncio.iscoroutine(result):
            asyncio.run(result)

    return run


BENCHMARKS: dict[str, tuple[str, Callable[[Report], None]]] = {
    "event-latency": ("ingest → cell repainted at 200 rows/s", _sync(event_latency)),
    "matrix-first-paint": ("2,000 × 6 matrix first paint; cursor move", _sync(matrix_first_paint)),
    "history-1m": ("history over 1,000,000 rows: first page, page-down", _sync(history_1m)),
    "startup": ("process start → matrix painted", _sync(startup)),
    "memory": (f"memory over {MEMORY_ROWS:,} ingested rows", _sync(memory)),
}


def run_reports(names: list[str] | None = None) -> list[Report]:
    """Run every (or the named) TUI benchmark, each in a fresh process; one `Report` each.

    A process per benchmark keeps one benchmark's leftovers (a bigger heap, slower garbage
    collections, threads) out of the next one's figures. Children print as they go.
    """
    reports = []
    with scratch_dir("tui-reports") as folder:
        for name in names or list(BENCHMARKS):
            say(f"\n-- {name}: {BENCHMARKS[name][0]}   (load average {os.getloadavg()[0]:.2f})")
            started, out = time.perf_counter(), folder / f"{name}.json"
            argv = [sys.executable, "-m", "benchmarks.tui", "--child", name, "--out", str(out)]
            subprocess.run(argv, cwd=ROOT, check=False)
            report = Report(name)
            if out.exists():
                saved = json.loads(out.read_text())
                report.figures = [Figure(**figure) for figure in saved["figures"]]
                report.notes = saved["notes"]
            else:
                report.add("crashed (traceback above)", 1, "", "no crash", False)
            say(f"-- {name} took {time.perf_counter() - started:.0f} s")
            reports.append(report)
    return reports


def _run_child(name: str, out: Path) -> None:
    """One benchmark in this process; its figures go to `out` as JSON."""
    report = Report(name)
    try:
        BENCHMARKS[name][1](report)
    except Exception:
        traceback.print_exc()
        report.add("crashed (traceback above)", 1, "", "no crash", False)
    figures = [asdict(figure) for figure in report.figures]
    out.write_text(json.dumps({"figures": figures, "notes": report.notes}))


def run() -> Report:
    """Every TUI benchmark as one `Report` (the shape `python -m benchmarks` runs)."""
    merged = Report(NAME)
    for report in run_reports():
        merged.figures += [replace(f, label=f"{report.name}: {f.label}") for f in report.figures]
        merged.notes += report.notes
    return merged


def rows_of(reports: list[Report]) -> list[dict[str, Any]]:
    """Figures as plain rows for the lead's summary."""
    return [
        {
            "benchmark": f"{NAME}/{report.name}",
            "figure": f.label,
            "value": f.value,
            "unit": f.unit,
            "text": f.text(),
            "target": f.target,
            "met": f.met,
        }
        for report in reports
        for f in report.figures
    ]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the named TUI benchmarks (all by default); print and return their figures."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of: {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--child", choices=list(BENCHMARKS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first-paint-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--cursor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one benchmark, in the fresh process `run_reports` started
        _run_child(args.child, args.out)
        return []
    if args.first_paint_child:  # one run of matrix-first-paint, in a fresh process
        result = asyncio.run(_first_paint_once(args.first_paint_child, cursor=args.cursor))
        print(json.dumps(result))
        return []
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    reports = run_reports(args.names)
    rows = rows_of(reports)
    _print_summary(rows, [note for report in reports for note in report.notes])
    return rows


def _print_summary(rows: list[dict[str, Any]], notes: list[str]) -> None:
    table = [("benchmark", "figure", "value", "target", "met")]
    table += [
        (r["benchmark"], r["figure"], r["text"], r["target"] or "", verdict(r["met"])) for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    say("\nTUI summary")
    for line in table:
        cells = [
            c.rjust(w) if i == 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        say("  ".join(cells).rstrip())
    for note in notes:
        say(f"note: {note}")


if __name__ == "__main__":
    main()
