"""The executor: runs queued deployments through their drivers, one per slot at a time.

Requests become `executions` rows (state `queued`) in the same transaction as their `queued`
row (see `decisions.ActionDecider`). For each slot with work the executor keeps one task that
claims the oldest queued run (`running` + an `in-progress` row, one transaction), runs the slot's
driver with a `Reporter` that appends phase rows and log lines, then appends the final row. On
start it fails what a crash left running and picks up what is still queued.

With several replicas on one database a claim is also a lease: the claiming replica is the
run's `owner` until `lease_until` and renews every third of `[cluster] lease_seconds`. Every
replica tends the queue as often: it ends runs whose owner stopped renewing (it died) as
`failure` naming that replica, and starts slots with queued work that no one is running
(the replica that accepted them may have died first). Claims are decided in the store's one
write transaction at a time, so each run is claimed once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from ..domain import LogLineIngest, Status, to_micros
from .config import (
    CommandDriverSpec,
    EngineConfig,
    GitopsDriverSpec,
    SimulateDriverSpec,
)
from .decisions import ActionDecider
from .drivers import (
    CommandDriver,
    DeployFailed,
    DeployJob,
    Driver,
    GitopsDriver,
    LogLevel,
    LogStream,
    Outcome,
    SimulateDriver,
)
from .rows import QUEUED, RUNNING, make_row
from .store import Committed, ExecutionRecord, Writes

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: engine restarted"
"""The message of a run a crash (or a stop) left in progress, ended at the next start."""

LOG_FLUSH_LINES = 500
"""A run's buffered log lines are stored when this many wait…"""
LOG_FLUSH_S = 0.05
"""…or this long after the first of them."""
STOP_GRACE_S = 15.0
"""How long closing waits for drivers to stop what they started."""

Commit = Callable[[Callable[[], Writes]], Awaitable[Committed]]
AppendLogs = Callable[[str, list[LogLineIngest]], Awaitable[object]]


def build_driver(spec: SimulateDriverSpec | CommandDriverSpec | GitopsDriverSpec) -> Driver:
    """The driver a `[drivers.NAME]` table describes."""
    if isinstance(spec, SimulateDriverSpec):
        return SimulateDriver(spec)
    if isinstance(spec, CommandDriverSpec):
        return CommandDriver(spec)
    return GitopsDriver(spec)


@dataclass(slots=True)
class _Run:
    execution: ExecutionRecord
    task: asyncio.Task[None] | None = None
    cancelled_by: str | None = None
    finishing: bool = False
    """Its driver is done and its outcome is being written: a cancel changes nothing now
    (stopping the task would lose the final row, and end the slot's worker with it)."""


