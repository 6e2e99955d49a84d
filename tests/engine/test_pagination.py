"""Keyset pagination of the deployment history while rows keep arriving.

A walk over every page, started at some moment, must return each row that existed at that
moment exactly once, newest first (`happened_at` DESC, then `id` DESC), whatever is inserted
meanwhile: rows older than the walk's position, newer than it, or tied with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shipdeck.domain import DeploymentEventIngest, Role, Status, parse_rfc3339, to_micros
from shipdeck.engine import Engine
from shipdeck.server import create_app

BASE_TIME = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
INITIAL = 240
PAGE = 7

Position = tuple[int, str]
"""`(happened_at µs, id)`: the order the history is walked in (descending)."""

CHOICES = (
    timedelta(0),  # tied with the row the walk just read
    timedelta(seconds=3),  # newer: already walked past
    timedelta(seconds=-3),  # older: still ahead of the walk
    timedelta(days=-1),  # older than everything
    timedelta(days=1),  # newer than everything
)
"""Where rows are inserted during a walk, relative to its position."""

FetchPage = Callable[[str | None], Awaitable[tuple[list[dict[str, Any]], str | None]]]


def ingest_body(deployment_id: str, happened_at: datetime) -> DeploymentEventIngest:
    return DeploymentEventIngest(
        deployment_id=deployment_id,
        service="service-a",
        environment="dev",
        status=Status.SUCCESS,
        happened_at=happened_at,
    )


def initial_time(n: int) -> datetime:
    """Groups of four rows share a `happened_at` (ties); some carry microseconds."""
    return BASE_TIME + timedelta(seconds=n // 4, microseconds=(n // 4) % 3 * 250)


def sort_key(item: dict[str, Any]) -> Position:
    return to_micros(parse_rfc3339(item["happened_at"])), item["id"]


async def seed(engine: Engine) -> set[str]:
    """Rows in shuffled arrival order, so ids and `happened_at` do not agree."""
    order = sorted(range(INITIAL), key=lambda n: (n * 37) % INITIAL)
    ids: set[str] = set()
    for n in order:
        event, _ = await engine.ingest(ingest_body(f"seed-{n}", initial_time(n)))
        ids.add(event.id)
    return ids


async def walk_while_inserting(
    fetch_page: FetchPage,
    insert: Callable[[DeploymentEventIngest], Awaitable[None]],
) -> tuple[list[dict[str, Any]], int]:
    """Read every page while a task inserts rows around the walk's position.

    Returns the rows walked, in order, and how many rows were inserted during the walk.
    """
    position: list[datetime] = [BASE_TIME]
    """`happened_at` of the last row walked so far."""
    inserted = 0
    progress = asyncio.Event()
    done = asyncio.Event()

    async def inserter() -> None:
        nonlocal inserted
        for n in itertools.count():
            if done.is_set():
                return
            shift = CHOICES[n % len(CHOICES)]
            await insert(ingest_body(f"live-{n}", position[0] + shift))
            inserted += 1
            progress.set()

    task = asyncio.create_task(inserter())
    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    try:
        async with asyncio.timeout(60):
            while True:
                items, cursor = await fetch_page(cursor)
                assert len(items) <= PAGE
                repeated = {i["id"] for i in walked} & {i["id"] for i in items}
                assert not repeated, f"{len(repeated)} rows came again on a later page"
                walked += items
                if cursor is None:
                    break
                position[0] = parse_rfc3339(items[-1]["happened_at"])
                # Each kind of insert lands at (and around) the new position before the
                # next page is read; the inserter keeps running during the read as well.
                target = inserted + len(CHOICES)
                while inserted < target:
                    progress.clear()
                    await progress.wait()
    finally:
        done.set()
        await task
    return walked, inserted


def assert_walk_is_complete_and_ordered(walked: list[dict[str, Any]], existing: set[str]) -> None:
    ids = [item["id"] for item in walked]
    assert len(ids) == len(set(ids)), "a row was returned twice"
    missing = existing - set(ids)
    assert not missing, f"{len(missing)} rows that existed before the walk were skipped"
    keys = [sort_key(item) for item in walked]
    assert keys == sorted(keys, reverse=True), "rows are not newest first (happened_at, id)"


async def test_engine_walk_neither_skips_nor_repeats_under_concurrent_inserts(
    engine: Engine,
) -> None:
    existing = await seed(engine)

    async def fetch_page(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        docs, next_cursor = await engine.deployments.documents(cursor=cursor, limit=PAGE)
        return [json.loads(doc) for doc in docs], next_cursor

    async def insert(body: DeploymentEventIngest) -> None:
        await engine.ingest(body)

    walked, inserted = await walk_while_inserting(fetch_page, insert)
    assert inserted >= INITIAL // PAGE * len(CHOICES)
    assert_walk_is_complete_and_ordered(walked, existing)
    # Rows inserted older than the walk position were met on later pages.
    assert any(item["deployment_id"].startswith("live-") for item in walked)


async def test_a_cursor_resumes_after_its_row_even_with_ties(engine: Engine) -> None:
    """Rows tied on `happened_at` split across pages still come once each, by id DESC."""
    same = BASE_TIME + timedelta(seconds=5)
    ids = [(await engine.ingest(ingest_body(f"tie-{n}", same)))[0].id for n in range(10)]
    walked: list[str] = []
    cursor: str | None = None
    while True:
        docs, cursor = await engine.deployments.documents(cursor=cursor, limit=3)
        walked += [json.loads(doc)["id"] for doc in docs]
        if cursor is None:
            break
        # A newer tie (larger UUIDv7 id) sorts before the cursor: not part of this walk.
        await engine.ingest(ingest_body("late-tie", same))
    assert walked == sorted(ids, reverse=True)


async def test_http_walk_neither_skips_nor_repeats_under_concurrent_inserts(
    engine: Engine,
) -> None:
    """The same walk through `GET /api/deployments`, inserting with `POST` meanwhile."""
    existing = await seed(engine)
    _, reporter_key = await engine.keys.create("ci", Role.REPORTER)
    app = create_app(engine)
    app.state.engine = engine  # ASGITransport runs no lifespan
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://shipdeck.test")

    async def fetch_page(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, str | int] = {"limit": PAGE}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/api/deployments", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        return page["items"], page["next_cursor"]

    async def insert(body: DeploymentEventIngest) -> None:
        response = await client.post(
            "/api/deployments",
            content=body.model_dump_json(exclude_none=True),
            headers={"X-Api-Key": reporter_key, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text

    async with client:
        walked, inserted = await walk_while_inserting(fetch_page, insert)
    assert inserted >= INITIAL // PAGE * len(CHOICES)
    assert_walk_is_complete_and_ordered(walked, existing)
