"""`analytics`: `GET /api/analytics/*` over a 1,000,000-row log, against `/healthz`.

Target: every analytics endpoint ≤ 200 ms (p99, client-observed, one at a time).

1. The log is `benchmarks._dataset`'s 1M rows (400 services × 5 environments, late and
   tied rows), restamped to span the 28 days before the day it is built (so a 30-day window
   holds all of it, a 7-day one a quarter), with each deployment past `dev` naming the
   service's latest deployment one environment down as its parent (lead times). It is
   bulk-loaded, then the rollups are made from it with `rebuild_rollups` — what migration
   0011 does to an existing log, timed — and kept in `benchmarks/.data/`.
2. A scratch copy is served by `shipdeck serve` (one uvicorn worker); its start, to the
   first `200` of `/readyz`, is timed: the rollups need no rebuild at start.
3. Each endpoint (the nine, `insights`, and `insights` of one service) is asked `REQUESTS`
   times after a warm-up, window `30d` (the widest), alternating with `/healthz` in the same
   run; p50 and p99 of each are printed side by side.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shipdeck.domain import format_rfc3339, parse_rfc3339
from shipdeck.domain.analytics import AnalyticsKind
from shipdeck.engine.store.migrate import HEAD_REVISION
from shipdeck.engine.store.rollup_rebuild import rebuild_rollups
from shipdeck.engine.store.sqlite.deployments import rollup_tx

from ._dataset import LOADER_VERSION, LogShape, bulk_load, cached_db, ingest_bodies, new_row
from ._harness import DATA_DIR, Report, Server, percentile, say, scratch_dir, settled_copy

NAME = "analytics"
SUMMARY = "GET /api/analytics/*, 1M rows: p50/p99 next to /healthz"
TARGET_MS = 200.0
REQUESTS = 60
WARM_UP = 3
SPAN = timedelta(days=28)
DATA_VERSION = 3
"""Bump when the restamping or the parents change, so the cached log is rebuilt."""
SHAPE = LogShape()
_ORIGIN = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
"""Where `ingest_bodies` starts its clock (one row every 500 ms)."""


def data_name() -> str:
    """The cached database's file name: changes whenever its content would."""
    return (
        f"analytics-{SHAPE.rows}r-{SHAPE.services}s-d{DATA_VERSION}-v{LOADER_VERSION}"
        f"-schema{HEAD_REVISION}.db"
    )


def recent_bodies(shape: LogShape, end: datetime) -> Iterator[dict[str, Any]]:
    """The log's rows, spread over the `SPAN` before `end`, with promotion parents."""
    span = timedelta(milliseconds=500 * shape.rows)
    envs = shape.environments
    latest: dict[tuple[str, str], str] = {}
    parents: dict[str, list[str]] = {}
    for body in ingest_bodies(shape):
        at = parse_rfc3339(body["happened_at"])
        body["happened_at"] = format_rfc3339(end - SPAN + (at - _ORIGIN) / span * SPAN)
        dep, service, env = body["deployment_id"], body["service"], body["environment"]
        if dep not in parents:
            below = envs.index(env) - 1
            parent = latest.get((service, envs[below])) if below >= 0 else None
            parents[dep] = [parent] if parent else []
            latest[(service, env)] = dep
        if parents[dep]:
            body["parent_deployments"] = parents[dep]
        yield body


def build(meta: str, shape: LogShape, url: str) -> None:
    """Bulk-load the log into `url`, then make its rollups (timed into `meta`)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    bulk_load(url, (new_row(body) for body in recent_bodies(shape, today - timedelta(hours=1))))
    loaded = time.perf_counter()
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        rows = rebuild_rollups(rollup_tx(conn))
        conn.execute("COMMIT")
        rebuilt = time.perf_counter()
        sizes = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("analytics_counts", "analytics_env_counts", "analytics_incidents")
        }
    finally:
        conn.close()
    facts = {"rows": rows, "load_s": loaded - started, "rebuild_s": rebuilt - loaded, **sizes}
    with open(meta, "w", encoding="utf-8") as out:
        json.dump({**facts, "built": today.date().isoformat()}, out)


def run() -> Report:
    """Build or reuse the log, serve a copy, time every analytics endpoint."""
    report = Report(NAME)
    name = data_name()
    meta = DATA_DIR / f"{name}.json"
    say(f"log: {name} (built once, with progress only at the end: about 2–4 min)")
    cached, seconds = cached_db(name, functools.partial(build, str(meta), SHAPE))
    facts = json.loads(meta.read_text(encoding="utf-8"))
    say(f"log built {facts['built']}" + ("" if seconds is None else f" now, in {seconds:.0f} s"))
    report.add("bulk load of 1M rows (generate + insert)", facts["load_s"], "s")
    report.add("rollups made from the 1M rows (migration 0011)", facts["rebuild_s"], "s")
    report.add("rollup rows: per service / per environment", facts["analytics_counts"], "rows")
    report.add(
        "  … per environment (what unfiltered reads sum)", facts["analytics_env_counts"], "rows"
    )
    with scratch_dir("analytics") as folder:
        database = folder / "log.db"
        settled_copy(cached, database)
        url = f"sqlite:///{database}"
        started = time.perf_counter()
        with Server(url) as server:
            report.add(
                "shipdeck serve start to /readyz (no rebuild)", time.perf_counter() - started, "s"
            )
            measure(server.url, report)
    return report


def _paths(service: str) -> list[str]:
    paths = [f"/api/analytics/{kind.value}?window=30d" for kind in AnalyticsKind]
    return [
        *paths,
        "/api/analytics/insights?window=30d",
        f"/api/analytics/insights?window=30d&service={service}",
    ]


def measure(url: str, report: Report) -> None:
    """p50/p99 of each endpoint, with `/healthz` asked between its requests."""
    service = SHAPE.service_names()[0]
    with httpx.Client(base_url=url, timeout=30) as client:
        frequency = client.get("/api/analytics/frequency?window=30d").json()
        terminal = sum(b["success"] + b["failure"] for b in frequency["buckets"])
        say(f"successes and failures in the 30-day window: {terminal:,}")
        empty: list[float] = []
        for path in _paths(service):
            times = []
            for index in range(WARM_UP + REQUESTS):
                elapsed, status = _timed(client, path)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
                health, _ = _timed(client, "/healthz")
                if index >= WARM_UP:
                    times.append(elapsed)
                    empty.append(health)
            p50, p99 = percentile(times, 50), percentile(times, 99)
            label = path.removeprefix("/api/analytics/").replace("?window=30d", "")
            report.add(f"{label}: p50", p50, "ms")
            report.add(f"{label}: p99", p99, "ms", f"≤ {TARGET_MS:g} ms", p99 <= TARGET_MS)
    report.add("/healthz, same run: p50", percentile(empty, 50), "ms")
    report.add("/healthz, same run: p99", percentile(empty, 99), "ms")


def _timed(client: httpx.Client, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(path)
    return (time.perf_counter() - started) * 1000, response.status_code
