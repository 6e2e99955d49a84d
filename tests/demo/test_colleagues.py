"""The demo's colleagues: what the person trying the demo gets to approve, and what the
others do meanwhile, on a clock that runs many times faster than real time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from shipdeck.demo import Colleagues, demo_config, seed_demo
from shipdeck.demo.colleagues import ADMIN, APPROVERS, REQUESTERS
from shipdeck.demo.config import FREEZE_NAME
from shipdeck.domain import TERMINAL, Role, Status, utc_now
from shipdeck.domain.promotions import PromotionView
from shipdeck.engine import DeploymentFilters, Engine
from shipdeck.engine.config import SimulateDriverSpec

SCALE = 0.01
"""Simulated runs take 0.1–0.3 s of real time."""


class FastTime:
    """A clock `factor` times faster than real time (the engine's own clock stays real)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._start = utc_now()
        self._t0 = time.monotonic()

    def clock(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.factor)

    def elapsed(self) -> float:
        """Seconds of this clock since it started."""
        return (time.monotonic() - self._t0) * self.factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.factor)


async def until(predicate: Callable[[], Awaitable[object]], timeout: float = 20.0) -> None:
    """Poll `predicate` until it holds (real seconds)."""
    async with asyncio.timeout(timeout):
        while True:
            if await predicate():
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(colleagues: Colleagues) -> AsyncIterator[None]:
    task = asyncio.create_task(colleagues.run())
    try:
        yield
        assert not task.done(), "the colleagues stopped by themselves"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def opened(db_url: str, failure_rate: float | None = None) -> AsyncIterator[Engine]:
    """The demo's engine (its policies, its drivers at a hundredth of their pace), seeded;
    with `failure_rate`, every environment but production fails that often."""
    config = demo_config(scale=SCALE)
    if failure_rate is not None:
        config.drivers["simulate"] = SimulateDriverSpec(
            kind="simulate", scale=SCALE, failure_rate=failure_rate
        )
    engine = await Engine.open(db_url, config)
    try:
        await seed_demo(engine, now=utc_now())
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def demo_engine(db_url: str) -> AsyncIterator[Engine]:
    async with opened(db_url) as engine:
        yield engine


async def latest_status(engine: Engine, deployment_id: str) -> Status:
    page = await engine.deployments.page(DeploymentFilters(deployment_id=deployment_id), limit=1)
    return page.items[0].status


def test_the_demo_asks_for_two_approvals_and_the_user_gives_them() -> None:
    now = utc_now()
    config = demo_config(now)

    assert config.auth.local_role is Role.APPROVER
    for environment in ("uat", "prod"):
        policy = config.policies[environment]
        assert policy.approvals_required == 2 and not policy.self_approval
    (window,) = config.policies["prod"].freeze
    assert window.name == FREEZE_NAME
    assert window.start is not None and now < window.start < now + timedelta(hours=4)
    assert not config.policies["prod"].active_freeze(now)


async def test_a_promotion_awaits_me_within_seconds_and_runs_when_i_approve(
    demo_engine: Engine,
) -> None:
    me = demo_engine.local_principal()
    fast = FastTime(20)
    colleagues = Colleagues(demo_engine, me=me, seed=1, clock=fast.clock, sleep=fast.sleep)
    waiting: list[PromotionView] = []

    async def awaits_me() -> bool:  # asked for, and approved once by a colleague
        pending = await demo_engine.governance.pending_for(me)
        waiting[:] = [p for p in pending if p.approvals]
        return bool(waiting)

    async with running(colleagues):
        await until(awaits_me)
        assert fast.elapsed() < 30
        (promotion,) = waiting
        assert promotion.to_environment == "prod" and promotion.from_environment == "uat"
        assert promotion.requester in REQUESTERS
        assert [a.principal for a in promotion.approvals] == [
            a.principal for a in promotion.approvals if a.principal in APPROVERS
        ]
        assert len(promotion.approvals) == 1 and promotion.approvals_required == 2

        decided = await demo_engine.governance.approve(me, promotion.id, "ship it")
        assert decided.status == "approved"

        async def finished() -> bool:
            return await latest_status(demo_engine, promotion.deployment_id) in TERMINAL

        await until(finished)
        assert await latest_status(demo_engine, promotion.deployment_id) is Status.SUCCESS


