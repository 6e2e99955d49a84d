"""Group commit on both backends: concurrent ingests share transactions, every row is
answered and published once, in commit order, even when its caller went away; one bad row
in a batch fails alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine
from shipdeck.engine.group_commit import GroupCommit
from shipdeck.engine.ingest import ingest_row
from shipdeck.engine.store import NewDeploymentRow, StoredEvent, open_store
from shipdeck.engine.subscriptions import Subscription

BASE = datetime(2026, 6, 1, tzinfo=UTC)


def body(n: int) -> DeploymentEventIngest:
    return DeploymentEventIngest(
        deployment_id=f"d-{n}",
        service=f"svc-{n % 7}",
        environment=("dev", "prod")[n % 2],
        status=(Status.IN_PROGRESS, Status.SUCCESS, Status.FAILURE)[n % 3],
        version=f"1.{n}",
        happened_at=BASE + timedelta(seconds=n),
    )


async def seqs(subscription: Subscription, count: int) -> list[int]:
    """The positions of the next `count` events the subscription is given."""
    seen: list[int] = []
    async with asyncio.timeout(10):
        while len(seen) < count:
            batch = await subscription.next_batch(timeout=5)
            assert batch, "no event came"
            seen += [item.seq for item in batch if isinstance(item, StoredEvent)]
    return seen


async def test_concurrent_ingests_are_each_answered_and_published_in_order(
    engine: Engine,
) -> None:
    first = engine.head
    subscription = engine.subscribe(first)
    answers = await asyncio.gather(*(engine.ingest(body(n)) for n in range(600)))
    assert len({event.id for event, _ in answers}) == 600
    assert await seqs(subscription, 600) == list(range(first + 1, first + 601))
    assert engine.store.last_seq() == engine.head == first + 600


async def test_a_row_whose_caller_went_away_is_still_published(engine: Engine) -> None:
    first = engine.head
    subscription = engine.subscribe(first)
    tasks = [asyncio.create_task(engine.ingest(body(n))) for n in range(40)]
    await asyncio.sleep(0)  # every row queued, none committed yet
    for task in tasks[::3]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert await seqs(subscription, 40) == list(range(first + 1, first + 41))
    assert engine.head == first + 40


async def test_one_bad_row_in_a_batch_fails_alone(db_url: str) -> None:
    store = open_store(db_url)
    writer = ThreadPoolExecutor(1)
    published: list[tuple[str, int]] = []

    async def write(fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(writer, fn, *args)

    def committed(row: NewDeploymentRow, event: StoredEvent) -> None:
        published.append((json.loads(row.doc)["deployment_id"], event.seq))

    commits = GroupCommit(store, write, committed)
    try:
        rows = [ingest_row(body(n)) for n in range(5)]
        twin = dataclasses.replace(rows[1], deployment_id="d-twin")  # the same row id
        answers = await asyncio.gather(
            *(commits.append(row, None) for row in [*rows, twin]), return_exceptions=True
        )
        failed = [a for a in answers if isinstance(a, BaseException)]
        assert len(failed) == 1 and answers[-1] is failed[0]
        assert [deployment for deployment, _ in published] == [f"d-{n}" for n in range(5)]
        assert [seq for _, seq in published] == sorted(seq for _, seq in published)
        assert store.last_seq() == len(published)
    finally:
        writer.shutdown()
        store.close()


@pytest.mark.parametrize("rows", [1, 300])
async def test_closing_waits_for_every_accepted_row(db_url: str, rows: int) -> None:
    engine = await Engine.open(db_url)
    tasks = [asyncio.create_task(engine.ingest(body(n))) for n in range(rows)]
    await asyncio.sleep(0)
    await engine.close()
    assert all(task.done() and not task.cancelled() for task in tasks)
    reopened = await Engine.open(db_url)
    try:
        assert reopened.head == rows
    finally:
        await reopened.close()
