"""Actions on slots: deploy, promote, roll back, retry, cancel, and their plans.

Each action checks the caller's role first, then commits its decision (`ActionDecider`) in
one write transaction and wakes the executor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..domain import (
    Action,
    ActionProblem,
    ActionResult,
    PolicySummary,
    PromotionPlanDoc,
    RollbackPlanDoc,
    Status,
)
from ..domain.actions import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN, request_fingerprint
from ..domain.authz import Permission
from ..domain.authz import decide as decide_permission
from .audit import AuditTrail, Commit
from .decisions import ActionDecider
from .errors import ActionRefused, Forbidden, InvalidRequest
from .executor import Executor
from .gate import PolicyGate
from .keys import Principal
from .logs import Runner
from .rows import RUNNING
from .store import AuditEntry, ExecutionRecord, PromotionRecord, Writes

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


class Actions:
    """The engine's actions on slots (`engine.actions`)."""

    def __init__(
        self,
        decider: ActionDecider,
        gate: PolicyGate,
        executor: Executor,
        audit: AuditTrail,
        *,
        read: Runner,
        commit: Commit,
    ) -> None:
        self.decider = decider
        self.gate = gate
        self.executor = executor
        self.audit = audit
        self._read = read
        self._commit = commit

    async def deploy(
        self,
        principal: Principal,
        service: str,
        environment: str,
        version: str,
        *,
        idempotency_key: str | None = None,
        override_reason: str | None = None,
    ) -> ActionResult:
        """Queue `version` of `service` in `environment` (`202` semantics)."""
        body = {"service": service, "environment": environment, "version": version}
        audit = self.audit.entry(
            principal, Action.DEPLOY, f"{service}/{environment}", override_reason
        )
        return await self._act(
            principal,
            Action.DEPLOY,
            audit,
            body,
            idempotency_key,
            lambda: self._checked(
                self.decider.decide_deploy(
                    principal, service, environment, version, audit, override_reason
                )
            ),
        )

    async def promote(
        self,
        principal: Principal,
        service: str,
        from_environment: str,
        to_environment: str | None = None,
        *,
        idempotency_key: str | None = None,
        override_reason: str | None = None,
    ) -> ActionResult:
        """Queue `from_environment`'s current success in the next (or named) environment;
        into an environment that asks for approvals, create a promotion that waits."""
        body = {
            "service": service,
            "from_environment": from_environment,
            "to_environment": to_environment,
        }
        target = f"{service}/{from_environment}->{to_environment or 'next'}"
        audit = self.audit.entry(principal, Action.PROMOTE, target, override_reason)
        return await self._act(
            principal,
            Action.PROMOTE,
            audit,
            body,
            idempotency_key,
            lambda: self._checked(
                self.decider.decide_promote(
                    principal, service, from_environment, to_environment, audit, override_reason
                )
            ),
        )

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlanDoc:
        """What `promote` would do, without doing it."""
        try:
            target, version = await self._read(
                self.decider.promotion, service, from_environment, to_environment
            )
            policy = await self._read(self.gate.policy, target)
        except ActionProblem as exc:
            raise ActionRefused(exc.kind, exc.detail, exc.status) from exc
        driver = self.executor.driver_name(service, target)
        summary = policy.summary()
        summary += f"; runs with the {driver} driver" if driver else "; no driver is configured"
        return PromotionPlanDoc(
            service=service,
            from_environment=from_environment,
            to_environment=target,
            version=version,
            policy=PolicySummary(approvals_required=policy.approvals_required, summary=summary),
        )

    async def rollback_plan(
        self, deployment_id: str, version: str | None = None
    ) -> RollbackPlanDoc:
        """What `rollback` would deploy, without doing it."""
        try:
            return await self._read(self.decider.rollback_plan, deployment_id, version)
        except ActionProblem as exc:
            raise ActionRefused(exc.kind, exc.detail, exc.status) from exc

    async def rollback(
        self,
        principal: Principal,
        deployment_id: str,
        version: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        """Queue the slot's previous successful version (or `version`)."""
        audit = self.audit.entry(principal, Action.ROLLBACK, deployment_id)
        return await self._act(
            principal,
            Action.ROLLBACK,
            audit,
            {"version": version},
            idempotency_key,
            lambda: self._checked(
                self.decider.decide_rollback(principal, deployment_id, version, audit)
            ),
        )

    async def retry(
        self, principal: Principal, deployment_id: str, *, idempotency_key: str | None = None
    ) -> ActionResult:
        """Queue a finished deployment's version in its slot again."""
        audit = self.audit.entry(principal, Action.RETRY, deployment_id)
        return await self._act(
            principal,
            Action.RETRY,
            audit,
            {},
            idempotency_key,
            lambda: self._checked(self.decider.decide_retry(principal, deployment_id, audit)),
        )

    async def cancel(
        self, principal: Principal, deployment_id: str, *, idempotency_key: str | None = None
    ) -> ActionResult:
        """End a queued run at once, or stop a running one."""
        audit = self.audit.entry(principal, Action.CANCEL, deployment_id)
        return await self._act(
            principal,
            Action.CANCEL,
            audit,
            {},
            idempotency_key,
            lambda: self.decider.decide_cancel(principal, deployment_id, audit),
        )

    def _check_driver(self, service: str, environment: str) -> None:
        if self.executor.driver_name(service, environment) is None:
            raise ActionRefused(
                "no-driver",
                f"no driver is configured to run {service} in {environment}; set "
                "[executor] driver (or a per-environment or per-service one) in the engine's "
                "TOML file",
            )

    def _checked(self, writes: Writes) -> Writes:
        """`writes` if its new run has a driver (checked inside the transaction)."""
        execution = writes.value
        if isinstance(execution, ExecutionRecord):
            self._check_driver(execution.service, execution.environment)
        elif isinstance(execution, PromotionRecord):
            self._check_driver(execution.service, execution.to_environment)
        return writes

    async def _act(
        self,
        principal: Principal,
        action: Action,
        audit: AuditEntry,
        body: Mapping[str, str | None],
        idempotency_key: str | None,
        decide: Callable[[], Writes],
    ) -> ActionResult:
        role_only = decide_permission(
            principal.name, principal.role, principal.scopes, Permission(action.value)
        )
        if not role_only.allowed:  # before anything else: a viewer learns nothing more
            await self.audit.refusal(
                principal, audit.action, audit.target, "forbidden", role_only.reason
            )
            raise Forbidden(role_only.reason)
        idempotency = None
        if idempotency_key is not None:
            if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
                raise InvalidRequest(
                    f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII "
                    "characters that neither start nor end with a space",
                    pointer="/headers/Idempotency-Key",
                )
            fingerprint = request_fingerprint(action, audit.target, body)
            idempotency = (principal.name, idempotency_key, fingerprint)
        committed = await self.audit.decided(principal, audit, decide, idempotency)
        result = ActionResult.model_validate_json(committed.response)
        if committed.replayed:
            return result
        execution = committed.value
        if isinstance(execution, ExecutionRecord):
            if action is Action.CANCEL and execution.state == RUNNING:
                if not self.executor.cancel(execution.deployment_id, principal.name):
                    await self._commit(
                        lambda: self.decider.decide_finish(
                            execution,
                            Status.FAILURE,
                            f"cancelled by {principal.name}: stopped before completing",
                        )
                    )
            else:
                self.executor.kick(execution.service, execution.environment)
        return result


__all__ = ["Actions"]
