"""The executor and the actions: queueing, supersede, cancel, retry, promote, rollback,
idempotency and restart recovery, on a real store."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipdeck.domain import DeploymentEvent, DeploymentEventIngest, Role, Status
from shipdeck.engine import ActionRefused, DeploymentFilters, Engine, EngineConfig, Forbidden
from shipdeck.engine.drivers import DeployJob, LogLevel, Outcome, Reporter
from shipdeck.engine.executor import LOG_FLUSH_LINES
from shipdeck.engine.keys import Principal

WAIT = 10.0
ALICE = Principal("alice", Role.DEPLOYER, "k1")
BOB = Principal("bob", Role.ADMIN, "k2")
BASE = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)


class GateDriver:
    """A driver that reports a phase and a line, then waits for the test to open its gate."""

    name = "gate"

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.outcome = Outcome(True, "done")
        self.cancelled: list[str] = []
        self.returned: set[str] = set()
        """Versions whose run returned its outcome."""

    def _event(self, table: dict[str, asyncio.Event], version: str) -> asyncio.Event:
        return table.setdefault(version, asyncio.Event())

    async def run(self, job: DeployJob, report: Reporter) -> Outcome:
        await report.phase("validating", f"checking {job.version}")
        await report.log(f"hello from {job.version}")
        self._event(self.started, job.version).set()
        try:
            await self._event(self.gates, job.version).wait()
        except asyncio.CancelledError:
            self.cancelled.append(job.version)
            raise
        await report.phase("pushing")
        await report.log("pushed", level=LogLevel.WARNING)
        self.returned.add(job.version)
        return self.outcome

    async def wait_started(self, version: str) -> None:
        await asyncio.wait_for(self._event(self.started, version).wait(), WAIT)

    def release(self, version: str) -> None:
        self._event(self.gates, version).set()


def config(**extra: Any) -> EngineConfig:
    return EngineConfig(executor={"driver": "simulate"}, **extra)


@pytest.fixture
async def gated(db_url: str) -> AsyncIterator[tuple[Engine, GateDriver]]:
    engine = await Engine.open(db_url, config())
    gate = GateDriver()
    engine.executor.use_driver("simulate", gate)
    try:
        yield engine, gate
    finally:
        await engine.close()


async def rows_of(engine: Engine, deployment_id: str) -> list[DeploymentEvent]:
    """The deployment's rows, oldest first."""
    page = await engine.deployments.page(DeploymentFilters(deployment_id=deployment_id), limit=500)
    return list(reversed(page.items))


async def wait_status(engine: Engine, deployment_id: str, status: Status) -> list[DeploymentEvent]:
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        rows = await rows_of(engine, deployment_id)
        if rows and rows[-1].status is status:
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{deployment_id}: {[r.status for r in rows]}, wanted {status}")
        await asyncio.sleep(0.01)


async def report(
    engine: Engine, deployment_id: str, env: str, status: str, version: str, minutes: int
) -> None:
    body = {
        "deployment_id": deployment_id,
        "service": "api",
        "environment": env,
        "status": status,
        "version": version,
        "happened_at": (BASE + timedelta(minutes=minutes)).isoformat(),
    }
    await engine.ingest(DeploymentEventIngest.model_validate_json(json.dumps(body)))


