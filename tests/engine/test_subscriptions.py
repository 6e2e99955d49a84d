"""Live subscriptions: replay, live delivery, slow readers, resyncs, detaching."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine, EngineConfig, Resync, StoredEvent, Subscription
from shipdeck.engine.subscriptions import EventHub

BASE_TIME = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
WAIT = 10.0
"""Seconds to wait for something that must happen (a generous bound, never a sleep)."""
QUIET = 0.1
"""Seconds of silence that show nothing more is coming."""


def row(n: int, service: str = "service-a") -> DeploymentEventIngest:
    """A valid row whose deployment id carries `n`."""
    return DeploymentEventIngest(
        deployment_id=f"d-{n}",
        service=service,
        environment="dev",
        status=Status.SUCCESS,
        happened_at=BASE_TIME + timedelta(seconds=n),
        version=f"1.{n}",
    )


async def ingest_many(engine: Engine, count: int, start: int = 1) -> list[str]:
    """Ingest `count` rows one after another; return their documents in order."""
    return [(await engine.ingest(row(n)))[1] for n in range(start, start + count)]


async def next_event(subscription: Subscription) -> StoredEvent:
    """The next item, which must be an event and must come within `WAIT` seconds."""
    item = await subscription.next(timeout=WAIT)
    assert isinstance(item, StoredEvent), f"expected an event, got {item!r}"
    return item


async def next_resync(subscription: Subscription) -> Resync:
    item = await subscription.next(timeout=WAIT)
    assert isinstance(item, Resync), f"expected a resync, got {item!r}"
    return item


async def take(subscription: Subscription, count: int) -> list[StoredEvent]:
    return [await next_event(subscription) for _ in range(count)]


@asynccontextmanager
async def configured(db_url: str, **stream: Any) -> AsyncIterator[Engine]:
    """An engine on the test's database with some stream settings changed."""
    engine = await Engine.open(db_url, EngineConfig(stream=stream))
    try:
        yield engine
    finally:
        await engine.close()


async def test_replay_after_a_position_then_live(engine: Engine) -> None:
    docs = await ingest_many(engine, 10)
    async with engine.subscribe(after=4) as events:
        replayed = await take(events, 6)
        assert [e.seq for e in replayed] == [5, 6, 7, 8, 9, 10]
        assert [e.data for e in replayed] == docs[4:]
        assert all(e.type == "deployment" for e in replayed)
        assert await events.next(timeout=QUIET) is None  # nothing twice
        _, live = await engine.ingest(row(11))
        event = await next_event(events)
        assert (event.seq, event.data) == (11, live)


async def test_replay_from_zero_is_the_whole_log(engine: Engine) -> None:
    docs = await ingest_many(engine, 3)
    async with engine.subscribe(after=0) as events:
        assert [e.data for e in await take(events, 3)] == docs


async def test_without_a_position_only_live_events_arrive(engine: Engine) -> None:
    await ingest_many(engine, 3)
    async with engine.subscribe() as events:
        assert events.position == 3
        assert await events.next(timeout=QUIET) is None
        _, doc = await engine.ingest(row(4))
        event = await next_event(events)
        assert (event.seq, event.data) == (4, doc)


async def test_concurrent_ingests_arrive_in_sequence_without_gaps(engine: Engine) -> None:
    async with engine.subscribe() as events:
        await asyncio.gather(*(engine.ingest(row(n)) for n in range(200)))
        assert [e.seq for e in await take(events, 200)] == list(range(1, 201))


async def test_a_reader_that_never_reads_neither_blocks_ingest_nor_loses_events(
    db_url: str,
) -> None:
    """Its queue overflows; it then catches up from the store, in order, exactly once."""
    total = 5000
    async with configured(db_url, subscriber_queue=8) as engine:
        slow = engine.subscribe()
        fast = engine.subscribe()
        async with slow, fast:

            async def read_fast() -> list[StoredEvent]:
                return await take(fast, total)

            reader = asyncio.create_task(read_fast())
            # Were publishing to wait for the slow reader's full queue, this would hang.
            async with asyncio.timeout(60):
                docs = await ingest_many(engine, total)
            assert engine.head == total
            async with asyncio.timeout(60):
                fast_events = await reader
            assert [e.seq for e in fast_events] == list(range(1, total + 1))
            assert [e.data for e in fast_events] == docs

            slow_events = await take(slow, total)  # only now does the slow reader read
            assert [e.seq for e in slow_events] == list(range(1, total + 1))
            assert [e.data for e in slow_events] == docs
            assert await slow.next(timeout=QUIET) is None

            _, doc = await engine.ingest(row(total))
            for subscription in (slow, fast):
                event = await next_event(subscription)
                assert (event.seq, event.data) == (total + 1, doc)


async def test_a_slow_reader_interleaved_with_bursts_sees_every_event_once(
    db_url: str,
) -> None:
    """Reading a little between bursts larger than the queue still yields 1..N."""
    async with configured(db_url, subscriber_queue=4) as engine, engine.subscribe() as events:
        seen: list[int] = []
        for burst in range(20):
            await asyncio.gather(*(engine.ingest(row(burst * 10 + n)) for n in range(10)))
            seen += [e.seq for e in await take(events, 3)]
        seen += [e.seq for e in await take(events, 200 - len(seen))]
        assert seen == list(range(1, 201))
        assert await events.next(timeout=QUIET) is None


