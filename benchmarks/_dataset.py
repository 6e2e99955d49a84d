"""A large, realistic deployment log, and a bulk loader that stores it as the engine would.

Rows come from a seeded generator: each step picks a slot at random and moves that slot's
open logical deployment one status further, through the paths CI systems and approval
gates produce (queued → in-progress → success/failure, pending → waiting → queued …,
rejected, cancelled). `happened_at` advances with the step, but some emitters report late
(out of order) and some rows share a timestamp (ties broken by arrival).

`bulk_load` writes exactly what `SQLiteStore.append_deployment` would: the same
`deployments` rows with arrival numbers in insertion order, one `events` row each with the
same sequence numbers, and a `slots` table folded with `shipdeck.domain.fold_slot`. It is
fast because it batches inserts in large transactions and builds the log's indexes once at
the end; `loader_matches_store` proves it agrees with the store on a prefix of the log.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uuid_utils

from shipdeck.domain import (
    DeploymentEvent,
    DeploymentEventIngest,
    SlotEntry,
    SlotState,
    fold_slot,
    to_micros,
)
from shipdeck.engine import Engine
from shipdeck.engine.store import NewDeploymentRow, SQLiteStore
from shipdeck.engine.store.codec import slot_values
from shipdeck.engine.store.migrate import HEAD_REVISION

from ._harness import DATA_DIR, say

LOADER_VERSION = 1
"""Bump when the generator or the loader changes, so cached databases are rebuilt."""
SLOT_DATA_VERSION = 1
"""Bump when `slot_bodies` changes, so cached slot databases are rebuilt."""

_WORDS = (  # noqa: SIM905 (a sentence reads better than 25 lines of one word)
    "checkout payments ledger search catalog cart orders billing identity auth gateway "
    "notifications inventory pricing shipping returns reviews media profile session "
    "analytics reports exports imports scheduler"
).split()
_ACTORS = ("alice", "bob", "carol", "dave", "erin", "ci-bot", "renovate[bot]", "release-bot")
_PATHS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("queued", "in-progress", "success"), 62),
    (("queued", "in-progress", "failure"), 10),
    (("pending", "waiting", "queued", "in-progress", "success"), 12),
    (("pending", "waiting", "rejected"), 4),
    (("queued", "cancelled"), 4),
    (("in-progress", "success"), 6),
    (("in-progress", "failure"), 2),
)
"""Status paths of one logical deployment, with their weights."""


@dataclass(frozen=True, slots=True)
class LogShape:
    """How big the generated log is."""

    rows: int = 1_000_000
    services: int = 400
    environments: tuple[str, ...] = ("dev", "test", "staging", "preprod", "prod")
    seed: int = 20_240_611

    @property
    def slots(self) -> int:
        """`services × environments`."""
        return self.services * len(self.environments)

    def service_names(self) -> list[str]:
        """`services` distinct, realistic names."""
        return [f"{_WORDS[i % len(_WORDS)]}-{i // len(_WORDS):02d}" for i in range(self.services)]

    def cache_name(self) -> str:
        """A file name that changes whenever the content would."""
        return (
            f"log-{self.rows}r-{self.services}s-{len(self.environments)}e-seed{self.seed}"
            f"-v{LOADER_VERSION}-schema{HEAD_REVISION}.db"
        )


@dataclass(slots=True)
class _OpenDeployment:
    deployment_id: str
    version: str
    path: tuple[str, ...]
    step: int = 0


def ingest_bodies(shape: LogShape) -> Iterator[dict[str, Any]]:
    """The log's rows as `POST /api/deployments` bodies, in arrival order."""
    rnd = random.Random(shape.seed)
    services = shape.service_names()
    slots = [(s, e) for s in services for e in shape.environments]
    weights = [w for _, w in _PATHS]
    paths = [p for p, _ in _PATHS]
    open_by_slot: dict[tuple[str, str], _OpenDeployment] = {}
    minor: dict[str, int] = dict.fromkeys(services, 0)
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    last_at: dict[tuple[str, str], datetime] = {}
    for i in range(shape.rows):
        slot = slots[rnd.randrange(len(slots))]
        current = open_by_slot.get(slot)
        if current is None or current.step >= len(current.path):
            minor[slot[0]] += 1
            current = _OpenDeployment(
                f"{slot[0]}-{slot[1]}-{i:07d}",
                f"1.{minor[slot[0]]}.{rnd.randrange(10)}",
                rnd.choices(paths, weights)[0],
            )
            open_by_slot[slot] = current
        status = current.path[current.step]
        current.step += 1
        at = start + timedelta(milliseconds=500 * i)
        roll = rnd.random()
        if roll < 0.05:
            at -= timedelta(seconds=rnd.uniform(1, 60))  # a late emitter: out of order
        elif roll < 0.06 and slot in last_at:
            at = last_at[slot]  # same instant as the slot's previous row: a tie
        last_at[slot] = at
        yield {
            "deployment_id": current.deployment_id,
            "service": slot[0],
            "environment": slot[1],
            "version": current.version,
            "status": status,
            "happened_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "run_url": f"https://ci.example.com/{slot[0]}/actions/runs/{9_000_000 + i}",
            "run_number": str(1000 + i // 7),
            "actor": rnd.choice(_ACTORS),
            "ref": "refs/heads/main",
            "sha": f"{rnd.getrandbits(160):040x}",
        }


def new_row(body: dict[str, Any]) -> NewDeploymentRow:
    """The row `Engine.ingest` appends for an ingest body (same models, same document)."""
    ingest = DeploymentEventIngest.model_validate_json(json.dumps(body))
    fields = ingest.model_dump(exclude_none=True)
    event = DeploymentEvent(
        id=str(uuid_utils.uuid7()), progress_reporter=None, trigger="ingest", **fields
    )
    return NewDeploymentRow(
        id=event.id,
        deployment_id=event.deployment_id,
        service=event.service,
        environment=event.environment,
        status=event.status,
        happened_at=to_micros(event.happened_at),
        actor=event.actor,
        doc=event.model_dump_json(),
    )


async def differences_from_engine(url: str, bodies: list[dict[str, Any]]) -> int:
    """How many of `new_row`'s documents differ from what `Engine.ingest` stores.

    Row ids are random (UUIDv7), so documents are compared without their `id`.
    """
    engine = await Engine.open(url)
    try:
        differing = 0
        for body in bodies:
            ingest = DeploymentEventIngest.model_validate_json(json.dumps(body))
            _, stored = await engine.ingest(ingest)
            ours, theirs = json.loads(new_row(body).doc), json.loads(stored)
            del ours["id"], theirs["id"]
            differing += ours != theirs
        return differing
    finally:
        await engine.close()


def bulk_load(url: str, rows: Iterable[NewDeploymentRow], batch: int = 50_000) -> int:
    """Append `rows` to a new, empty store at `url`; return how many.

    Raises:
        ValueError: the database already holds rows (arrival and sequence numbers are
            assigned from 1 here).
    """
    SQLiteStore(url).close()  # create and migrate exactly as the engine does
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        if conn.execute("SELECT COUNT(*) FROM deployments").fetchone()[0]:
            raise ValueError(f"{url} is not empty")
        conn.execute("PRAGMA synchronous=OFF")  # a crash only loses a cache file
        conn.execute("PRAGMA cache_size=-262144")
        indexes = [
            (name, sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name = 'deployments' AND sql IS NOT NULL"
            )
        ]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        states: dict[tuple[str, str], tuple[SlotState[str], int]] = {}
        count = 0
        chunk: list[NewDeploymentRow] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch:
                count = _insert(conn, chunk, count, states)
                chunk = []
        count = _insert(conn, chunk, count, states)
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO slots VALUES ({', '.join('?' * 17)})",
            [slot_values(*slot, state, seq) for slot, (state, seq) in sorted(states.items())],
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return count


def _insert(
    conn: sqlite3.Connection,
    rows: list[NewDeploymentRow],
    done: int,
    states: dict[tuple[str, str], tuple[SlotState[str], int]],
) -> int:
    """Insert one batch with arrival = seq = position in the log; fold it into `states`."""
    recorded = time.time_ns() // 1000
    log, events = [], []
    for offset, row in enumerate(rows, start=done + 1):
        log.append(
            (
                *(offset, row.id, row.deployment_id, row.service, row.environment),
                *(row.status.value, row.happened_at, row.actor, row.doc),
            )
        )
        events.append((offset, "deployment", row.service, row.doc, recorded))
        slot = (row.service, row.environment)
        state = states.get(slot, (SlotState(), 0))[0]
        entry = SlotEntry(row.happened_at, offset, row.status, row.doc)
        states[slot] = (fold_slot(state, entry), offset)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO deployments (arrival, id, deployment_id, service, environment, status,"
        " happened_at, actor, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        log,
    )
    conn.executemany(
        "INSERT INTO events (seq, type, service, data, recorded_at) VALUES (?, ?, ?, ?, ?)",
        events,
    )
    conn.execute("COMMIT")
    return done + len(rows)


def store_append(url: str, rows: Iterable[NewDeploymentRow]) -> tuple[int, float]:
    """Append `rows` one by one through `SQLiteStore.append_deployment` (one thread).

    Returns how many rows and the seconds the appends took.
    """
    store = SQLiteStore(url)
    try:
        count = 0
        started = time.perf_counter()
        for row in rows:
            store.append_deployment(row)
            count += 1
        return count, time.perf_counter() - started
    finally:
        store.close()


_COMPARED = {
    "deployments": "SELECT * FROM deployments ORDER BY arrival",
    "slots": "SELECT * FROM slots ORDER BY service, environment",
    "events": "SELECT seq, type, service, data FROM events ORDER BY seq",
    "sqlite_sequence": "SELECT * FROM sqlite_sequence ORDER BY name",
    "schema": "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
}
"""What must be identical between a bulk-loaded and an appended store."""


def loader_matches_store(loaded: Path, appended: Path) -> list[str]:
    """The tables in which two stores of the same rows differ (empty: none)."""
    differing = []
    a, b = sqlite3.connect(loaded), sqlite3.connect(appended)
    try:
        for table, sql in _COMPARED.items():
            if a.execute(sql).fetchall() != b.execute(sql).fetchall():
                differing.append(table)
    finally:
        a.close()
        b.close()
    return differing


def shape_metadata(shape: LogShape, seconds: float) -> str:
    """What is recorded next to a cached database."""
    return json.dumps({**asdict(shape), "build_seconds": round(seconds, 1)})


# -- matrices: every slot with a few rows (the TUI benchmarks) ---------------------------


def slot_bodies(services: int, envs: tuple[str, ...], per_slot: int) -> Iterator[dict[str, Any]]:
    """`per_slot` ingest bodies for every slot; the last one varies (failure, queued next…)."""
    base = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # fixed: cached databases are reproducible
    finals = ("success", "failure", "in-progress", "queued")
    for s, service in enumerate(LogShape(services=services).service_names()):
        for e, env in enumerate(envs):
            for k in range(per_slot):
                status = finals[(s + e) % len(finals)] if k == per_slot - 1 else "success"
                body = {
                    "deployment_id": f"{service}-{env}-{k}",
                    "service": service,
                    "environment": env,
                    "version": f"{k + 1}.{s}.{e}",
                    "status": status,
                    "happened_at": (base + timedelta(minutes=s * 7 + e * 3 + k * 60)).isoformat(),
                    "actor": ("alice", "bob", "ci-bot")[(s + k) % 3],
                    "run_url": f"https://ci.example.com/{service}/runs/{s * 100 + e * 10 + k}",
                    "run_number": str(s * 100 + e * 10 + k),
                    "ref": "refs/heads/main",
                    "sha": f"{(s * 7919 + e * 104729 + k) * 2654435761:040x}"[-40:],
                }
                if status == "in-progress":
                    body["phase"] = "pushing"
                yield body


def load_slots(
    url: str, services: int, envs: tuple[str, ...], per_slot: int, *, progress: int = 0
) -> int:
    """Store every slot's rows with the bulk loader (the rows `Engine.ingest` would store).

    With `progress`, a line is printed every `progress` rows (large builds take minutes).
    """
    rows: Iterable[NewDeploymentRow] = (new_row(b) for b in slot_bodies(services, envs, per_slot))
    if progress:
        rows = _progress(rows, services * len(envs) * per_slot, progress)
    return bulk_load(url, rows)


def _progress(
    rows: Iterable[NewDeploymentRow], total: int, every: int
) -> Iterator[NewDeploymentRow]:
    started = time.perf_counter()
    for count, row in enumerate(rows, start=1):
        yield row
        if count % every == 0:
            say(f"  built {count:,} of {total:,} rows ({time.perf_counter() - started:.0f} s)")
    say(f"  indexing and folding slots ({time.perf_counter() - started:.0f} s so far)…")


def slot_db_name(stem: str) -> str:
    """A cached slot database's file name: changes whenever the content would."""
    return f"tui-{stem}-d{SLOT_DATA_VERSION}-v{LOADER_VERSION}-schema{HEAD_REVISION}.db"


def cached_db(name: str, build: Callable[[str], object]) -> tuple[Path, float | None]:
    """`benchmarks/.data/<name>`, built once; the build's seconds when it ran now.

    `build(url)` (a module-level function, or a `functools.partial` of one) runs in a
    child process: creating a store imports Alembic and SQLAlchemy, which an app opening an
    existing store never does, and a heap that large would slow every garbage collection
    of the runs measured afterwards.
    """
    path = DATA_DIR / name
    if path.exists():
        return path, None
    DATA_DIR.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in DATA_DIR.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=build, args=(f"sqlite:///{partial}",)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"building {name} failed (exit code {child.exitcode})")
    seconds = time.perf_counter() - started
    partial.rename(path)
    return path, seconds
