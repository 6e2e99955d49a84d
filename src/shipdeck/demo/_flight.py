"""A live deployment's script and the slots it runs in, for the traffic generator."""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import DeploymentEvent, Status
from .catalog import FAILURES, DemoRun, parse_version

PHASES: tuple[str, ...] = ("validating", "pushing", "monitoring")
"""The executor phases a live deployment reports (as `seeds/001` names them)."""

SUCCESS_CHANCE = 0.85

_RUN_ID = re.compile(r"^gh-(\d+)-(\d+)$")


@dataclass(frozen=True, slots=True)
class Step:
    """One row still to report: after `delay` seconds, this status (and phase, message)."""

    delay: float
    status: Status
    phase: str | None = None
    message: str | None = None


@dataclass(eq=False)
class Flight:
    """One logical deployment the generator is playing out, row by row."""

    run: DemoRun
    steps: deque[Step]
    last_at: datetime | None = None
    """`happened_at` of its latest row: the next one is never earlier."""

    @property
    def slot(self) -> tuple[str, str]:
        """The `(service, environment)` it deploys to."""
        return self.run.service, self.run.environment

    def stamp(self, now: datetime) -> datetime:
        """`now`, nudged past its previous row if the clock did not move."""
        if self.last_at is not None and now <= self.last_at:
            now = self.last_at + timedelta(milliseconds=1)
        self.last_at = now
        return now


def script(
    rng: random.Random,
    *,
    gate: bool = False,
    queued: bool = False,
    outcome: Status | None = None,
    note: str | None = None,
) -> deque[Step]:
    """The rows of a live deployment: maybe queued or gated, phases, then its outcome.

    Args:
        rng: the random source.
        gate: it waits for an approval (`waiting`) first.
        queued: it is reported `queued` first.
        outcome: `success` or `failure`; random (mostly success) if omitted.
        note: the message of its first `in-progress` row.
    """
    steps: deque[Step] = deque()
    if queued:
        steps.append(Step(0.0, Status.QUEUED))
    if gate:
        waiting = "Waiting for approval: release-managers"
        steps.append(Step(rng.uniform(1.0, 2.5) if queued else 0.0, Status.WAITING, None, waiting))
    start = rng.uniform(3.0, 8.0) if gate else rng.uniform(1.5, 4.0) if queued else 0.0
    if outcome is None:
        outcome = Status.SUCCESS if rng.random() < SUCCESS_CHANCE else Status.FAILURE
    phases = PHASES if outcome is Status.SUCCESS else PHASES[: rng.randint(1, len(PHASES))]
    for index, phase in enumerate(phases):
        delay = start if index == 0 else rng.uniform(1.0, 3.0)
        steps.append(Step(delay, Status.IN_PROGRESS, phase, note if index == 0 else None))
    message = rng.choice(FAILURES) if outcome is Status.FAILURE else None
    steps.append(Step(rng.uniform(1.5, 4.0), outcome, None, message))
    return steps


def finish_script(rng: random.Random) -> deque[Step]:
    """The rest of a deployment found running: it monitors a moment, then ends."""
    outcome = Status.SUCCESS if rng.random() < SUCCESS_CHANCE else Status.FAILURE
    message = rng.choice(FAILURES) if outcome is Status.FAILURE else None
    return deque(
        [
            Step(rng.uniform(0.3, 1.0), Status.IN_PROGRESS, "monitoring"),
            Step(rng.uniform(1.5, 3.5), outcome, None, message),
        ]
    )


def run_id(deployment_id: str) -> tuple[int, int] | None:
    """The `(run, attempt)` of a `gh-<run>-<attempt>` deployment id."""
    match = _RUN_ID.match(deployment_id)
    return None if match is None else (int(match[1]), int(match[2]))


@dataclass
class LiveSlot:
    """What the generator knows of one `(service, environment)` slot."""

    latest: DemoRun | None = None
    """The slot's current deployment."""
    status: Status | None = None
    """Its latest effective status."""
    good: DemoRun | None = None
    """Its latest successful deployment."""
    busy: Flight | None = None
    """The deployment running (or queued, or gated) there."""
    held: Flight | None = None
    """One deployment waiting for the slot (reported once it gets it)."""

    def observe(self, run: DemoRun, status: Status) -> None:
        """Take in a row reported for this slot."""
        if status in (Status.IN_PROGRESS, Status.SUCCESS, Status.FAILURE):
            self.latest, self.status = run, status
        if status is Status.SUCCESS:
            self.good = run

    def adopt(self, current: DeploymentEvent, last_successful: DeploymentEvent | None) -> None:
        """Take in the slot as the matrix shows it."""
        self.latest, self.status = DemoRun.from_event(current), current.status
        if current.status is Status.SUCCESS:
            self.good = self.latest
        elif last_successful is not None:
            self.good = DemoRun.from_event(last_successful)

    @property
    def version(self) -> tuple[int, int, int] | None:
        """The plain semver version deployed there, if any."""
        return None if self.latest is None else parse_version(self.latest.version)


@dataclass
class ServiceVersions:
    """The newest plain version of every service (new releases bump from it)."""

    newest: dict[str, str] = field(default_factory=dict)

    def see(self, service: str, version: str | None) -> None:
        """Remember `version` if it is newer than the service's newest."""
        parsed = parse_version(version)
        known = parse_version(self.newest.get(service))
        if version is not None and parsed is not None and (known is None or parsed > known):
            self.newest[service] = version
