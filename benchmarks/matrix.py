"""`matrix`: GET /api/matrix over 1,000,000 rows in 2,000 slots (400 services × 5 envs).

Target: server time ≤ 20 ms.

1. Prove on a 10,000-row prefix that the bulk loader of `benchmarks._dataset` writes
   exactly what `SQLiteStore.append_deployment` writes (and time those appends), then
   build the 1M-row log with it, once: it is kept in `benchmarks/.data/`. Each run works
   on a scratch copy, so it can ingest without changing the cached log.
2. Check on a sample of slots that the served matrix equals a reduction of their rows.
3. Print `EXPLAIN QUERY PLAN` for every statement the matrix path runs (captured with a
   trace callback, not copied from the source) and for a filtered history listing.
4. Time `Engine.matrix.document()` in-process — the server time of the route — in steady
   state (one row ingested before each call, so each call is a cache miss), cold (a new
   engine's first call) and cached; then `GET /api/matrix` as a client sees it against
   `shipdeck serve` (one uvicorn worker) on loopback.
"""

from __future__ import annotations

import asyncio
import cProfile
import itertools
import json
import pstats
import random
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from shipdeck.domain import (
    DeploymentEventIngest,
    DeploymentFilters,
    SlotEntry,
    Status,
    reduce_slot,
    view_slot,
)
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.store import DeploymentQuery, SQLiteStore

from ._dataset import (
    LogShape,
    bulk_load,
    differences_from_engine,
    ingest_bodies,
    loader_matches_store,
    new_row,
    shape_metadata,
    store_append,
)
from ._harness import (
    DATA_DIR,
    Report,
    Server,
    create_key,
    percentile,
    say,
    scratch_dir,
    settled_copy,
)

NAME = "matrix"
SUMMARY = "GET /api/matrix, 1M rows / 2,000 slots: server time"
TARGET_MS = 20.0
CALLS = 50
COLD_CALLS = 10
CHECK_ROWS = 10_000
ENGINE_ROWS = 500
SAMPLE_SLOTS = 12

# Retention far beyond the generated timestamps: a server never prunes the copied log.
_KEEP_EVENTS = "[stream]\nretention_hours = 1000000\n"


def run() -> Report:
    """Build or reuse the log, verify it, show query plans, time the matrix."""
    report = Report(NAME)
    shape = LogShape()
    check_loader(shape, report)
    cached = cached_log(shape, report)
    with scratch_dir("matrix") as folder:
        started = time.perf_counter()
        database = folder / "log.db"
        settled_copy(cached, database)
        say(f"copied the log to a scratch folder in {time.perf_counter() - started:.1f} s")
        config = folder / "engine.toml"
        config.write_text(_KEEP_EVENTS)
        url = f"sqlite:///{database}"
        asyncio.run(measure_in_process(url, shape, report))
        measure_http(url, config, report)
    return report


# -- the data --------------------------------------------------------------------------


def check_loader(shape: LogShape, report: Report) -> None:
    """The loader must store what the engine stores: same documents, same bytes."""
    bodies = list(itertools.islice(ingest_bodies(shape), CHECK_ROWS))
    rows = [new_row(body) for body in bodies]
    with scratch_dir("loader") as folder:
        bulk_load(f"sqlite:///{folder / 'loaded.db'}", rows)
        count, seconds = store_append(f"sqlite:///{folder / 'appended.db'}", rows)
        differing = loader_matches_store(folder / "loaded.db", folder / "appended.db")
        engine_url = f"sqlite:///{folder / 'engine.db'}"
        documents = asyncio.run(differences_from_engine(engine_url, bodies[:ENGINE_ROWS]))
    if documents:
        report.note(f"{documents} of {ENGINE_ROWS} generated rows differ from Engine.ingest's")
    else:
        say(f"generated rows == Engine.ingest's documents on {ENGINE_ROWS} rows (ids aside)")
    rate = count / seconds
    report.add("append_deployment, one thread", rate, "rows/s")
    report.add("  → 1M rows through append_deployment", shape.rows / rate, "s (est.)")
    if differing:
        report.note(f"bulk loader DIFFERS from append_deployment in: {', '.join(differing)}")
    else:
        say(f"bulk loader == append_deployment on the first {count:,} rows (every table)")


def cached_log(shape: LogShape, report: Report) -> Path:
    """The generated database, built once and kept in `benchmarks/.data/`."""
    path = DATA_DIR / shape.cache_name()
    meta = path.with_suffix(".json")
    if path.exists():
        say(f"using the cached log {path.relative_to(DATA_DIR.parent.parent)}")
        if meta.exists():
            built = json.loads(meta.read_text()).get("build_seconds")
            report.add("bulk load of the log (first run; cached since)", built, "s")
    else:
        DATA_DIR.mkdir(exist_ok=True)
        partial = path.with_suffix(".partial")
        for leftover in DATA_DIR.glob(partial.name + "*"):
            leftover.unlink()
        say(f"building {shape.rows:,} rows into {path.name} (once; later runs reuse it)…")
        started = time.perf_counter()
        bulk_load(f"sqlite:///{partial}", (new_row(body) for body in ingest_bodies(shape)))
        seconds = time.perf_counter() - started
        partial.rename(path)
        meta.write_text(shape_metadata(shape, seconds))
        report.add("bulk load of the log (generate + insert)", seconds, "s")
    report.add("database size", path.stat().st_size / 2**20, "MiB")
    return path


