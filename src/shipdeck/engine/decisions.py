"""Deciding actions inside one store transaction: what rows to append, what to queue.

Every method named `decide_*` runs on the engine's writer thread inside `Store.commit`, so
its reads and the writes it returns form one transaction: two requests for one slot can never
both see it idle, and an `Idempotency-Key` answers exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ..domain import (
    Action,
    ActionProblem,
    ActionResult,
    DeploymentEvent,
    DeploymentFilters,
    RollbackPlanDoc,
    Status,
    order_environments,
    to_micros,
)
from ..domain.actions import (
    check_cancellable,
    check_retryable,
    next_environment,
    promotion_version,
    rollback_version,
)
from ..domain.authz import Permission
from .approvals import PromotionDecider
from .gate import PolicyGate
from .keys import Principal
from .rows import DONE, QUEUED, RUNNING, make_row, new_deployment_id
from .store import AuditEntry, DeploymentQuery, ExecutionRecord, NewDeploymentRow, Store, Writes


class ActionDecider:
    """The decisions of actions over one store (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        environment_order: list[str],
        gate: PolicyGate,
        promotions: PromotionDecider,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.environment_order = environment_order
        self.gate = gate
        """Policies, locks and freezes."""
        self.promotions = promotions
        """Promotions into environments that ask for approvals."""
        self.clock = clock

    # -- reads (inside the transaction) ----------------------------------------------

    def rows_of(self, deployment_id: str, limit: int = 200) -> list[DeploymentEvent]:
        """A logical deployment's rows, newest first."""
        found = self.store.list_deployments(
            DeploymentQuery(DeploymentFilters(deployment_id=deployment_id), limit=limit)
        )
        return [DeploymentEvent.model_validate_json(doc) for _, _, doc in found]

    def latest_row(self, deployment_id: str) -> DeploymentEvent:
        """A logical deployment's latest row.

        Raises:
            ActionProblem: no row has that `deployment_id` (a 404).
        """
        rows = self.rows_of(deployment_id, limit=1)
        if not rows:
            raise ActionProblem(
                "not-found", f"no deployment has deployment_id {deployment_id!r}", 404
            )
        return rows[0]

    def current(self, service: str, environment: str) -> DeploymentEvent | None:
        """The slot's current (effective) row."""
        for record in self.store.slots(service):
            if record.environment == environment and record.state.current is not None:
                return DeploymentEvent.model_validate_json(record.state.current.ref)
        return None

    def successes(self, service: str, environment: str) -> list[DeploymentEvent]:
        """The slot's successful rows, newest first (the last 200)."""
        found = self.store.list_deployments(
            DeploymentQuery(
                DeploymentFilters(service=service, environment=environment, status=Status.SUCCESS),
                limit=200,
            )
        )
        return [DeploymentEvent.model_validate_json(doc) for _, _, doc in found]

    def environments(self) -> list[str]:
        """Every environment in display order."""
        return order_environments(self.store.environments(), self.environment_order)

    # -- planning --------------------------------------------------------------------

    def promotion(
        self, service: str, from_environment: str, to_environment: str | None
    ) -> tuple[str, str]:
        """`(target environment, version)` of a promotion.

        Raises:
            ActionProblem: unknown source, last environment, no successful version.
        """
        order = self.environments()
        if from_environment not in order:
            raise ActionProblem(
                "not-found",
                f"there is no environment {from_environment!r}; pick one of "
                f"{', '.join(order) or 'none yet'}",
                404,
            )
        target = to_environment or next_environment(order, from_environment)
        if target == from_environment:
            raise ActionProblem(
                "same-environment",
                f"{service} cannot be promoted from {target} to itself; pick another target",
                422,
            )
        version = promotion_version(
            service, from_environment, self.current(service, from_environment)
        )
        return target, version

    def queue(
        self,
        action: Action,
        service: str,
        environment: str,
        version: str,
        actor: str | None,
        parents: tuple[str, ...],
        message: str,
        audit: AuditEntry | None = None,
    ) -> Writes:
        """Queue a new run in a slot, superseding runs still queued there."""
        execution = ExecutionRecord(
            deployment_id=new_deployment_id(),
            service=service,
            environment=environment,
            version=version,
            action=action.value,
            actor=actor,
            parents=parents,
            state=QUEUED,
            requested_at=to_micros(self.clock()),
        )
        waiting = self.store.executions(service=service, environment=environment, states=[QUEUED])
        rows = [
            make_row(
                old,
                Status.CANCELLED,
                self.clock(),
                message=f"superseded by {execution.deployment_id} ({action} of {version}"
                + (f" by {actor})" if actor else ")"),
            )
            for old in waiting
        ]
        rows.append(make_row(execution, Status.QUEUED, self.clock(), message=message))
        result = ActionResult(
            deployment_id=execution.deployment_id,
            action=action,
            service=service,
            environment=environment,
            version=version,
            status=Status.QUEUED.value,
            superseded=[old.deployment_id for old in waiting],
        )
        return Writes(
            rows=rows,
            executions=[execution],
            states=[(old.deployment_id, DONE) for old in waiting],
            audit=[] if audit is None else [audit],
            response=result.model_dump_json(),
            value=execution,
        )

    def rollback_plan(self, deployment_id: str, version: str | None) -> RollbackPlanDoc:
        """What a rollback of `deployment_id`'s slot would deploy."""
        latest = self.latest_row(deployment_id)
        service, environment = latest.service, latest.environment
        current = self.current(service, environment)
        target = rollback_version(
            service, environment, current, self.successes(service, environment), version
        )
        return RollbackPlanDoc(
            deployment_id=deployment_id,
            service=service,
            environment=environment,
            from_version=None if current is None else current.version,
            version=target,
        )

    def _check(
        self,
        actor: Principal,
        permission: Permission,
        service: str,
        environment: str,
        audit: AuditEntry,
        override_reason: str | None = None,
    ) -> AuditEntry:
        """Check the gate; the audit entry, with the reason of a freeze override."""
        overridden = self.gate.check(
            actor, permission, service, environment, override_reason=override_reason
        )
        if overridden is None:
            return audit
        return replace(audit, reason=overridden)

    def decide_deploy(
        self,
        actor: Principal,
        service: str,
        environment: str,
        version: str,
        audit: AuditEntry,
        override_reason: str | None = None,
    ) -> Writes:
        """Queue `version` of `service` in `environment`."""
        audit = self._check(actor, Permission.DEPLOY, service, environment, audit, override_reason)
        self.gate.approval_gate(actor, environment, Permission.DEPLOY)
        return self.queue(
            Action.DEPLOY,
            service,
            environment,
            version,
            actor.name,
            (),
            f"deploy of {version} requested by {actor.name}",
            audit,
        )

    def decide_promote(
        self,
        actor: Principal,
        service: str,
        from_environment: str,
        to_environment: str | None,
        audit: AuditEntry,
        override_reason: str | None = None,
    ) -> Writes:
        """Queue `from_environment`'s current success in the next (or named) environment,
        or ask for approval when the target's policy wants it."""
        target, version = self.promotion(service, from_environment, to_environment)
        audit = self._check(actor, Permission.PROMOTE, service, target, audit, override_reason)
        source = self.current(service, from_environment)
        parents = (source.deployment_id,) if source is not None else ()
        message = f"promotion of {version} from {from_environment} requested by {actor.name}"
        policy = self.gate.policy(target)
        if policy.approvals_required:
            execution = ExecutionRecord(
                deployment_id=new_deployment_id(),
                service=service,
                environment=target,
                version=version,
                action=Action.PROMOTE.value,
                actor=actor.name,
                parents=parents,
                state=DONE,
                requested_at=to_micros(self.clock()),
            )
            writes = self.promotions.request(actor, execution, policy, from_environment, audit)
            record = writes.value
            result = ActionResult(
                deployment_id=execution.deployment_id,
                action=Action.PROMOTE,
                service=service,
                environment=target,
                version=version,
                status=Status.WAITING.value,
                promotion_id=getattr(record, "id", None),
            )
            return replace(writes, response=result.model_dump_json())
        return self.queue(
            Action.PROMOTE, service, target, version, actor.name, parents, message, audit
        )

    def decide_rollback(
        self, actor: Principal, deployment_id: str, version: str | None, audit: AuditEntry
    ) -> Writes:
        """Queue the slot's previous successful version (or `version`)."""
        latest = self.latest_row(deployment_id)
        audit = self._check(actor, Permission.ROLLBACK, latest.service, latest.environment, audit)
        plan = self.rollback_plan(deployment_id, version)
        service, environment, target = plan.service, plan.environment, plan.version
        return self.queue(
            Action.ROLLBACK,
            service,
            environment,
            target,
            actor.name,
            (deployment_id,),
            f"rollback of {deployment_id} to {target} requested by {actor.name}",
            audit,
        )

    def decide_retry(self, actor: Principal, deployment_id: str, audit: AuditEntry) -> Writes:
        """Queue a finished deployment's version in its slot again."""
        latest = self.latest_row(deployment_id)
        audit = self._check(actor, Permission.RETRY, latest.service, latest.environment, audit)
        version = check_retryable(deployment_id, latest)
        if self.store.execution(deployment_id) is None:
            # Only runs shipdeck made (approved, or deployed by an admin) skip the gate.
            self.gate.approval_gate(actor, latest.environment, Permission.RETRY)
        return self.queue(
            Action.RETRY,
            latest.service,
            latest.environment,
            version,
            actor.name,
            (deployment_id,),
            f"retry of {deployment_id} requested by {actor.name}",
            audit,
        )

    def decide_cancel(self, actor: Principal, deployment_id: str, audit: AuditEntry) -> Writes:
        """End a queued run at once; mark a running one for the executor to stop."""
        latest = self.latest_row(deployment_id)
        audit = self._check(actor, Permission.CANCEL, latest.service, latest.environment, audit)
        execution = self.store.execution(deployment_id)
        check_cancellable(deployment_id, latest, execution is not None and execution.state != DONE)
        assert execution is not None
        result = ActionResult(
            deployment_id=deployment_id,
            action=Action.CANCEL,
            service=execution.service,
            environment=execution.environment,
            version=execution.version,
            status="cancelling" if execution.state == RUNNING else Status.CANCELLED.value,
        )
        if execution.state == RUNNING:
            # The executor stops the driver and appends the `cancelled` row.
            return Writes(audit=[audit], response=result.model_dump_json(), value=execution)
        row = make_row(
            execution, Status.CANCELLED, self.clock(), message=f"cancelled by {actor.name}"
        )
        return Writes(
            rows=[row],
            states=[(deployment_id, DONE)],
            audit=[audit],
            response=result.model_dump_json(),
            value=None,
        )

    # -- the executor's transitions --------------------------------------------------

    def decide_claim(
        self, service: str, environment: str, note: str, owner: str, lease_until: int
    ) -> Writes:
        """Start the slot's oldest queued run, unless one is running there already; `owner`
        holds it until `lease_until` (µs) unless it renews."""
        active = self.store.executions(
            service=service, environment=environment, states=[QUEUED, RUNNING]
        )
        if not active or any(e.state == RUNNING for e in active):
            return Writes()
        execution = active[0]
        return Writes(
            rows=[make_row(execution, Status.IN_PROGRESS, self.clock(), message=note)],
            states=[(execution.deployment_id, RUNNING)],
            leases=[(execution.deployment_id, owner, lease_until)],
            value=execution,
        )

    def decide_renew(self, owner: str, deployment_ids: list[str], lease_until: int) -> Writes:
        """Extend `owner`'s leases of the runs it is still running."""
        leases = []
        for deployment_id in deployment_ids:
            stored = self.store.execution(deployment_id)
            if stored is not None and stored.state == RUNNING and stored.owner == owner:
                leases.append((deployment_id, owner, lease_until))
        return Writes(leases=leases, value={deployment_id for deployment_id, _, _ in leases})

    def decide_phase(self, execution: ExecutionRecord, row: NewDeploymentRow, owner: str) -> Writes:
        """A running run's phase row, unless the run was ended meanwhile (cancelled on
        another replica, or declared lost): then nothing, so the slot cannot look busy."""
        stored = self.store.execution(execution.deployment_id)
        if stored is None or stored.state != RUNNING or stored.owner not in (None, owner):
            return Writes()
        return Writes(rows=[row])

    def decide_finish(self, execution: ExecutionRecord, status: Status, message: str) -> Writes:
        """End a running run (once: a second finish writes nothing)."""
        stored = self.store.execution(execution.deployment_id)
        if stored is None or stored.state == DONE:
            return Writes()
        return Writes(
            rows=[make_row(execution, status, self.clock(), message=message)],
            states=[(execution.deployment_id, DONE)],
            value=execution,
        )

    def decide_recover(self, message: str, owner: str, live: set[str] | None = None) -> Writes:
        """Fail the runs nobody is running any more: `owner`'s own that it does not run now
        (`live`, once their lease lapsed; all of them at its start), unowned ones, and
        others' whose lease lapsed (their replica died). Nothing stays in progress forever.

        `live` is a snapshot taken before this transaction: a run `owner` claimed since is
        not in it but holds a fresh lease, so only a lapsed lease proves an own run orphaned.
        """
        now = to_micros(self.clock())
        rows, states, ended = [], [], []
        for e in self.store.executions(states=[RUNNING]):
            if e.owner is None or e.owner == owner:
                claimed_since = e.owner is not None and (e.lease_until or 0) >= now
                if live is not None and (e.deployment_id in live or claimed_since):
                    continue
                why = message
            elif e.lease_until is not None and e.lease_until < now:
                why = (
                    f"lost: replica {e.owner} stopped renewing its lease on this run; its "
                    "outcome is unknown — check the target, then deploy or roll back"
                )
            else:
                continue
            rows.append(make_row(e, Status.FAILURE, self.clock(), message=why))
            states.append((e.deployment_id, DONE))
            ended.append(e)
        return Writes(rows=rows, states=states, value=ended)


__all__ = ["ActionDecider"]
