"""Live simulated CI traffic, reported through `Engine.ingest` as a CI fetcher would."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from functools import partial

from ..domain import DeploymentEventIngest, MatrixSlot, Status, utc_now
from ..engine import Engine
from ._agenda import Agenda
from ._flight import Flight, LiveSlot, ServiceVersions, finish_script, run_id, script
from .catalog import (
    ENVIRONMENTS,
    FIRST_RUN,
    PROGRESS_REPORTER,
    RELEASE_MANAGERS,
    SERVICES,
    DemoCatalog,
    DemoRun,
    parse_version,
    release_of,
)

logger = logging.getLogger(__name__)

ROWS_PER_SPAWN = 7.0
"""Rows one spawned deployment produces on average, with the promotions and fixes it leads to."""
PROMOTE_CHANCE = (0.55, 0.4, 0.3)
"""Chance a success is promoted on, by the index of the environment it would go to (1, 2, 3…)."""
QUEUED_CHANCE = 0.2
PREVIEW_CHANCE = 0.1


class TrafficGenerator:
    """Simulated CI traffic: deployments start, report phases, end, get promoted or fixed.

    Every row goes through `Engine.ingest`, stamped with `clock()` when it is reported. One
    deployment runs per slot at a time; a few run at once. On start it reads the matrix and
    finishes what it finds running, and starts what it finds queued, pending or waiting, so
    a restarted generator leaves nothing in progress for good. It only stops by being
    cancelled (`CancelledError`, nothing else); a row the engine refuses is logged and skipped.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        rate: float = 1.0,
        seed: int | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_in_flight: int | None = None,
        gated: Collection[str] = (),
    ) -> None:
        """Prepare the generator; nothing happens before `run()`.

        Args:
            engine: the engine to report to.
            rate: average rows per second.
            seed: the random seed (`None`: different traffic every time).
            clock: the time of each row (aware, UTC).
            sleep: waits a number of seconds of that clock (tests pass a fake).
            max_in_flight: deployments at once; by default a few, more for a higher `rate`.
            gated: environments CI does not promote into (promotions there ask shipdeck for
                approvals instead: the demo's colleagues do that).
        """
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.engine = engine
        self.rate = rate
        self.catalog = DemoCatalog(seed)
        self.max_in_flight = max_in_flight or max(4, math.ceil(4 * rate))
        self.emitted = 0
        """Rows ingested so far."""
        self._rng = self.catalog.rng
        self._clock = clock
        self._sleep = sleep
        self._agenda = Agenda(clock)
        self._environments = list(ENVIRONMENTS)
        self._slots: dict[tuple[str, str], LiveSlot] = {}
        self._versions = ServiceVersions({s.name: s.first_version for s in SERVICES})
        self._weights = {service.name: service.releases_per_week for service in SERVICES}
        self._flying: set[Flight] = set()
        self._run_number = FIRST_RUN
        self._gated = frozenset(gated)

    async def run(self) -> None:
        """Report traffic until cancelled; the first row comes within a second."""
        await self._load()
        self._agenda.after(self._rng.uniform(0.1, 0.8), partial(self._spawn, first=True))
        while True:  # the spawner always plans its next turn: the agenda is never empty
            wait, action = self._agenda.pop()
            if wait > 0:
                await self._sleep(wait)
            await action()

    # -- bookkeeping -----------------------------------------------------------------

    def _slot(self, service: str, environment: str) -> LiveSlot:
        return self._slots.setdefault((service, environment), LiveSlot())

    def _next_run(self) -> int:
        self._run_number += self._rng.randint(1, 4)
        return self._run_number

    def _downstream(self, environment: str) -> str | None:
        if environment not in self._environments:
            return None
        index = self._environments.index(environment) + 1
        return self._environments[index] if index < len(self._environments) else None

    async def _emit(self, row: DeploymentEventIngest) -> None:
        try:
            await self.engine.ingest(row, progress_reporter=PROGRESS_REPORTER)
        except Exception:  # a live demo keeps going: the next row may well be accepted
            logger.warning("demo traffic: a row was not ingested", exc_info=True)
        else:
            self.emitted += 1

    # -- picking up where the store is -----------------------------------------------

    async def _load(self) -> None:
        matrix = await self.engine.matrix.get()
        if matrix.environments:
            self._environments = list(matrix.environments)
        for row in matrix.rows:
            self._weights.setdefault(row.service, 3.0)
            for environment, slot in row.slots.items():
                self._adopt(row.service, environment, slot)
        page = await self.engine.deployments.page(limit=500)
        numbers = [ids[0] for item in page.items if (ids := run_id(item.deployment_id))]
        self._run_number = max(numbers, default=FIRST_RUN + self._rng.randrange(2_000))

    def _adopt(self, service: str, environment: str, slot: MatrixSlot) -> None:
        live = self._slot(service, environment)
        live.adopt(slot.current, slot.last_successful)
        self._versions.see(service, slot.current.version)
        if slot.current.status is Status.IN_PROGRESS:
            running = Flight(DemoRun.from_event(slot.current), finish_script(self._rng))
            running.last_at = slot.current.happened_at
            self._occupy(live, running, running.steps[0].delay)
        if slot.next is not None:
            self._versions.see(service, slot.next.version)
            upcoming = Flight(DemoRun.from_event(slot.next), script(self._rng))
            upcoming.last_at = slot.next.happened_at
            if live.busy is None:
                self._occupy(live, upcoming, self._rng.uniform(1.0, 5.0))
            else:
                live.held = upcoming
                self._flying.add(upcoming)

    # -- deployments -----------------------------------------------------------------

    def _occupy(self, live: LiveSlot, flight: Flight, delay: float) -> None:
        live.busy = flight
        self._flying.add(flight)
        self._agenda.after(delay, partial(self._step, flight))

    def _enter(
        self,
        run: DemoRun,
        *,
        gate: bool = False,
        outcome: Status | None = None,
        note: str | None = None,
    ) -> None:
        """Start a deployment, or hold it (reported `queued` later) while its slot is busy."""
        live = self._slot(run.service, run.environment)
        if live.held is not None:
            return  # one waiting deployment per slot is plenty
        queued = live.busy is not None or self._rng.random() < QUEUED_CHANCE
        steps = script(self._rng, gate=gate, queued=queued, outcome=outcome, note=note)
        flight = Flight(run, steps)
        if live.busy is None:
            self._occupy(live, flight, 0.0)
        else:
            live.held = flight
            self._flying.add(flight)

    async def _step(self, flight: Flight) -> None:
        step = flight.steps.popleft()
        at = flight.stamp(self._clock())
        await self._emit(flight.run.row(step.status, at, phase=step.phase, message=step.message))
        live = self._slot(*flight.slot)
        live.observe(flight.run, step.status)
        if flight.steps:
            self._agenda.after(flight.steps[0].delay, partial(self._step, flight))
            return
        self._flying.discard(flight)
        live.busy = None
        if live.held is not None:
            held, live.held = live.held, None
            self._occupy(live, held, self._rng.uniform(0.5, 1.5))
        if step.status is Status.SUCCESS:
            self._after_success(flight.run)
        else:
            self._after_failure(flight.run)

    def _after_success(self, run: DemoRun) -> None:
        target = self._downstream(run.environment)
        if target is None or parse_version(run.version) is None:
            return
        index = min(self._environments.index(target), len(PROMOTE_CHANCE)) - 1
        if self._rng.random() < PROMOTE_CHANCE[index]:
            self._agenda.after(self._rng.uniform(1.0, 4.0), partial(self._promote, run, target))

    def _after_failure(self, run: DemoRun) -> None:
        roll = self._rng.random()
        late = run.environment in self._environments[2:]  # uat, prod: roll back first
        if late and roll < 0.5:
            self._agenda.after(self._rng.uniform(2.0, 5.0), partial(self._rollback, run))
        elif roll < 0.75:
            self._agenda.after(self._rng.uniform(2.0, 5.0), partial(self._rerun, run))
        else:
            note = f"Fix forward: {run.version} failed in {run.environment}"
            self._agenda.after(
                self._rng.uniform(3.0, 8.0), partial(self._release, run.service, note)
            )

    # -- what CI starts --------------------------------------------------------------

    async def _spawn(self, first: bool = False) -> None:
        self._agenda.after(self._rng.expovariate(self.rate / ROWS_PER_SPAWN), self._spawn)
        if not first and len(self._flying) >= self.max_in_flight:
            return
        stale = self._stale_slots()
        if stale and self._rng.random() < 0.35:
            await self._promote(*self._rng.choice(stale))
        else:
            names = list(self._weights)
            service = self._rng.choices(names, [self._weights[n] for n in names])[0]
            await self._release(service)

    def _stale_slots(self) -> list[tuple[DemoRun, str]]:
        """Successful slots whose downstream environment runs an older version."""
        found: list[tuple[DemoRun, str]] = []
        for (service, environment), live in list(self._slots.items()):
            target = self._downstream(environment)
            if target is None or live.status is not Status.SUCCESS or live.latest is None:
                continue
            if target in self._gated:
                continue
            downstream = self._slot(service, target)
            ours, theirs = live.version, downstream.version
            if ours is not None and (theirs is None or theirs < ours) and downstream.busy is None:
                found.append((live.latest, target))
        return found

    async def _release(self, service: str, note: str | None = None) -> None:
        after = self._versions.newest.get(service, "0.1.0")
        if note is None and self._rng.random() < PREVIEW_CHANCE:
            release = self.catalog.preview_release(service, after)
        else:
            release = self.catalog.next_release(service, after)
            self._versions.see(service, release.version)
        self._enter(self.catalog.run(release, self._environments[0], self._next_run()), note=note)

    async def _promote(self, upstream: DemoRun, target: str) -> None:
        if target in self._gated:
            return
        ours = parse_version(upstream.version)
        theirs = self._slot(upstream.service, target).version
        if ours is None or (theirs is not None and theirs >= ours):
            return
        if len(self._flying) >= self.max_in_flight + 2:
            return
        parents = (upstream.deployment_id,)
        run = self.catalog.run(release_of(upstream), target, self._next_run(), parents=parents)
        self._enter(run, gate=target == self._environments[-1])

    async def _rollback(self, failed: DemoRun) -> None:
        good = self._slot(failed.service, failed.environment).good
        if good is None or good.version == failed.version:
            return
        actor = self._rng.choice(RELEASE_MANAGERS)
        run = self.catalog.run(release_of(good), failed.environment, self._next_run(), actor=actor)
        note = f"Rollback to {good.version}: {failed.version} failed"
        self._enter(run, outcome=Status.SUCCESS, note=note)

    async def _rerun(self, failed: DemoRun) -> None:
        number, attempt = run_id(failed.deployment_id) or (self._next_run(), 0)
        actor = self._rng.choice(RELEASE_MANAGERS)
        run = self.catalog.run(
            release_of(failed),
            failed.environment,
            number,
            attempt=attempt + 1,
            parents=failed.parents,
            actor=actor,
        )
        self._enter(run, note=f"Re-run of attempt {attempt}" if attempt else None)
