"""The simulate driver, with time and chance under the test's control."""

from __future__ import annotations

import asyncio
import random

import pytest
from pydantic import ValidationError

from shipdeck.engine.drivers import PHASES, DeployJob, LogLevel, SimulateConfig, SimulateDriver

from .conftest import RecordingReporter, eventually


class FakeClock:
    """A `sleep` that returns at once and adds up the time it was asked to wait."""

    def __init__(self) -> None:
        self.slept = 0.0

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept += seconds


def simulator(clock: FakeClock, seed: int, **settings: object) -> SimulateDriver:
    config = SimulateConfig.model_validate(settings)
    return SimulateDriver(config, sleep=clock.sleep, rng=random.Random(seed))


@pytest.mark.parametrize("seed", range(5))
async def test_without_failures_every_phase_runs_in_order(
    job: DeployJob, reporter: RecordingReporter, seed: int
) -> None:
    clock = FakeClock()

    outcome = await simulator(clock, seed, failure_rate=0).run(job, reporter)

    assert outcome.success
    assert outcome.message == "checkout-api 1.4.3 is live in prod"
    assert reporter.phases == list(PHASES)
    # Each phase logs something before the next one starts.
    kinds = [kind for kind, _ in reporter.events]
    assert all(kinds[i + 1] == "log" for i, kind in enumerate(kinds) if kind == "phase")
    assert all(line.level != LogLevel.ERROR for line in reporter.lines)
    assert 9 <= clock.slept <= 30  # a believable rollout at scale 1


async def test_log_lines_name_the_job(job: DeployJob, reporter: RecordingReporter) -> None:
    await simulator(FakeClock(), 1, failure_rate=0).run(job, reporter)

    text = "\n".join(line.message for line in reporter.lines)
    assert "registry.internal/checkout-api:1.4.3" in text
    assert "requested by alice" in text
    assert "rollout of checkout-api 1.4.3 complete" in text


async def test_scale_shortens_every_wait(job: DeployJob) -> None:
    normal, fast = FakeClock(), FakeClock()

    await simulator(normal, 7, failure_rate=0).run(job, RecordingReporter())
    await simulator(fast, 7, failure_rate=0, scale=0.1).run(job, RecordingReporter())

    assert fast.slept == pytest.approx(normal.slept * 0.1)


async def test_failure_rate_one_always_fails_in_a_realistic_phase(job: DeployJob) -> None:
    failing_phases = set()
    for seed in range(40):
        reporter = RecordingReporter()

        outcome = await simulator(FakeClock(), seed, failure_rate=1).run(job, reporter)

        assert not outcome.success
        assert reporter.phases == list(PHASES[: len(reporter.phases)])
        assert reporter.phases[-1] in {"validating", "pushing", "monitoring"}
        assert reporter.lines[-1].level == LogLevel.ERROR
        assert "checkout-api" in outcome.message and outcome.message.endswith(
            ("it", "redeploy", "serving")
        )
        failing_phases.add(reporter.phases[-1])
    assert failing_phases == {"validating", "pushing", "monitoring"}


async def test_failure_rate_is_roughly_honoured(job: DeployJob) -> None:
    rng = random.Random(3)
    driver = SimulateDriver(SimulateConfig(failure_rate=0.3), sleep=FakeClock().sleep, rng=rng)

    outcomes = [await driver.run(job, RecordingReporter()) for _ in range(300)]

    failures = sum(not outcome.success for outcome in outcomes)
    assert 60 <= failures <= 120


async def test_seed_makes_runs_repeatable(job: DeployJob) -> None:
    runs = []
    for _ in range(2):
        reporter = RecordingReporter()
        driver = SimulateDriver(SimulateConfig(seed=11, failure_rate=0.5), sleep=FakeClock().sleep)
        await driver.run(job, reporter)
        runs.append(reporter.events)

    assert runs[0] == runs[1]


async def test_cancel_stops_the_run(job: DeployJob, reporter: RecordingReporter) -> None:
    driver = SimulateDriver(SimulateConfig(failure_rate=0))
    task = asyncio.create_task(driver.run(job, reporter))
    await eventually(lambda: bool(reporter.phases))

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reporter.phases == ["validating"]


@pytest.mark.parametrize("settings", [{"failure_rate": 1.5}, {"scale": 0}, {"speed": 2}])
def test_invalid_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SimulateConfig.model_validate(settings)