async def test_what_i_ask_for_two_colleagues_approve(demo_engine: Engine) -> None:
    me = demo_engine.local_principal()
    matrix = await demo_engine.matrix.get()
    service = next(
        row.service
        for row in matrix.rows
        if row.slots["qa"].current.status is Status.SUCCESS
        and row.slots["uat"].current.status is not Status.IN_PROGRESS
        and row.slots["uat"].next is None
        and row.slots["qa"].current.version != row.slots["uat"].current.version
    )
    asked = await demo_engine.actions.promote(me, service, "qa", "uat")
    assert asked.promotion_id is not None
    fast = FastTime(20)
    colleagues = Colleagues(demo_engine, me=me, seed=2, clock=fast.clock, sleep=fast.sleep)

    async def approved() -> bool:
        promotion = await demo_engine.governance.promotion(asked.promotion_id or "")
        return promotion.status != "awaiting-approval"

    async with running(colleagues):
        await until(approved)
    promotion = await demo_engine.governance.promotion(asked.promotion_id)
    assert promotion.status == "approved"
    approvers = [a.principal for a in promotion.approvals]
    assert len(set(approvers)) == 2 and set(approvers) <= set(APPROVERS)


async def test_colleagues_approve_reject_lock_and_roll_back(db_url: str) -> None:
    """Twenty minutes of their time: decisions both ways with comments, a lock with its
    reason and the unlock, and a rollback of what failed (every run in uat fails here)."""
    async with opened(db_url, failure_rate=1.0) as demo_engine:
        fast = FastTime(200)
        colleagues = Colleagues(demo_engine, seed=3, clock=fast.clock, sleep=fast.sleep)
        async with running(colleagues):
            await asyncio.sleep(1200 / fast.factor)
            await until_done(demo_engine)
        await check_twenty_minutes(demo_engine)


async def until_done(demo_engine: Engine) -> None:
    """On a loaded machine the colleagues get less done in a second of ours (their clock
    runs on ours): let them go on, up to 30 s more, until the check holds."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            await check_twenty_minutes(demo_engine)
        except AssertionError:
            await asyncio.sleep(0.5)
        else:
            return


async def check_twenty_minutes(demo_engine: Engine) -> None:
    """What the colleagues must have done (see the test above)."""

    promotions = (await demo_engine.governance.promotions_page(limit=500)).items
    statuses = {p.status for p in promotions}
    assert {"approved", "rejected"} <= statuses
    rejected = [p for p in promotions if p.status == "rejected"]
    assert all(p.reason and p.decided_by in APPROVERS for p in rejected)
    for promotion in promotions:
        assert promotion.requester not in {a.principal for a in promotion.approvals}

    audit = (await demo_engine.audit.page(principal=ADMIN, limit=100)).items
    locks = [entry for entry in audit if entry.action == "lock" and entry.outcome == "ok"]
    unlocks = [entry for entry in audit if entry.action == "unlock" and entry.outcome == "ok"]
    assert locks and unlocks and all(entry.reason for entry in locks + unlocks)

    rows = (await demo_engine.deployments.page(limit=500)).items
    rollbacks = [row for row in rows if row.trigger == "rollback"]
    assert rollbacks and all(row.actor in APPROVERS for row in rollbacks)
    assert {row.environment for row in rollbacks} <= {"uat", "prod"}
    failed = {row.deployment_id for row in rows if row.status is Status.FAILURE}
    assert {p for row in rollbacks for p in row.parent_deployments} <= failed