async def test_deploy_runs_through_phases_and_logs(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    result = await engine.actions.deploy(ALICE, "api", "prod", "1.2.3")
    assert result.status == "queued" and result.action == "deploy" and result.superseded == []
    await gate.wait_started("1.2.3")
    gate.release("1.2.3")
    rows = await wait_status(engine, result.deployment_id, Status.SUCCESS)
    assert [(r.status, r.phase) for r in rows] == [
        (Status.QUEUED, None),
        (Status.IN_PROGRESS, None),
        (Status.IN_PROGRESS, "validating"),
        (Status.IN_PROGRESS, "pushing"),
        (Status.SUCCESS, None),
    ]
    assert {r.trigger for r in rows} == {"deploy"}
    assert {r.actor for r in rows} == {"alice"}
    assert {r.progress_reporter for r in rows} == {"shipdeck"}
    assert rows[-1].message == "done"
    page = await engine.logs(result.deployment_id)
    assert [(line.message, line.level) for line in page.items] == [
        ("hello from 1.2.3", "info"),
        ("pushed", "warning"),
    ]
    assert await engine.deployments.execution_state(result.deployment_id) == "done"


async def test_one_run_per_slot_newer_queued_supersedes(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    first = await engine.actions.deploy(ALICE, "api", "prod", "1")
    await gate.wait_started("1")
    second = await engine.actions.deploy(ALICE, "api", "prod", "2")
    other_slot = await engine.actions.deploy(ALICE, "api", "dev", "9")
    await gate.wait_started("9")  # another slot runs meanwhile
    third = await engine.actions.deploy(BOB, "api", "prod", "3")
    assert third.superseded == [second.deployment_id]
    rows = await wait_status(engine, second.deployment_id, Status.CANCELLED)
    assert rows[-1].message == f"superseded by {third.deployment_id} (deploy of 3 by bob)"
    assert (await rows_of(engine, third.deployment_id))[-1].status is Status.QUEUED
    matrix = await engine.matrix.get()
    slot = next(r for r in matrix.rows if r.service == "api").slots["prod"]
    assert slot.current.deployment_id == first.deployment_id
    assert slot.next is not None and slot.next.deployment_id == third.deployment_id
    gate.release("1")
    await wait_status(engine, first.deployment_id, Status.SUCCESS)
    await gate.wait_started("3")
    gate.release("3")
    gate.release("9")
    await wait_status(engine, third.deployment_id, Status.SUCCESS)
    await wait_status(engine, other_slot.deployment_id, Status.SUCCESS)
    assert "2" not in gate.started


async def test_cancel_queued_and_running(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    running = await engine.actions.deploy(ALICE, "api", "prod", "1")
    await gate.wait_started("1")
    queued = await engine.actions.deploy(ALICE, "api", "prod", "2")
    answer = await engine.actions.cancel(BOB, queued.deployment_id)
    assert answer.status == "cancelled" and answer.deployment_id == queued.deployment_id
    rows = await rows_of(engine, queued.deployment_id)
    assert rows[-1].status is Status.CANCELLED and rows[-1].message == "cancelled by bob"
    answer = await engine.actions.cancel(BOB, running.deployment_id)
    assert answer.status == "cancelling"
    # It ran: it ends as a failure (a `cancelled` row would leave the slot in progress).
    rows = await wait_status(engine, running.deployment_id, Status.FAILURE)
    assert rows[-1].message == (
        "cancelled by bob during validating: stopped before completing; deploy or roll back "
        "to settle the slot"
    )
    matrix = await engine.matrix.get()
    slot = next(r for r in matrix.rows if r.service == "api").slots["prod"]
    assert slot.current.status is Status.FAILURE
    assert gate.cancelled == ["1"]
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.cancel(BOB, running.deployment_id)
    assert refused.value.kind == "already-finished" and refused.value.status == 409
    assert "already ended failure" in refused.value.detail


class Hold:
    """Holds back the first call of an async function that `when` picks, until `resume`."""

    def __init__(self, call: Callable[..., Awaitable[Any]], when: Callable[..., bool]) -> None:
        self._call, self._when = call, when
        self.held, self.resume = asyncio.Event(), asyncio.Event()

    async def __call__(self, *args: Any) -> Any:
        if not self.held.is_set() and self._when(*args):
            self.held.set()
            await self.resume.wait()
        return await self._call(*args)

    async def cancel_meanwhile(self, engine: Engine, deployment_id: str) -> None:
        """Once the call is held, cancel the run (too late to stop it); then let it go."""
        await asyncio.wait_for(self.held.wait(), WAIT)
        answer = await engine.actions.cancel(BOB, deployment_id)
        assert answer.status == "cancelling"
        self.resume.set()


async def test_a_cancel_while_the_outcome_is_written_changes_nothing(db_url: str) -> None:
    """The driver returned and its outcome waits to be committed when a cancel comes: the
    outcome is written as the driver gave it, and the slot's next run starts."""
    engine = await Engine.open(db_url, config(cluster={"lease_seconds": 600}))  # no tending
    gate = GateDriver()
    engine.executor.use_driver("simulate", gate)
    hold = Hold(engine.executor.commit, lambda _: "1" in gate.returned)  # its last commit
    engine.executor.commit = hold
    try:
        first = await engine.actions.deploy(ALICE, "api", "prod", "1")
        await gate.wait_started("1")
        second = await engine.actions.deploy(ALICE, "api", "prod", "2")
        gate.release("1")
        await hold.cancel_meanwhile(engine, first.deployment_id)
        rows = await wait_status(engine, first.deployment_id, Status.SUCCESS)
        assert rows[-1].message == "done"
        assert [r.status for r in rows].count(Status.SUCCESS) == 1
        await gate.wait_started("2")  # the slot's worker goes on
        gate.release("2")
        await wait_status(engine, second.deployment_id, Status.SUCCESS)
    finally:
        hold.resume.set()
        await engine.close()


class CrashingDriver:
    """Logs one line short of a flush, then fails unexpectedly: the engine's line about
    the failure fills the buffer, so writing it waits for the store."""

    name = "crash"

    async def run(self, job: DeployJob, report: Reporter) -> Outcome:
        for n in range(LOG_FLUSH_LINES - 1):
            await report.log(f"line {n}")
        raise RuntimeError("boom")


async def test_a_cancel_while_a_crashed_run_logs_why_changes_nothing(db_url: str) -> None:
    """A cancel while the engine writes why a driver crashed: the line and the final row
    are written all the same."""
    engine = await Engine.open(db_url, config(cluster={"lease_seconds": 600}))
    engine.executor.use_driver("simulate", CrashingDriver())
    hold = Hold(
        engine.executor.append_logs, lambda _, lines: any(ln.level == "error" for ln in lines)
    )
    engine.executor.append_logs = hold
    try:
        run = await engine.actions.deploy(ALICE, "api", "prod", "1")
        await hold.cancel_meanwhile(engine, run.deployment_id)
        rows = await wait_status(engine, run.deployment_id, Status.FAILURE)
        assert rows[-1].message == "the simulate driver failed unexpectedly: RuntimeError: boom"
        page = await engine.logs(run.deployment_id, after=LOG_FLUSH_LINES - 10)
        assert page.items[-1].message == rows[-1].message and page.items[-1].level == "error"
    finally:
        hold.resume.set()
        await engine.close()


async def test_its_own_final_row_read_back_does_not_cancel_a_run(db_url: str) -> None:
    """A catch-up read (as another replica's notice starts) finds a run's final row, this
    engine's own, before the row's commit answers: not a cancel from elsewhere. The run
    ends once, and the slot's next run starts."""
    engine = await Engine.open(db_url, config(cluster={"lease_seconds": 600}))
    gate = GateDriver()
    engine.executor.use_driver("simulate", gate)
    loop = asyncio.get_running_loop()
    store_commit = engine.store.commit
    read_back: list[int] = []
    caught_up = threading.Event()
    """Set once the read published the final row, before its commit answered."""

    def commit_then_catch_up(*args: Any) -> Any:  # on the writer thread
        committed = store_commit(*args)
        final = [
            e.seq
            for e in committed.events
            if e.type == "deployment" and json.loads(e.data)["status"] == "success"
        ]
        if final and not read_back:
            read_back.append(final[0])
            loop.call_soon_threadsafe(engine.catch_up_elsewhere)
            deadline = time.monotonic() + WAIT
            while engine.head < final[0] and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)  # the read's rows are handled in the step that published them
            if engine.head >= final[0]:
                caught_up.set()
        return committed

    engine.store.commit = commit_then_catch_up  # type: ignore[method-assign]
    try:
        first = await engine.actions.deploy(ALICE, "api", "prod", "1")
        await gate.wait_started("1")
        second = await engine.actions.deploy(ALICE, "api", "prod", "2")
        gate.release("1")
        rows = await wait_status(engine, first.deployment_id, Status.SUCCESS)
        assert await asyncio.to_thread(caught_up.wait, WAIT), "the read did not find the row"
        assert [r.status for r in rows].count(Status.SUCCESS) == 1
        await gate.wait_started("2")
        gate.release("2")
        await wait_status(engine, second.deployment_id, Status.SUCCESS)
    finally:
        await engine.close()


async def test_cancel_refusals(gated: tuple[Engine, GateDriver]) -> None:
    engine, _ = gated
    await report(engine, "ci-1", "dev", "in-progress", "1", 0)
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.cancel(ALICE, "ci-1")
    assert refused.value.kind == "not-executable"
    assert "reported by CI" in refused.value.detail
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.cancel(ALICE, "nope")
    assert (refused.value.kind, refused.value.status) == ("not-found", 404)


async def test_retry_runs_the_version_again(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    await report(engine, "ci-1", "qa", "failure", "4.0", 0)
    result = await engine.actions.retry(ALICE, "ci-1")
    assert (result.environment, result.version, result.action) == ("qa", "4.0", "retry")
    rows = await rows_of(engine, result.deployment_id)
    assert rows[0].parent_deployments == ["ci-1"] and rows[0].trigger == "retry"
    await gate.wait_started("4.0")
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.retry(ALICE, result.deployment_id)
    assert refused.value.kind == "not-finished"
    gate.release("4.0")
    await wait_status(engine, result.deployment_id, Status.SUCCESS)


async def test_promote_to_the_next_environment(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    await report(engine, "ci-1", "dev", "success", "1.0", 0)
    await report(engine, "ci-2", "qa", "success", "0.9", 0)
    await report(engine, "ci-3", "prod", "failure", "0.9", 0)
    plan = await engine.actions.promotion_plan("api", "dev")
    assert (plan.to_environment, plan.version) == ("qa", "1.0")
    assert "no approval required" in plan.policy.summary
    result = await engine.actions.promote(ALICE, "api", "dev")
    assert (result.environment, result.version, result.action) == ("qa", "1.0", "promote")
    rows = await rows_of(engine, result.deployment_id)
    assert rows[0].parent_deployments == ["ci-1"] and rows[0].trigger == "promote"
    gate.release("1.0")
    await wait_status(engine, result.deployment_id, Status.SUCCESS)
    explicit = await engine.actions.promote(ALICE, "api", "qa", "prod")
    assert explicit.environment == "prod"
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.promote(ALICE, "api", "prod")
    assert refused.value.kind == "last-environment"
    await report(engine, "ci-4", "uat", "failure", "1.1", 1)
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.promote(ALICE, "api", "uat")
    assert refused.value.kind == "nothing-to-promote"
    assert "failure (1.1), not a success" in refused.value.detail
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.promote(ALICE, "api", "mars")
    assert (refused.value.kind, refused.value.status) == ("not-found", 404)


async def test_rollback_targets(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    await report(engine, "ci-1", "prod", "success", "1.0", 0)
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.rollback(ALICE, "ci-1")
    assert refused.value.kind == "nothing-to-roll-back"
    await report(engine, "ci-2", "prod", "success", "1.1", 1)
    await report(engine, "ci-3", "prod", "failure", "1.2", 2)
    result = await engine.actions.rollback(ALICE, "ci-3")  # the slot's last success is 1.1
    assert (result.version, result.environment) == ("1.1", "prod")
    gate.release("1.1")
    await wait_status(engine, result.deployment_id, Status.SUCCESS)
    # Now 1.1 is current again: the default target skips it.
    again = await engine.actions.rollback(ALICE, result.deployment_id)
    assert again.version == "1.0"
    assert (await rows_of(engine, again.deployment_id))[0].parent_deployments == [
        result.deployment_id
    ]
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.rollback(ALICE, "ci-3", "7.7")
    assert refused.value.kind == "unknown-version" and "never succeeded" in refused.value.detail
    gate.release("1.0")


async def test_idempotency_key(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    first = await engine.actions.deploy(ALICE, "api", "prod", "1", idempotency_key="k-1")
    again = await engine.actions.deploy(ALICE, "api", "prod", "1", idempotency_key="k-1")
    assert again == first
    page = await engine.deployments.page(DeploymentFilters(service="api"))
    assert len({row.deployment_id for row in page.items}) == 1
    with pytest.raises(ActionRefused) as refused:
        await engine.actions.deploy(ALICE, "api", "prod", "2", idempotency_key="k-1")
    assert (refused.value.kind, refused.value.status) == ("idempotency-key-reused", 422)
    # Keys belong to a principal: bob's k-1 is another request.
    other = await engine.actions.deploy(BOB, "api", "prod", "1", idempotency_key="k-1")
    assert other.deployment_id != first.deployment_id
    gate.release("1")


async def test_concurrent_requests_with_one_key_act_once(gated: tuple[Engine, GateDriver]) -> None:
    engine, gate = gated
    answers = await asyncio.gather(
        *(
            engine.actions.deploy(ALICE, "api", "prod", "1", idempotency_key="same")
            for _ in range(20)
        )
    )
    assert len({a.deployment_id for a in answers}) == 1
    gate.release("1")


async def test_roles_and_missing_driver(db_url: str) -> None:
    engine = await Engine.open(db_url, EngineConfig())  # no [executor] driver
    try:
        with pytest.raises(Forbidden):
            await engine.actions.deploy(Principal("v", Role.REPORTER), "api", "prod", "1")
        with pytest.raises(ActionRefused) as refused:
            await engine.actions.deploy(ALICE, "api", "prod", "1")
        assert refused.value.kind == "no-driver" and "[executor]" in refused.value.detail
        who = await engine.whoami(Principal("v", Role.VIEWER))
        assert who.read_only and who.actions == [] and "viewer" in (who.reason or "")
        who = await engine.whoami(ALICE)
        assert not who.read_only and [a.value for a in who.actions] == [
            "deploy",
            "promote",
            "rollback",
            "cancel",
            "retry",
        ]
    finally:
        await engine.close()


async def test_restart_fails_interrupted_runs_and_resumes_queued(db_url: str) -> None:
    engine = await Engine.open(db_url, config())
    gate = GateDriver()
    engine.executor.use_driver("simulate", gate)
    running = await engine.actions.deploy(ALICE, "api", "prod", "1")
    await gate.wait_started("1")
    queued = await engine.actions.deploy(ALICE, "api", "prod", "2")
    await engine.close()  # the run is left `running`, as a crash would leave it
    engine = await Engine.open(db_url, config())
    gate = GateDriver()
    engine.executor.use_driver("simulate", gate)
    try:
        rows = await rows_of(engine, running.deployment_id)
        assert rows[-1].status is Status.FAILURE
        assert rows[-1].message == "interrupted: engine restarted"
        # The queued one is picked up by the new engine (the executor was started by open).
        await gate.wait_started("2")
        gate.release("2")
        await wait_status(engine, queued.deployment_id, Status.SUCCESS)
    finally:
        await engine.close()


async def test_command_driver_through_the_executor(db_url: str) -> None:
    script = (
        "import sys; print('deploying', sys.argv[1]); sys.exit(0 if sys.argv[1] != 'bad' else 3)"
    )
    cfg = EngineConfig(
        executor={"driver": "script"},
        drivers={
            "script": {"kind": "command", "argv": [sys.executable, "-c", script, "{version}"]}
        },
    )
    engine = await Engine.open(db_url, cfg)
    try:
        good = await engine.actions.deploy(ALICE, "api", "dev", "v1")
        await wait_status(engine, good.deployment_id, Status.SUCCESS)
        messages = [line.message for line in (await engine.logs(good.deployment_id)).items]
        assert "deploying v1" in messages
        bad = await engine.actions.deploy(ALICE, "api", "dev", "bad")
        rows = await wait_status(engine, bad.deployment_id, Status.FAILURE)
        assert "3" in (rows[-1].message or "")
    finally:
        await engine.close()
