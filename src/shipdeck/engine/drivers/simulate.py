"""The `simulate` driver: a believable deployment that touches nothing (the demo's driver)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from .base import DeployJob, LogLevel, Outcome, Reporter

PHASES: tuple[str, ...] = ("validating", "pushing", "pushed", "monitoring")
"""The phases of a run, in order (those of the deploy API in `seeds/001`)."""


class SimulateConfig(BaseModel):
    """Settings of the `simulate` driver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_rate: float = Field(default=0.05, ge=0, le=1)
    """Chance that a run fails (0: never, 1: always), in a phase where deploys really fail."""
    scale: float = Field(default=1.0, gt=0)
    """Multiplies every duration: at 1.0 a run takes 10–30 s, at 0.1 a tenth of that."""
    seed: int | None = None
    """Seed of the random choices, for a repeatable demo (default: different every start)."""


@dataclass(frozen=True, slots=True)
class _Failure:
    phase: str
    log: str
    """What the failing step prints (an ERROR line)."""
    message: str
    """The outcome's sentence."""


_FAILURES: tuple[tuple[_Failure, float], ...] = (
    (
        _Failure(
            "validating",
            "manifest unknown: registry.internal/{service}:{version}",
            "image {service}:{version} is not in the registry; check that its build published it",
        ),
        0.25,
    ),
    (
        _Failure(
            "pushing",
            'admission webhook "policy.internal" denied the request: '
            "container {service} has no memory limit",
            "{environment} refused the manifests of {service}: the admission policy requires a "
            "memory limit; set resources.limits.memory and redeploy",
        ),
        0.2,
    ),
    (
        _Failure(
            "monitoring",
            "rollout stalled: new pods of {service} are in CrashLoopBackOff (exit code 1)",
            "{service} {version} crashed on start in {environment}; see the pods' logs, the "
            "previous version keeps serving",
        ),
        0.35,
    ),
    (
        _Failure(
            "monitoring",
            "error rate 7.4% above the 5% threshold for 60 s after the rollout",
            "{service} {version} raised the error rate in {environment} above 5%; it was "
            "halted, the previous version keeps serving",
        ),
        0.2,
    ),
)

_DURATIONS: dict[str, tuple[float, float]] = {
    "validating": (1.0, 3.0),
    "pushing": (2.0, 6.0),
    "pushed": (0.3, 1.0),
    "monitoring": (6.0, 20.0),
}
"""Seconds each phase takes at `scale` 1 (a uniform draw between the two)."""


class SimulateDriver:
    """Pretends to deploy: phases, durations and log lines like a real rollout's, no effect."""

    name: str = "simulate"

    def __init__(
        self,
        config: SimulateConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """Simulate as `config` says; tests pass a `sleep` that returns at once and a seeded
        `rng`."""
        self.config = config
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random(config.seed)

    async def run(self, job: DeployJob, report: Reporter) -> Outcome:
        """Walk through the phases, failing in one of them with `failure_rate`'s chance."""
        failure = self._draw_failure()
        values = {
            "service": job.service,
            "environment": job.environment,
            "version": job.version,
        }
        for phase in PHASES:
            await report.phase(phase, _PHASE_MESSAGES[phase].format_map(values))
            lines = self._script(phase, job)
            if failure is not None and failure.phase == phase:
                lines = lines[: self._rng.randint(1, max(1, len(lines) - 1))]
            step = self._duration(phase) / (len(lines) + 1)
            for text, level in lines:
                await self._sleep(step)
                await report.log(text, level=level)
            await self._sleep(step)
            if failure is not None and failure.phase == phase:
                await report.log(failure.log.format_map(values), level=LogLevel.ERROR)
                return Outcome(False, failure.message.format_map(values))
        return Outcome(True, f"{job.service} {job.version} is live in {job.environment}")

    def _draw_failure(self) -> _Failure | None:
        if self._rng.random() >= self.config.failure_rate:
            return None
        failures = [failure for failure, _ in _FAILURES]
        weights = [weight for _, weight in _FAILURES]
        return self._rng.choices(failures, weights)[0]

    def _duration(self, phase: str) -> float:
        low, high = _DURATIONS[phase]
        return self._rng.uniform(low, high) * self.config.scale

    def _script(self, phase: str, job: DeployJob) -> list[tuple[str, LogLevel]]:
        """The log lines of `phase` for a run that goes well."""
        info = LogLevel.INFO
        image = f"registry.internal/{job.service}:{job.version}"
        if phase == "validating":
            digest = f"{self._rng.getrandbits(64):016x}"
            who = f" by {job.actor}" if job.actor else ""
            return [
                (f"{job.trigger} of {job.service} to {job.environment} requested{who}", info),
                (f"resolving image {image}", info),
                (f"image found: sha256:{digest}…", info),
                (f"deployment policy of {job.environment}: checks passed", info),
            ]
        if phase == "pushing":
            return [
                (f"rendering manifests of {job.service} for {job.environment}", info),
                (f"setting image to {image}", info),
                ("applying 3 resources (Deployment, Service, HorizontalPodAutoscaler)", info),
            ]
        if phase == "pushed":
            return [(f"change accepted; rollout of {job.service} started", info)]
        return self._rollout(job)

    def _rollout(self, job: DeployJob) -> list[tuple[str, LogLevel]]:
        replicas = self._rng.randint(2, 6)
        lines = [
            (f"rollout: {ready}/{replicas} new pods ready", LogLevel.INFO)
            for ready in range(1, replicas + 1)
        ]
        if self._rng.random() < 0.3:
            lines.insert(
                1, ("readiness probe failed once on a new pod; retrying", LogLevel.WARNING)
            )
        p95 = self._rng.randint(40, 180)
        lines.append((f"health checks passing; p95 latency {p95} ms", LogLevel.INFO))
        lines.append((f"rollout of {job.service} {job.version} complete", LogLevel.INFO))
        return lines


_PHASE_MESSAGES = {
    "validating": "checking {service} {version} can go to {environment}",
    "pushing": "applying {service} {version} to {environment}",
    "pushed": "{environment} accepted the change",
    "monitoring": "watching the rollout of {service} {version}",
}