def live_bodies(shape: LogShape) -> Iterator[DeploymentEventIngest]:
    """Rows for the log's slots, happening now (what CI reports while the matrix is read)."""
    for index, body in enumerate(ingest_bodies(LogShape(rows=10**9, seed=shape.seed + 1))):
        body["deployment_id"] = f"live-{index}"
        body["happened_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        yield DeploymentEventIngest.model_validate_json(json.dumps(body))


# -- in-process ------------------------------------------------------------------------


async def measure_in_process(url: str, shape: LogShape, report: Report) -> None:
    """Correctness on a sample, query plans, then server time of the matrix."""
    store = SQLiteStore(url)
    engine = Engine(store, EngineConfig())
    try:
        document = await engine.matrix.document()
        matrix = json.loads(document.body)
        slots = sum(len(row["slots"]) for row in matrix["rows"])
        say(f"matrix: {len(matrix['rows'])} services, {slots} slots, {len(document.body):,} B")
        mismatches = verify_sample(store, matrix, shape)
        report.add(
            "sampled slots differing from a reduction", mismatches, "slots", "0", not mismatches
        )
        show_query_plans(store, report)
        await time_in_process(engine, url, shape, report)
        drift = await incremental_drift(engine, url)
        report.add("incremental matrix ≠ a fresh engine's", drift, "slots", "0", not drift)
    finally:
        await engine.close()


async def time_in_process(engine: Engine, url: str, shape: LogShape, report: Report) -> None:
    """Server time of the matrix: steady state, cold, cached."""
    bodies = live_bodies(shape)

    async def after_ingest() -> float:
        await engine.ingest(next(bodies))  # moves the head: the next call misses the cache
        return await _elapsed(engine.matrix.document)

    async def cold() -> float:
        fresh = Engine(SQLiteStore(url), engine.config)
        try:
            return await _elapsed(fresh.matrix.document)
        finally:
            await fresh.close()

    steady = await _repeat(after_ingest, CALLS)
    median = statistics.median(steady)
    target, met = f"≤ {TARGET_MS:g} ms", median <= TARGET_MS
    report.add("matrix_document(), after an ingest, median", median, "ms", target, met)
    report.add("matrix_document(), after an ingest, p95", percentile(steady, 95), "ms")
    cold_times = await _repeat(cold, COLD_CALLS)
    cold_median = statistics.median(cold_times)
    cold_met = cold_median <= TARGET_MS
    report.add("matrix_document(), cold (new engine), median", cold_median, "ms", target, cold_met)
    hits = await _repeat(lambda: _elapsed(engine.matrix.document), CALLS)
    report.add("matrix_document(), cached, median", statistics.median(hits), "ms")
    if not met or not cold_met:
        profile(url)


async def _elapsed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def _repeat(sample: Callable[[], Awaitable[float]], n: int) -> list[float]:
    await sample()  # warm
    return [await sample() for _ in range(n)]


async def incremental_drift(engine: Engine, url: str) -> int:
    """Slots in which the long-lived engine's matrix differs from a new engine's."""
    fresh = Engine(SQLiteStore(url), engine.config)
    try:
        mine = json.loads((await engine.matrix.document()).body)
        theirs = json.loads((await fresh.matrix.document()).body)
    finally:
        await fresh.close()

    def slots(matrix: dict[str, Any]) -> dict[tuple[str, str], Any]:
        return {(r["service"], e): s for r in matrix["rows"] for e, s in r["slots"].items()}

    a, b = slots(mine), slots(theirs)
    return sum(a.get(key) != b.get(key) for key in a.keys() | b.keys())


def verify_sample(store: SQLiteStore, matrix: dict[str, Any], shape: LogShape) -> int:
    """How many sampled slots of the served matrix differ from a reduction of their rows."""
    served = {(r["service"], env): s for r in matrix["rows"] for env, s in r["slots"].items()}
    sample = random.Random(7).sample(
        [(s, e) for s in shape.service_names() for e in shape.environments], SAMPLE_SLOTS
    )
    conn = sqlite3.connect(store.path)
    bad = 0
    try:
        for service, environment in sample:
            rows = conn.execute(
                "SELECT happened_at, arrival, status, doc FROM deployments"
                " WHERE service = ? AND environment = ?",
                (service, environment),
            ).fetchall()
            expected = _reduced(SlotEntry(a, b, Status(c), d) for a, b, c, d in rows)
            got = served.get((service, environment))
            if got != expected:
                bad += 1
                say(f"MISMATCH {service}/{environment}: reduced {expected}, served {got}")
    finally:
        conn.close()
    say(f"{SAMPLE_SLOTS - bad}/{SAMPLE_SLOTS} sampled slots equal a reduction of their rows")
    return bad


def _reduced(entries: Iterator[SlotEntry[str]]) -> dict[str, Any] | None:
    """A slot as `MatrixSlot` JSON, reduced from all its rows with the domain's fold."""
    view = view_slot(reduce_slot(entries))
    if view is None:
        return None
    slot: dict[str, Any] = {"current": json.loads(view.current)}
    if view.last_successful is not None:
        slot["last_successful"] = json.loads(view.last_successful)
    if view.next is not None:
        slot["next"] = json.loads(view.next)
    if view.prev_failed:
        slot["prev_failed"] = True
    return slot


def show_query_plans(store: SQLiteStore, report: Report) -> None:
    """EXPLAIN QUERY PLAN of the SQL the matrix path really runs, and of a listing."""
    conn = store._conn  # this thread's connection: the calls below run on it
    service = store.services()[0]
    probe = Engine(store, EngineConfig())  # a new engine: its first matrix reads all slots
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        probe.matrix.rows_json(None)  # what a reader thread runs for GET /api/matrix
        probe.matrix.rows_json(None)  # …and, once warm, after the log moved
        matrix_sql = list(dict.fromkeys(statements))
        statements.clear()
        store.list_deployments(DeploymentQuery(DeploymentFilters(service=service), limit=101))
        store.list_deployments(
            DeploymentQuery(
                DeploymentFilters(service=service), before=(1_736_200_000_000_000, "x"), limit=101
            )
        )
        listing_sql = list(dict.fromkeys(statements))
    finally:
        conn.set_trace_callback(None)
    say("EXPLAIN QUERY PLAN — matrix path (cold, then warm):")
    touching = sum(_print_plan(conn, sql) for sql in matrix_sql)
    say("EXPLAIN QUERY PLAN — history listing, service filter, newest first (+ cursor):")
    for sql in listing_sql:
        _print_plan(conn, sql)
    report.add("matrix statements reading `deployments`", touching, "stmts", "0", touching == 0)


def _print_plan(conn: sqlite3.Connection, sql: str) -> int:
    """Print one plan; return 1 if it reads the `deployments` log table."""
    say(f"  {sql if len(sql) < 150 else sql[:60] + ' … ' + sql[-80:]}")
    plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    for _, parent, _, detail in plan:
        say(f"    {'  ' if parent else ''}{detail}")
    return int(any(" deployments" in f" {detail}" for *_, detail in plan))


def profile(url: str) -> None:
    """Where a matrix build spends its time (printed when a target is missed)."""
    engine = Engine(SQLiteStore(url), EngineConfig())
    profiler = cProfile.Profile()
    profiler.enable()
    engine.matrix.rows_json(None)  # cold: every slot
    profiler.disable()
    engine.store.close()
    say("cProfile of a cold Engine._matrix_rows_json (by own time):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(10)


# -- over HTTP -------------------------------------------------------------------------


def measure_http(url: str, config: Path, report: Report) -> None:
    """Client-observed latency of GET /api/matrix against `shipdeck serve`."""
    key = create_key(url)
    bodies = (body.model_dump_json(exclude_none=True) for body in live_bodies(LogShape()))
    with (
        Server(url, config=config) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        first = client.get("/api/matrix")
        first.raise_for_status()
        say(f"GET /api/matrix: {len(first.content):,} B, ETag {first.headers['etag']}")
        report.add("GET /api/matrix, first after start (cold)", _ms(first), "ms")

        def after_ingest() -> httpx.Response:
            client.post(
                "/api/deployments",
                content=next(bodies),
                headers={"X-Api-Key": key, "Content-Type": "application/json"},
            ).raise_for_status()
            return client.get("/api/matrix")

        steady = [_ms(after_ingest()) for _ in range(CALLS)]
        report.add("GET /api/matrix, after an ingest, median", statistics.median(steady), "ms")
        report.add("GET /api/matrix, after an ingest, p95", percentile(steady, 95), "ms")
        hits = [_ms(client.get("/api/matrix")) for _ in range(CALLS)]
        report.add("GET /api/matrix, cached, median", statistics.median(hits), "ms")
        etag = client.get("/api/matrix").headers["etag"]
        conditional = {"If-None-Match": etag}
        not_modified = [_ms(client.get("/api/matrix", headers=conditional)) for _ in range(CALLS)]
        report.add("GET /api/matrix → 304, median", statistics.median(not_modified), "ms")


def _ms(response: httpx.Response) -> float:
    """Request sent → body read, as the client saw it; refuses anything but 200/304."""
    if response.status_code not in {200, 304}:
        raise RuntimeError(f"GET {response.url} answered {response.status_code}")
    return response.elapsed.total_seconds() * 1000
