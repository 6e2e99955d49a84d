"""Live simulated traffic, run on a fake clock so that minutes pass in a blink."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shipdeck.demo import ENVIRONMENTS, PROGRESS_REPORTER, TrafficGenerator
from shipdeck.domain import TERMINAL, DeploymentEvent, Matrix, Status
from shipdeck.engine import DeploymentFilters, Engine

from .conftest import NOW, FakeTime, all_rows, by_deployment, run_for

LAST_SECONDS = 10.0
"""A live deployment reports its next row within this many seconds."""


def currents(matrix: Matrix) -> dict[tuple[str, str], str]:
    """The row id of every slot's current deployment."""
    return {
        (row.service, env): slot.current.id
        for row in matrix.rows
        for env, slot in row.slots.items()
    }


async def live_rows(engine: Engine) -> list[DeploymentEvent]:
    """The rows the generator reported (the seeded history ends at `NOW`)."""
    return [row for row in await all_rows(engine) if row.happened_at > NOW]


async def test_first_row_comes_within_a_second(engine: Engine) -> None:
    fake = FakeTime(NOW)
    generator = TrafficGenerator(engine, seed=1, clock=fake.clock, sleep=fake.sleep)

    await run_for(generator, fake, 1.0)

    rows = await live_rows(engine)
    # A row whose ingest was under way when the generator was cancelled may still land.
    assert rows and generator.emitted <= len(rows) <= generator.emitted + 1
    assert rows[0].happened_at - NOW <= timedelta(seconds=1)
    assert rows[0].status in (Status.QUEUED, Status.IN_PROGRESS)
    assert rows[0].progress_reporter == PROGRESS_REPORTER and rows[0].trigger == "ingest"


async def test_deployments_run_to_an_outcome(seeded: Engine) -> None:
    fake = FakeTime(NOW)
    generator = TrafficGenerator(seeded, seed=2, clock=fake.clock, sleep=fake.sleep)

    await run_for(generator, fake, 600.0)

    groups = by_deployment(await live_rows(seeded))
    assert len(groups) > 30
    outcomes = [group[-1].status for group in groups.values()]
    assert outcomes.count(Status.SUCCESS) > outcomes.count(Status.FAILURE) > 0
    for deployment_id, group in groups.items():
        times = [row.happened_at for row in group]
        assert times == sorted(times) and times[0] > NOW and times[-1] <= fake.now
        if group[-1].status not in TERMINAL:
            assert fake.now - times[-1] < timedelta(seconds=LAST_SECONDS), deployment_id
        assert sum(row.status in TERMINAL for row in group) <= 1, deployment_id
    phases = {row.phase for group in groups.values() for row in group}
    assert {"validating", "pushing", "monitoring"} <= phases


async def test_promotions_are_chained_to_their_upstream(seeded: Engine) -> None:
    fake = FakeTime(NOW)
    generator = TrafficGenerator(seeded, seed=3, clock=fake.clock, sleep=fake.sleep)

    await run_for(generator, fake, 900.0)

    rows = await all_rows(seeded)
    groups = by_deployment(rows)
    live = by_deployment([row for row in rows if row.happened_at > NOW])
    promotions = [group for group in live.values() if group[0].parent_deployments]
    assert len(promotions) >= 5
    assert {group[0].environment for group in promotions} >= {"qa", "uat", "prod"}
    for group in promotions:
        (parent,) = group[0].parent_deployments
        upstream = groups[parent]
        assert upstream[-1].status is Status.SUCCESS
        assert upstream[-1].happened_at < group[0].happened_at
        assert ENVIRONMENTS.index(upstream[0].environment) + 1 == ENVIRONMENTS.index(
            group[0].environment
        )
        assert group[0].version == upstream[0].version and group[0].sha == upstream[0].sha
    for deployment_id, group in live.items():
        if group[0].environment != "dev" and not group[0].parent_deployments:
            first_attempt = groups[re.sub(r"-\d+$", "-1", deployment_id)]
            notes = [row.message or "" for row in first_attempt]
            assert any(note.startswith("Rollback to") for note in notes), deployment_id


async def test_matrix_comes_alive_and_picks_up_the_seeded_work(seeded: Engine) -> None:
    before = await seeded.matrix.get()
    running = {
        slot.current.deployment_id
        for row in before.rows
        for slot in row.slots.values()
        if slot.current.status is Status.IN_PROGRESS
    }
    upcoming = {
        slot.next.deployment_id for row in before.rows for slot in row.slots.values() if slot.next
    }
    fake = FakeTime(NOW)
    generator = TrafficGenerator(seeded, seed=4, clock=fake.clock, sleep=fake.sleep)

    await run_for(generator, fake, 120.0)

    after = await seeded.matrix.get()
    changed = [key for key, row_id in currents(after).items() if currents(before)[key] != row_id]
    assert len(changed) >= 5
    assert running and upcoming
    for deployment_id in running | upcoming:
        found = await seeded.deployments.page(DeploymentFilters(deployment_id=deployment_id))
        assert found.items[0].status in TERMINAL, deployment_id


async def test_a_restarted_generator_finishes_what_was_left_running(engine: Engine) -> None:
    fake = FakeTime(NOW)
    await run_for(TrafficGenerator(engine, seed=5, clock=fake.clock, sleep=fake.sleep), fake, 300)
    left = {
        slot.current.deployment_id
        for row in (await engine.matrix.get()).rows
        for slot in row.slots.values()
        if slot.current.status is Status.IN_PROGRESS
    }

    await run_for(TrafficGenerator(engine, seed=6, clock=fake.clock, sleep=fake.sleep), fake, 60)

    assert left
    groups = by_deployment(await all_rows(engine))
    for deployment_id in left:
        assert groups[deployment_id][-1].status in TERMINAL, deployment_id
    assert len({row.deployment_id for rows in groups.values() for row in rows}) == len(groups)


@pytest.mark.parametrize("rate", [1.0, 4.0])
async def test_rate_sets_rows_per_second(engine: Engine, rate: float) -> None:
    fake = FakeTime(NOW)
    generator = TrafficGenerator(engine, rate=rate, seed=7, clock=fake.clock, sleep=fake.sleep)

    await run_for(generator, fake, 600.0)

    assert rate / 2 < generator.emitted / 600.0 < rate * 2
    in_flight = {
        (row.service, row.environment)
        for row in (await live_rows(engine))
        if row.happened_at > fake.now - timedelta(seconds=LAST_SECONDS)
    }
    assert len(in_flight) <= generator.max_in_flight + 2


def test_rate_must_be_positive(engine: Engine) -> None:
    with pytest.raises(ValueError, match="rate"):
        TrafficGenerator(engine, rate=0)


async def test_ci_promotes_no_further_than_the_gated_environments(engine: Engine) -> None:
    fake = FakeTime(NOW)
    gated = ("uat", "prod")
    generator = TrafficGenerator(engine, seed=8, clock=fake.clock, sleep=fake.sleep, gated=gated)

    await run_for(generator, fake, 900.0)

    environments = {row.environment for row in await live_rows(engine)}
    assert {"dev", "qa"} <= environments
    assert not environments & set(gated)  # promotions there ask shipdeck (the colleagues)
