"""Simulated colleagues: the people around the demo's user, acting through the engine.

They ask for promotions into the gated environments, approve some, reject others with a
comment, lock an environment for a while with a reason, and roll back what failed. Every
act goes through `engine.actions` and `engine.governance` under the colleague's own
principal — exactly what a person with a key would do over HTTP — so the engine's rules
(quorum, no self-approval, locks, the freeze window) apply to them as to anyone.

A promotion into production is approved once by a colleague and then left for the demo's
user (`me`), who is an approver: within seconds of the start one waits for them, and there
is always one while they keep it waiting. Promotions into `uat` are the release managers'
to decide. What the user asks for themselves, two colleagues approve.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from ..domain import Role, Status, utc_now
from ..domain.promotions import AWAITING, PromotionView
from ..engine import Engine, EngineError, Principal
from ._agenda import Agenda
from .catalog import PEOPLE, RELEASE_MANAGERS, parse_version
from .config import GATED

logger = logging.getLogger(__name__)

ADMIN = "ivan.petrov"
"""The colleague who locks and unlocks environments."""
APPROVERS: tuple[str, ...] = tuple(name for name in RELEASE_MANAGERS if name != ADMIN)
REQUESTERS: tuple[str, ...] = tuple(name for name in PEOPLE if name not in RELEASE_MANAGERS)

FIRST_ASK = 1.5
"""Seconds after the start: the first promotion into production is asked for…"""
FIRST_APPROVAL = (2.0, 4.0)
"""… and approved once by a colleague this long after (then it awaits the user)."""
ASK_EVERY = (25.0, 45.0)
MAX_AWAITING = 3
"""Colleagues ask for nothing more while this many promotions await approval."""
PATIENCE = {"prod": (150.0, 240.0), "uat": (20.0, 45.0)}
"""How long a colleague's promotion waits before another colleague decides it."""
MINE_APPROVED_AFTER = (6.0, 12.0)
"""A promotion the user asked for is approved by a colleague this long after, then another."""
REJECT_CHANCE = 0.3
WATCH_EVERY = 5.0
ROLLBACK_AFTER = (3.0, 8.0)
LOCK_FIRST = 45.0
LOCK_EVERY = (150.0, 240.0)
LOCK_LASTS = (45.0, 90.0)

APPROVE_COMMENTS: tuple[str | None, ...] = (
    "canary is clean",
    "dashboards green for 30 min in the source environment",
    "release notes reviewed",
    "load test passed",
    None,
)
REJECT_COMMENTS: tuple[str, ...] = (
    "error budget is spent this week; let's take it next sprint",
    "wait until the payments migration is done",
    "smoke tests are flaky on this build; re-run them first",
    "no rollback plan in the ticket",
)
LOCKS: tuple[tuple[str, str], ...] = (
    ("integration cluster is being rebuilt", "cluster rebuilt, all nodes ready"),
    ("database failover drill in progress", "drill over, primary is back"),
    ("investigating flaky smoke tests", "smoke tests fixed"),
)


