"""Governance: promotions awaiting approval, and environments' policies and locks.

Decisions are committed through the audit trail (a refusal is audited alone); reads run on
the engine's reader threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ..domain import Action, ActionProblem, order_environments, to_micros
from ..domain.authz import Permission
from ..domain.authz import decide as decide_permission
from ..domain.policy import EnvironmentPolicy
from ..domain.promotions import AWAITING, EnvironmentView, PromotionPage, PromotionView
from .approvals import PromotionDecider
from .audit import AuditTrail, Commit
from .cursors import check_limit
from .errors import NotFound
from .executor import Executor
from .gate import PolicyGate, environment_view
from .keys import Principal
from .logs import Runner
from .store import ExecutionRecord, NewEvent, Store, Writes

WITHDRAW_AUDIT = "cancel-promotion"
"""The audit action of a withdrawn promotion (the name audit readers already know)."""


class Governance:
    """Approvals and environments (`engine.governance`)."""

    def __init__(
        self,
        store: Store,
        decider: PromotionDecider,
        gate: PolicyGate,
        executor: Executor,
        audit: AuditTrail,
        *,
        policies: dict[str, EnvironmentPolicy],
        environment_order: list[str],
        read: Runner,
        commit: Commit,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.decider = decider
        self.gate = gate
        self.executor = executor
        self.audit = audit
        self.policies = policies
        self.environment_order = environment_order
        self._read = read
        self._commit = commit
        self.clock = clock

    async def approve(
        self, principal: Principal, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        """Approve a promotion; at its quorum exactly one deployment is queued."""
        audit = self.audit.entry(principal, Action.APPROVE, promotion_id, comment)
        committed = await self.audit.decided(
            principal,
            audit,
            lambda: self.decider.decide_approve(principal, promotion_id, comment, audit),
        )
        if isinstance(committed.value, ExecutionRecord):
            self.executor.kick(committed.value.service, committed.value.environment)
        return await self.promotion(promotion_id)

    async def reject(
        self, principal: Principal, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        """Reject a promotion: its target slot gets a `rejected` row."""
        audit = self.audit.entry(principal, Action.REJECT, promotion_id, comment)
        await self.audit.decided(
            principal,
            audit,
            lambda: self.decider.decide_reject(principal, promotion_id, comment, audit),
        )
        return await self.promotion(promotion_id)

    async def withdraw(
        self, principal: Principal, promotion_id: str, reason: str | None = None
    ) -> PromotionView:
        """The requester (or an admin) withdraws a promotion awaiting approval."""
        audit = self.audit.entry(principal, WITHDRAW_AUDIT, promotion_id, reason)
        await self.audit.decided(
            principal,
            audit,
            lambda: self.decider.decide_withdraw(principal, promotion_id, reason, audit),
        )
        return await self.promotion(promotion_id)

    async def promotion(self, promotion_id: str) -> PromotionView:
        """One promotion with its decisions.

        Raises:
            NotFound: no promotion has that id.
        """

        def read() -> PromotionView:
            return self.decider.view(self.decider.get(promotion_id))

        try:
            return await self._read(read)
        except ActionProblem as exc:
            raise NotFound(exc.detail) from exc

    async def promotions_page(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> PromotionPage:
        """Promotions newest first; `cursor` is the last id of the previous page."""
        check_limit(limit)

        def read() -> PromotionPage:
            found = self.store.promotions(
                status=status,
                service=service,
                environment=environment,
                before=cursor,
                limit=limit + 1,
            )
            more = len(found) > limit
            found = found[:limit]
            items = [self.decider.view(record) for record in found]
            return PromotionPage(items=items, next_cursor=found[-1].id if more else None)

        return await self._read(read)

    async def pending_for(self, principal: Principal) -> list[PromotionView]:
        """Promotions awaiting approval that `principal` may approve now."""

        def read() -> list[PromotionView]:
            out = []
            for record in self.store.promotions(status=AWAITING, limit=1000):
                policy = self.gate.policy(record.to_environment)
                if not policy.may_approve(principal.name, principal.role):
                    continue
                if not principal.scopes.covers(record.service, record.to_environment):
                    continue
                if record.requester == principal.name and not policy.self_approval:
                    continue
                view = self.decider.view(record)
                if any(a.principal == principal.name for a in view.approvals):
                    continue
                out.append(view)
            return out

        return await self._read(read)

    async def expire_promotions(self, now: datetime | None = None) -> int:
        """End promotions whose time to be approved has passed; how many."""
        committed = await self._commit(lambda: self.decider.decide_expire(now or self.clock()))
        return len(committed.value or [])  # type: ignore[arg-type]

    async def environment_views(self) -> list[EnvironmentView]:
        """Every known environment's policy, lock and active freeze, in display order."""

        def read() -> list[EnvironmentView]:
            names = order_environments(
                set(self.store.environments())
                | set(self.policies)
                | {r.environment for r in self.store.environment_records()},
                self.environment_order,
            )
            return [
                environment_view(self.gate.record(n), self.gate.policy(n), self.clock())
                for n in names
            ]

        return await self._read(read)

    async def environment_view(self, environment: str) -> EnvironmentView:
        """One environment's policy, lock and active freeze."""

        def read() -> EnvironmentView:
            return environment_view(
                self.gate.record(environment), self.gate.policy(environment), self.clock()
            )

        return await self._read(read)

    async def lock(self, principal: Principal, environment: str, reason: str) -> EnvironmentView:
        """Lock an environment: every action on it is refused until it is unlocked."""
        return await self._set_environment(
            principal, Permission.LOCK, environment, reason, lock=True
        )

    async def unlock(
        self, principal: Principal, environment: str, reason: str | None = None
    ) -> EnvironmentView:
        """Lift an environment's lock."""
        return await self._set_environment(
            principal, Permission.UNLOCK, environment, reason, lock=False
        )

    async def set_policy(
        self, principal: Principal, environment: str, policy: EnvironmentPolicy
    ) -> EnvironmentView:
        """Replace an environment's policy (overrides the TOML's)."""
        return await self._set_environment(
            principal, Permission.SET_POLICY, environment, policy.summary(), policy=policy
        )

    async def _set_environment(
        self,
        principal: Principal,
        permission: Permission,
        environment: str,
        reason: str | None,
        *,
        lock: bool | None = None,
        policy: EnvironmentPolicy | None = None,
    ) -> EnvironmentView:
        audit = self.audit.entry(principal, permission, environment, reason)

        def decide_() -> Writes:
            checked = decide_permission(
                principal.name, principal.role, principal.scopes, permission, None, environment
            )
            if not checked.allowed:
                raise ActionProblem("forbidden", checked.reason, 403)
            record = self.gate.record(environment)
            if lock is True:
                record = replace(
                    record,
                    locked_by=principal.name,
                    lock_reason=reason,
                    locked_at=to_micros(self.clock()),
                )
            elif lock is False:
                if record.locked_by is None:
                    raise ActionProblem(
                        "not-locked", f"{environment} is not locked; there is nothing to unlock"
                    )
                record = replace(record, locked_by=None, lock_reason=None, locked_at=None)
            if policy is not None:
                record = replace(record, policy=policy.model_dump_json(by_alias=True))
            view = environment_view(
                record,
                policy or self.gate.policy(environment),
                self.clock(),
            )
            return Writes(
                environments=[record],
                events=[NewEvent("environment", None, view.model_dump_json())],
                audit=[audit],
            )

        await self.audit.decided(principal, audit, decide_)
        return await self.environment_view(environment)


__all__ = ["WITHDRAW_AUDIT", "Governance"]