class _RunReporter:
    """A driver's `Reporter`: phases become `in-progress` rows, lines are stored in batches."""

    def __init__(self, executor: Executor, execution: ExecutionRecord) -> None:
        self._executor = executor
        self._execution = execution
        self._lines: list[LogLineIngest] = []
        self._flusher: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self.current_phase: str | None = None
        """The phase the run is in (for the message of a cancelled run)."""

    async def phase(self, phase: str, message: str | None = None) -> None:
        self.current_phase = phase
        await self.flush()  # a phase's lines land before its successor's row
        row = make_row(
            self._execution,
            Status.IN_PROGRESS,
            self._executor.clock(),
            phase=phase,
            message=message,
        )
        executor = self._executor
        await executor.commit(
            lambda: executor.decider.decide_phase(self._execution, row, executor.replica)
        )

    async def log(
        self,
        message: str,
        *,
        stream: LogStream = LogStream.SYSTEM,
        level: LogLevel = LogLevel.INFO,
    ) -> None:
        self._lines.append(
            LogLineIngest.model_construct(
                message=message, level=level.value, stream=stream.value, at=self._executor.clock()
            )
        )
        if len(self._lines) >= LOG_FLUSH_LINES:
            await self.flush()
        elif self._flusher is None:
            loop = asyncio.get_running_loop()
            self._flusher = loop.call_later(LOG_FLUSH_S, self._flush_soon)

    def _flush_soon(self) -> None:
        self._flusher = None
        if self._executor.closing:
            return  # the run is being stopped; its lines are flushed by whoever ends it
        if self._lines and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception:  # the store failed: the run's end reports the problem
            log.exception("log lines of %s could not be stored", self._execution.deployment_id)

    async def flush(self) -> None:
        """Store every buffered line now."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        while self._lines:
            lines, self._lines = self._lines, []
            await self._executor.append_logs(self._execution.deployment_id, lines)


class Executor:
    """Runs the engine's queued deployments (see the module docstring)."""

    def __init__(
        self,
        config: EngineConfig,
        decider: ActionDecider,
        commit: Commit,
        append_logs: AppendLogs,
        *,
        replica: str = "embedded",
    ) -> None:
        self._config = config
        self.replica = replica
        """Who owns the runs this executor claims."""
        self._lease = config.cluster.lease_seconds
        self._tending: asyncio.Task[None] | None = None
        self._decider = decider
        self.clock = decider.clock
        """The engine's clock (the decider's)."""
        self.commit = commit
        self.append_logs = append_logs
        self._drivers: dict[str, Driver] = {}
        self._slots: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._runs: dict[str, _Run] = {}
        self._closing = False

    def driver_name(self, service: str, environment: str) -> str | None:
        """The configured driver of a slot, if any."""
        return self._config.executor.driver_for(service, environment)

    def use_driver(self, name: str, driver: Driver) -> None:
        """Run the slots configured for driver `name` with `driver` (tests, embedding)."""
        self._drivers[name] = driver

    def _driver(self, name: str) -> Driver:
        if name not in self._drivers:
            self._drivers[name] = build_driver(self._config.drivers[name])
        return self._drivers[name]

    @property
    def decider(self) -> ActionDecider:
        """Decides claims, phases and ends inside the store's write transaction."""
        return self._decider

    @property
    def closing(self) -> bool:
        """Whether the executor is stopping."""
        return self._closing

    @property
    def running(self) -> list[str]:
        """Deployments running in this engine now."""
        return [d for d, run in self._runs.items() if run.task is not None]

    def _lease_until(self) -> int:
        return to_micros(self.clock() + timedelta(seconds=self._lease))

    async def start(self) -> list[ExecutionRecord]:
        """Fail what a crash left running, then start every slot that has queued work."""
        done = await self.commit(lambda: self._decider.decide_recover(INTERRUPTED, self.replica))
        interrupted: list[ExecutionRecord] = list(done.value or [])  # type: ignore[call-overload]
        for execution in interrupted:
            log.warning("deployment %s was interrupted by a restart", execution.deployment_id)
        self._kick_idle(await self._active())
        if self._tending is None and not self._closing:
            self._tending = asyncio.get_running_loop().create_task(self._tend_forever())
        return interrupted

    async def _active(self) -> list[ExecutionRecord]:
        found = await self.commit(
            lambda: Writes(value=self._decider.store.executions(states=[QUEUED, RUNNING]))
        )
        value: list[ExecutionRecord] = found.value or []  # type: ignore[assignment]
        return list(value)

    def _kick_idle(self, active: list[ExecutionRecord]) -> None:
        """Start slots with queued work and nothing running (the accepting replica died)."""
        busy = {(e.service, e.environment) for e in active if e.state == RUNNING}
        for e in active:
            if e.state == QUEUED and (e.service, e.environment) not in busy:
                self.kick(e.service, e.environment)

    async def _tend_forever(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._lease / 3)
            try:
                await self.tend()
            except Exception as exc:  # the store is away: the next round tries again
                log.warning("could not tend the run queue (retrying): %s", exc)

    async def tend(self) -> list[ExecutionRecord]:
        """Renew this replica's leases, end runs whose replica is gone, start idle slots."""
        live = set(self.running)
        if live:
            until = self._lease_until()
            renewed = await self.commit(
                lambda: self._decider.decide_renew(self.replica, sorted(live), until)
            )
            # A run ended elsewhere meanwhile (declared lost while this replica stalled):
            # its driver stops here too.
            kept: set[str] = renewed.value or set()  # type: ignore[assignment]
            for deployment_id in live - kept:
                self.cancel(deployment_id, "another replica (this replica's lease lapsed)")
        active = await self._active()
        ended: list[ExecutionRecord] = []
        now = to_micros(self.clock())
        stale = [
            e
            for e in active
            if e.state == RUNNING
            and e.deployment_id not in live
            and (e.owner is None or (e.lease_until or 0) < now)
        ]
        if stale:
            done = await self.commit(
                lambda: self._decider.decide_recover(INTERRUPTED, self.replica, live)
            )
            ended = list(done.value or [])  # type: ignore[call-overload]
            for execution in ended:
                log.warning("ended %s: %s", execution.deployment_id, execution.owner)
            active = await self._active()
        self._kick_idle(active)
        return ended

    def kick(self, service: str, environment: str) -> None:
        """Make sure the slot's queue is being worked on."""
        if self._closing:
            return
        key = (service, environment)
        task = self._slots.get(key)
        if task is None or task.done():
            self._slots[key] = asyncio.get_running_loop().create_task(
                self._work_slot(service, environment), name=f"shipdeck slot {service}/{environment}"
            )

    async def _work_slot(self, service: str, environment: str) -> None:
        while not self._closing:
            name = self.driver_name(service, environment)
            note = f"started by shipdeck (driver {name})" if name else "started by shipdeck"
            claimed = await self.commit(
                functools.partial(
                    self._decider.decide_claim,
                    service,
                    environment,
                    note,
                    self.replica,
                    self._lease_until(),
                )
            )
            execution = claimed.value
            if not isinstance(execution, ExecutionRecord):
                return
            run = _Run(execution)
            self._runs[execution.deployment_id] = run
            run.task = asyncio.get_running_loop().create_task(self._execute(run, name))
            try:
                await asyncio.shield(run.task)
            except asyncio.CancelledError:
                if self._closing:
                    return
                raise
            except Exception:  # the store failed: the next start ends the run
                log.exception("the run of %s could not be recorded", execution.deployment_id)
                return
            finally:
                if run.task.done():
                    self._runs.pop(execution.deployment_id, None)

    async def _execute(self, run: _Run, name: str | None) -> None:
        execution = run.execution
        reporter = _RunReporter(self, execution)
        job = DeployJob(
            deployment_id=execution.deployment_id,
            service=execution.service,
            environment=execution.environment,
            version=execution.version,
            actor=execution.actor,
            trigger=execution.action,
        )
        status, message = Status.FAILURE, ""
        try:
            if name is None:
                raise DeployFailed(
                    f"no driver runs {execution.service} in {execution.environment}; "
                    "configure [executor] in the engine's TOML file"
                )
            outcome: Outcome = await self._driver(name).run(job, reporter)
            status = Status.SUCCESS if outcome.success else Status.FAILURE
            message = outcome.message
        except asyncio.CancelledError:
            if self._closing or run.cancelled_by is None:
                raise  # stopping: the next start ends it as interrupted
            # It ran: by the contract a run that ended unsuccessfully is a failure (a
            # `cancelled` row means "ended without running" and would leave the slot
            # showing in-progress for good).
            where = f" during {reporter.current_phase}" if reporter.current_phase else ""
            status = Status.FAILURE
            message = (
                f"cancelled by {run.cancelled_by}{where}: stopped before completing; "
                "deploy or roll back to settle the slot"
            )
        except DeployFailed as exc:
            message = str(exc)
        except Exception as exc:
            log.exception("driver %s failed on %s", name, execution.deployment_id)
            message = f"the {name} driver failed unexpectedly: {type(exc).__name__}: {exc}"
            run.finishing = True  # a cancel must not cut the line below, nor the final row
            with contextlib.suppress(Exception):
                await reporter.log(message, level=LogLevel.ERROR)
        run.finishing = True
        await reporter.flush()
        await self.commit(lambda: self._decider.decide_finish(execution, status, message))

    def cancel(self, deployment_id: str, actor: str) -> bool:
        """Stop a run of this engine; `False` when it is not running here.

        A run whose driver has finished is left to write its own outcome (`True`: it ends
        here). The cancel came too late, or is not one at all: a catch-up read can find this
        engine's own final row before its commit answers, and take it for another replica's
        cancel (`Engine._row_elsewhere`)."""
        run = self._runs.get(deployment_id)
        if run is None or run.task is None or run.task.done():
            return False
        if run.finishing:
            return True
        run.cancelled_by = actor
        run.task.cancel()
        return True

    async def close(self) -> None:
        """Stop every run (drivers stop what they started); the next start fails them."""
        self._closing = True
        if self._tending is not None:
            self._tending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tending
            self._tending = None
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        tasks += list(self._slots.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        self._slots.clear()
        self._runs.clear()