class Colleagues:
    """The demo's other people: requesters, approvers and an admin, on one agenda."""

    def __init__(
        self,
        engine: Engine,
        *,
        me: Principal | None = None,
        seed: int | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Prepare the colleagues; nothing happens before `run()`.

        Args:
            engine: the engine they act on.
            me: the demo's user (an approver): production promotions are left for them.
            seed: the random seed (`None`: different every time).
            clock: their clock (aware, UTC).
            sleep: waits a number of seconds of that clock (tests pass a faster one).
        """
        self.engine = engine
        self.me = me
        self._rng = random.Random(seed)
        self._clock = clock
        self._sleep = sleep
        self._agenda = Agenda(clock)
        self._planned: set[str] = set()
        """Promotions whose decision is on the agenda."""
        self._rolled_back: set[str] = set()
        self._since = engine.clock()
        """Failures from this moment on are theirs to roll back (older ones were there
        before them)."""
        self._people = [name for name in REQUESTERS if me is None or name != me.name]
        self._approvers = [name for name in APPROVERS if me is None or name != me.name]

    async def run(self) -> None:
        """Act until cancelled; the first production promotion awaits `me` within seconds."""
        agenda = self._agenda
        self._since = self.engine.clock()
        agenda.after(FIRST_ASK, partial(self._ask, "prod", approve_once=True))
        agenda.after(FIRST_ASK + 2.5, partial(self._ask, "uat", approve_once=False))
        agenda.after(self._rng.uniform(*ASK_EVERY), self._ask_again)
        agenda.after(WATCH_EVERY, self._watch)
        agenda.after(LOCK_FIRST, self._lock)
        while True:  # `_watch` always plans its next turn: the agenda is never empty
            wait, action = agenda.pop()
            if wait > 0:
                await self._sleep(wait)
            try:
                await action()
            except EngineError as exc:  # refused (locked, frozen, decided meanwhile…)
                logger.info("demo colleague refused: %s", exc)
            except Exception:  # a live demo keeps going
                logger.warning("demo colleague failed", exc_info=True)

    # -- asking ----------------------------------------------------------------------

    async def _ask_again(self) -> None:
        """Now and then someone asks again: into production whenever nothing awaits the
        user any more, else into either gated environment."""
        self._agenda.after(self._rng.uniform(*ASK_EVERY), self._ask_again)
        idle = self.me is not None and not await self.engine.governance.pending_for(self.me)
        target = "prod" if idle else self._rng.choice(GATED)
        await self._ask(target, approve_once=target == "prod")

    async def _ask(self, target: str, *, approve_once: bool) -> None:
        """A colleague asks to promote some service's newer version into `target`."""
        awaiting = await self._awaiting()
        if len(awaiting) >= MAX_AWAITING:
            return
        candidates = await self._promotable(target, awaiting)
        if not candidates:
            return
        service, source = self._rng.choice(candidates)
        requester = Principal(self._rng.choice(self._people), Role.DEPLOYER)
        result = await self.engine.actions.promote(requester, service, source, target)
        if result.promotion_id is not None and approve_once:
            first = self._rng.uniform(*FIRST_APPROVAL)
            self._agenda.after(first, partial(self._approve, result.promotion_id))

    async def _promotable(
        self, target: str, awaiting: list[PromotionView]
    ) -> list[tuple[str, str]]:
        """`(service, source)` whose source runs a newer version than `target`, with
        `target` idle and nothing awaiting approval there."""
        matrix = await self.engine.matrix.get()
        order = list(matrix.environments)
        if target not in order or order.index(target) == 0:
            return []
        source = order[order.index(target) - 1]
        asked = {(p.service, p.to_environment) for p in awaiting}
        found = []
        for row in matrix.rows:
            upstream, downstream = row.slots.get(source), row.slots.get(target)
            if upstream is None or upstream.current.status is not Status.SUCCESS:
                continue
            ours = parse_version(upstream.current.version)
            theirs = None if downstream is None else parse_version(downstream.current.version)
            busy = downstream is not None and (
                downstream.next is not None or downstream.current.status is Status.IN_PROGRESS
            )
            newer = ours is not None and (theirs is None or ours > theirs)
            if newer and not busy and (row.service, target) not in asked:
                found.append((row.service, source))
        return found

    async def _awaiting(self) -> list[PromotionView]:
        page = await self.engine.governance.promotions_page(status=AWAITING, limit=100)
        return page.items

    # -- deciding --------------------------------------------------------------------

    async def _watch(self) -> None:
        """Plan a decision for every new promotion; roll back fresh failures."""
        self._agenda.after(WATCH_EVERY, self._watch)
        for promotion in await self._awaiting():
            if promotion.id not in self._planned:
                self._planned.add(promotion.id)
                self._plan(promotion)
        await self._spot_failures()

    def _plan(self, promotion: PromotionView) -> None:
        if self.me is not None and promotion.requester == self.me.name:
            self._agenda.after(
                self._rng.uniform(*MINE_APPROVED_AFTER), partial(self._approve, promotion.id)
            )
            return
        patience = PATIENCE.get(promotion.to_environment, PATIENCE["uat"])
        self._agenda.after(self._rng.uniform(*patience), partial(self._decide, promotion.id))

    async def _decide(self, promotion_id: str) -> None:
        """A colleague approves (up to the quorum) or rejects a promotion still waiting."""
        promotion = await self.engine.governance.promotion(promotion_id)
        if promotion.status != AWAITING:
            return
        if await self._last_for_me(promotion):
            self._agenda.after(30.0, partial(self._decide, promotion_id))  # keep it for them
            return
        if self._rng.random() < REJECT_CHANCE:
            who = self._approver(promotion)
            if who is not None:
                comment = self._rng.choice(REJECT_COMMENTS)
                await self.engine.governance.reject(who, promotion_id, comment)
            return
        await self._approve(promotion_id, until_quorum=True)

    async def _approve(self, promotion_id: str, *, until_quorum: bool = False) -> None:
        """One colleague approves; with `until_quorum` (or for the user's own request)
        another follows until it runs."""
        promotion = await self.engine.governance.promotion(promotion_id)
        who = self._approver(promotion) if promotion.status == AWAITING else None
        if who is None:
            return
        comment = self._rng.choice(APPROVE_COMMENTS)
        after = await self.engine.governance.approve(who, promotion_id, comment)
        mine = self.me is not None and promotion.requester == self.me.name
        if after.status == AWAITING and (until_quorum or mine):
            again = partial(self._approve, promotion_id, until_quorum=True)
            self._agenda.after(self._rng.uniform(3.0, 6.0), again)

    def _approver(self, promotion: PromotionView) -> Principal | None:
        """A colleague who may still approve: not the requester, not one who did."""
        done = {approval.principal for approval in promotion.approvals}
        free = [n for n in self._approvers if n != promotion.requester and n not in done]
        return Principal(self._rng.choice(free), Role.APPROVER) if free else None

    async def _last_for_me(self, promotion: PromotionView) -> bool:
        """Whether `promotion` is the only one the user may approve now."""
        if self.me is None:
            return False
        mine = await self.engine.governance.pending_for(self.me)
        return [p.id for p in mine] == [promotion.id]

    # -- after failures, and now and then ----------------------------------------------

    async def _spot_failures(self) -> None:
        """A release manager rolls back what failed in a gated environment since they
        started (a failed rollback, or the user's own deployment, is left for a person)."""
        matrix = await self.engine.matrix.get()
        for row in matrix.rows:
            for environment in GATED:
                slot = row.slots.get(environment)
                current = None if slot is None else slot.current
                if current is None or current.status is not Status.FAILURE:
                    continue
                if current.trigger == "rollback" or current.happened_at < self._since:
                    continue
                if self.me is not None and current.actor == self.me.name:
                    continue  # theirs to handle
                if current.deployment_id not in self._rolled_back:
                    self._rolled_back.add(current.deployment_id)
                    rollback = partial(self._rollback, current.deployment_id)
                    self._agenda.after(self._rng.uniform(*ROLLBACK_AFTER), rollback)

    async def _rollback(self, deployment_id: str) -> None:
        who = Principal(self._rng.choice(self._approvers), Role.APPROVER)
        await self.engine.actions.rollback(who, deployment_id)

    async def _lock(self) -> None:
        """The admin locks `qa` or `uat` for a minute or so, saying why."""
        self._agenda.after(self._rng.uniform(*LOCK_EVERY), self._lock)
        environment = self._rng.choice(("qa", "uat"))
        reason, relief = self._rng.choice(LOCKS)
        admin = Principal(ADMIN, Role.ADMIN)
        await self.engine.governance.lock(admin, environment, reason)
        unlock = partial(self._unlock, admin, environment, relief)
        self._agenda.after(self._rng.uniform(*LOCK_LASTS), unlock)

    async def _unlock(self, admin: Principal, environment: str, reason: str) -> None:
        await self.engine.governance.unlock(admin, environment, reason)


__all__ = ["ADMIN", "APPROVERS", "REQUESTERS", "Colleagues"]
