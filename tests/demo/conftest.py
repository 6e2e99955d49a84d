"""Demo fixtures: a fixed `now`, a seeded engine, and a fake clock that never really waits."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from shipdeck.demo import TrafficGenerator, seed_demo
from shipdeck.domain import DeploymentEvent
from shipdeck.engine import DeploymentFilters, Engine

NOW = datetime(2026, 5, 28, 10, 0, tzinfo=UTC)
WAIT = 30.0
"""Real seconds to wait for something that must happen (a generous bound, never a sleep)."""


class FakeTime:
    """A clock that moves only when the code under test sleeps on it."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps = 0
        self._alarms: list[tuple[datetime, asyncio.Event]] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=seconds)
        for at, alarm in self._alarms:
            if self.now >= at:
                alarm.set()
        await asyncio.sleep(0)  # let the rest of the loop (and the engine's replies) run

    def alarm(self, after: float) -> asyncio.Event:
        """An event set once the clock has moved `after` seconds past now."""
        event = asyncio.Event()
        self._alarms.append((self.now + timedelta(seconds=after), event))
        return event


async def run_for(generator: TrafficGenerator, fake: FakeTime, seconds: float) -> None:
    """Run the generator for `seconds` of fake time, then cancel it as the demo does."""
    alarm = fake.alarm(seconds)
    task = asyncio.create_task(generator.run())
    waiter = asyncio.create_task(alarm.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task in done:
        task.result()  # it must never stop by itself: surface why it did
        raise AssertionError("the generator returned on its own")
    assert waiter in done, "fake time did not advance"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def all_rows(
    engine: Engine, filters: DeploymentFilters | None = None
) -> list[DeploymentEvent]:
    """Every row matching `filters`, oldest first."""
    rows: list[DeploymentEvent] = []
    cursor: str | None = None
    while True:
        page = await engine.deployments.page(filters, cursor=cursor, limit=500)
        rows.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return rows[::-1]


def by_deployment(rows: list[DeploymentEvent]) -> dict[str, list[DeploymentEvent]]:
    """Rows grouped by logical deployment, each group oldest first."""
    groups: dict[str, list[DeploymentEvent]] = {}
    for row in rows:
        groups.setdefault(row.deployment_id, []).append(row)
    return groups


@pytest.fixture
async def seeded(engine: Engine) -> Engine:
    """The test engine with the default demo history ending at `NOW`."""
    await seed_demo(engine, now=NOW)
    return engine