async def test_a_replay_longer_than_the_catch_up_limit_resyncs(db_url: str) -> None:
    async with configured(db_url, catch_up_limit=10) as engine:
        await ingest_many(engine, 50)
        engine.flush_events()  # delivered: a late subscriber must replay from the store
        async with engine.subscribe(after=40) as near:  # exactly at the limit: replayed
            assert [e.seq for e in await take(near, 10)] == list(range(41, 51))
        async with engine.subscribe(after=39) as far:
            assert (await next_resync(far)).seq == 50
            _, doc = await engine.ingest(row(51))
            event = await next_event(far)
            assert (event.seq, event.data) == (51, doc)


async def test_a_live_reader_that_falls_too_far_behind_resyncs(db_url: str) -> None:
    settings = {"catch_up_limit": 10, "subscriber_queue": 4}
    async with configured(db_url, **settings) as engine, engine.subscribe() as events:
        await ingest_many(engine, 30)
        engine.flush_events()  # everything delivered: the queue has overflowed by now
        assert (await next_resync(events)).seq == 30
        assert await events.next(timeout=QUIET) is None
        _, doc = await engine.ingest(row(31))
        event = await next_event(events)
        assert (event.seq, event.data) == (31, doc)


async def test_a_position_before_the_pruned_log_resyncs(engine: Engine) -> None:
    await ingest_many(engine, 5)
    engine.flush_events()  # delivered before anyone subscribes: only the store has them now
    async with engine.subscribe(after=2) as behind, engine.subscribe(after=5) as current:
        pruned = await engine.prune_events(older_than=datetime.now(UTC) + timedelta(hours=1))
        assert pruned == 5
        assert (await next_resync(behind)).seq == 5
        async with engine.subscribe(after=0) as fresh:
            assert (await next_resync(fresh)).seq == 5
            _, doc = await engine.ingest(row(6))
            for events in (behind, current, fresh):  # a caught-up reader needs no resync
                event = await next_event(events)
                assert (event.seq, event.data) == (6, doc)


async def test_the_first_kept_event_is_still_replayable_after_pruning(engine: Engine) -> None:
    await ingest_many(engine, 3)
    cutoff = datetime.now(UTC)
    kept = await ingest_many(engine, 3, start=4)
    assert await engine.prune_events(older_than=cutoff) == 3
    engine.flush_events()
    async with engine.subscribe(after=3) as events:
        assert [e.data for e in await take(events, 3)] == kept
    async with engine.subscribe(after=2) as events:
        assert (await next_resync(events)).seq == 6


@pytest.mark.parametrize("after", [4, 1000])
async def test_a_position_beyond_the_head_resyncs(engine: Engine, after: int) -> None:
    """A position from another (or a reset) database cannot be trusted: start afresh."""
    await ingest_many(engine, 3)
    async with engine.subscribe(after=after) as events:
        assert (await next_resync(events)).seq == 3
        _, doc = await engine.ingest(row(4))
        event = await next_event(events)
        assert (event.seq, event.data) == (4, doc)


async def test_subscribers_detach_when_their_block_exits(engine: Engine) -> None:
    assert engine.subscriber_count == 0
    async with engine.subscribe() as one, engine.subscribe(after=0):
        assert engine.subscriber_count == 2
        await engine.ingest(row(1))
        await next_event(one)
    assert engine.subscriber_count == 0

    with pytest.raises(RuntimeError):
        async with engine.subscribe():
            assert engine.subscriber_count == 1
            raise RuntimeError("reader failed")
    assert engine.subscriber_count == 0

    attached = asyncio.Event()

    async def wait_forever() -> None:
        async with engine.subscribe() as events:
            attached.set()
            await events.next()

    task = asyncio.create_task(wait_forever())
    async with asyncio.timeout(WAIT):
        await attached.wait()
    assert engine.subscriber_count == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.subscriber_count == 0
    await engine.ingest(row(2))  # publishing to nobody is fine


async def test_event_data_is_the_stored_row_document(engine: Engine) -> None:
    async with engine.subscribe() as events:
        stored, doc = await engine.ingest(row(1))
        event = await next_event(events)
    assert json.loads(event.data) == json.loads(doc)
    assert json.loads(event.data)["id"] == stored.id
    assert event.service == "service-a"


async def test_the_tick_lengthens_with_waiting_readers_only() -> None:
    """At most `max_wakeups` wake-ups a second: 5 waiting readers at 100/s → a 50 ms tick.

    A subscriber that is not waiting (stuck writing to a client that stopped reading) does
    not count: it will not wake.
    """
    hub = EventHub(head=0, window=16, coalesce=0.01, max_wakeups=100)
    assert hub.tick == 0.01
    hub.attach()  # subscribed, but busy elsewhere: not waiting
    waiting = [asyncio.create_task(hub.wait(WAIT)) for _ in range(5)]
    await asyncio.sleep(0)
    assert hub.tick == pytest.approx(0.05)
    hub.publish(StoredEvent(1, "deployment", "a", "{}"))
    assert await asyncio.gather(*waiting) == [True] * 5  # woken by the one delivery
    assert hub.head == 1
    assert hub.tick == 0.01
    assert EventHub(head=0, window=16, coalesce=0.01, max_wakeups=0).tick == 0.01  # no cap
