"""Policies, locks, freezes and promotions awaiting approval, decided inside transactions.

`Guard.check` is called by every decision that changes a slot: the role and the key's scopes,
the environment's lock, its freeze windows. Promotion decisions (`decide_request`,
`decide_approve`, `decide_reject`, `decide_withdraw`, `decide_expire`) run on the writer
thread inside `Store.commit`, so a quorum is reached exactly once however many approvals
arrive together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import uuid_utils

from ..domain import ActionProblem, Role, Status, to_micros
from ..domain.authz import Permission, decide
from ..domain.policy import EnvironmentPolicy
from ..domain.promotions import (
    AWAITING,
    ApprovalView,
    EnvironmentView,
    LockView,
    PromotionView,
    blocking,
)
from .keys import Principal
from .store import (
    ApprovalRecord,
    AuditEntry,
    EnvironmentRecord,
    ExecutionRecord,
    NewEvent,
    PromotionRecord,
    Store,
    Writes,
)

if TYPE_CHECKING:
    from .actions import Desk

FREEZABLE = frozenset({Permission.DEPLOY, Permission.PROMOTE, Permission.RETRY})
"""What a freeze window refuses (rollbacks stay possible: they restore a known state)."""
LOCKABLE = frozenset(
    {
        Permission.DEPLOY,
        Permission.PROMOTE,
        Permission.ROLLBACK,
        Permission.CANCEL,
        Permission.RETRY,
        Permission.APPROVE,
        Permission.REJECT,
    }
)
"""What a lock refuses: every action on the environment."""


def _micros_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


class Guard:
    """Reads policies and locks (inside the caller's transaction) and refuses what they forbid."""

    def __init__(
        self,
        store: Store,
        configured: dict[str, EnvironmentPolicy],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.configured = configured
        self.clock = clock

    def record(self, environment: str) -> EnvironmentRecord:
        """The environment's stored state (lock, API-set policy)."""
        for record in self.store.environment_records():
            if record.environment == environment:
                return record
        return EnvironmentRecord(environment)

    def policy(self, environment: str) -> EnvironmentPolicy:
        """The API-set policy, else the TOML's, else none."""
        stored = self.record(environment).policy
        if stored is not None:
            return EnvironmentPolicy.model_validate_json(stored)
        return self.configured.get(environment, EnvironmentPolicy())

    def check(
        self,
        actor: Principal,
        permission: Permission,
        service: str | None,
        environment: str,
        *,
        override_reason: str | None = None,
    ) -> str | None:
        """Refuse with an `ActionProblem`, or return the reason to audit (a freeze override).

        Raises:
            ActionProblem: forbidden (403), environment-locked or freeze-window (409).
        """
        policy = self.policy(environment)
        if permission in (Permission.APPROVE, Permission.REJECT):
            if not policy.may_approve(actor.name, actor.role):
                raise ActionProblem(
                    "forbidden",
                    f"{environment}'s policy lets {', '.join(policy.approvers)} approve; "
                    f"{actor.name!r} (role {actor.role.value}) is not one of them",
                    403,
                )
            checked = decide(actor.name, Role.ADMIN, actor.scopes, permission, service, environment)
        else:
            checked = decide(actor.name, actor.role, actor.scopes, permission, service, environment)
        if not checked.allowed:
            raise ActionProblem("forbidden", checked.reason, 403)
        state = self.record(environment)
        if permission in LOCKABLE and state.locked_by is not None:
            raise ActionProblem(
                "environment-locked",
                f"{environment} is locked by {state.locked_by}: {state.lock_reason}; an admin "
                "unlocks it (POST /api/environments/{name}/unlock) before anything runs there",
            )
        if permission in FREEZABLE:
            window = policy.active_freeze(self.clock())
            if window is not None:
                if override_reason and actor.role is Role.ADMIN:
                    return f"freeze override ({window.name}): {override_reason}"
                raise ActionProblem(
                    "freeze-window",
                    f"{environment} is frozen: {window.describe()}; wait until the window "
                    "ends, or an admin may override it with a reason",
                )
        return None

    def approval_gate(self, actor: Principal, environment: str, permission: Permission) -> None:
        """Refuse to bypass an approval policy by deploying directly (admins may).

        Raises:
            ActionProblem: approval-required.
        """
        policy = self.policy(environment)
        if policy.approvals_required and actor.role is not Role.ADMIN:
            raise ActionProblem(
                "approval-required",
                f"{environment} needs {policy.approvals_required} approval(s) "
                f"({policy.summary()}); promote into it from the previous environment instead "
                f"of a direct {permission.value}",
            )


class Promotions:
    """Decisions on promotions awaiting approval (see the module docstring)."""

    def __init__(self, desk: Desk, guard: Guard) -> None:
        self.desk = desk
        self.guard = guard
        self.store = desk.store

    def view(self, record: PromotionRecord) -> PromotionView:
        """A promotion with its decisions and what still blocks it."""
        approvals = self.store.approvals(record.id)
        policy = self.guard.policy(record.to_environment)
        return promotion_view(record, [approval_view(a) for a in approvals], policy)

    def get(self, promotion_id: str) -> PromotionRecord:
        """One promotion.

        Raises:
            ActionProblem: not found (404).
        """
        found = self.store.promotion(promotion_id)
        if found is None:
            raise ActionProblem("not-found", f"no promotion has id {promotion_id!r}", 404)
        return found

    def _event(self, record: PromotionRecord) -> NewEvent:
        return NewEvent("promotion", record.service, self.view(record).model_dump_json())

    def request(
        self,
        actor: Principal,
        execution: ExecutionRecord,
        policy: EnvironmentPolicy,
        from_environment: str,
        audit: AuditEntry,
    ) -> Writes:
        """A promotion that waits: a record, a `waiting` row in the target slot, an event."""
        from .actions import make_row

        now = to_micros(self.guard.clock())
        record = PromotionRecord(
            id=f"pr-{uuid_utils.uuid7()}",
            service=execution.service,
            from_environment=from_environment,
            to_environment=execution.environment,
            version=execution.version,
            source_deployment_id=execution.parents[0] if execution.parents else None,
            deployment_id=execution.deployment_id,
            requester=actor.name,
            status=AWAITING,
            approvals_required=policy.approvals_required,
            created_at=now,
            expires_at=now + int(policy.expire_after_hours * 3600 * 1_000_000),
        )
        n = policy.approvals_required
        row = make_row(
            execution,
            Status.WAITING,
            message=f"awaiting {n} approval{'s' if n != 1 else ''} ({record.id})",
        )
        view = promotion_view(record, [], policy)
        return Writes(
            rows=[row],
            promotions=[record],
            events=[NewEvent("promotion", record.service, view.model_dump_json())],
            audit=[audit],
            value=record,
        )

    def decide_approve(
        self, actor: Principal, promotion_id: str, comment: str | None, audit: AuditEntry
    ) -> Writes:
        """Count one principal's approval; at the quorum, queue the deployment (once)."""
        from .actions import QUEUED, make_row

        record = self._open(promotion_id)
        self.guard.check(actor, Permission.APPROVE, record.service, record.to_environment)
        policy = self.guard.policy(record.to_environment)
        approvals = self.store.approvals(promotion_id)
        self._may_decide(actor, record, policy, approvals)
        at = to_micros(self.guard.clock())
        approval = ApprovalRecord(promotion_id, actor.name, "approve", comment, actor.key_id, at)
        count = 1 + sum(1 for a in approvals if a.decision == "approve")
        if count < record.approvals_required:
            return Writes(
                approvals=[approval],
                events=[self._event_after(record, [*approvals, approval], policy)],
                audit=[audit],
                value=record,
            )
        approved = _replace(record, status="approved", decided_at=at, decided_by=actor.name)
        execution = ExecutionRecord(
            deployment_id=record.deployment_id,
            service=record.service,
            environment=record.to_environment,
            version=record.version,
            action="promote",
            actor=record.requester,
            parents=(record.source_deployment_id,) if record.source_deployment_id else (),
            state=QUEUED,
            requested_at=at,
        )
        row = make_row(
            execution,
            Status.QUEUED,
            message=f"approved ({count} of {record.approvals_required}, last by {actor.name})",
        )
        return Writes(
            rows=[row],
            executions=[execution],
            approvals=[approval],
            promotions=[approved],
            events=[self._event_after(approved, [*approvals, approval], policy)],
            audit=[audit],
            value=execution,
        )

    def decide_reject(
        self, actor: Principal, promotion_id: str, comment: str | None, audit: AuditEntry
    ) -> Writes:
        """One rejection ends the promotion: a `rejected` row in the target slot."""
        record = self._open(promotion_id)
        self.guard.check(actor, Permission.REJECT, record.service, record.to_environment)
        policy = self.guard.policy(record.to_environment)
        approvals = self.store.approvals(promotion_id)
        self._may_decide(actor, record, policy, approvals, rejecting=True)
        at = to_micros(self.guard.clock())
        approval = ApprovalRecord(promotion_id, actor.name, "reject", comment, actor.key_id, at)
        said = f": {comment}" if comment else ""
        return self._close(
            record,
            "rejected",
            Status.REJECTED,
            f"rejected by {actor.name}{said}",
            actor.name,
            comment,
            audit,
            approvals=[*approvals, approval],
            new_approval=approval,
        )

    def decide_withdraw(
        self, actor: Principal, promotion_id: str, reason: str | None, audit: AuditEntry
    ) -> Writes:
        """The requester (or an admin) withdraws a promotion: a `cancelled` row."""
        record = self._open(promotion_id)
        if actor.name != record.requester and actor.role is not Role.ADMIN:
            raise ActionProblem(
                "forbidden",
                f"only {record.requester} (who asked for it) or an admin can cancel {record.id}",
                403,
            )
        said = f": {reason}" if reason else ""
        return self._close(
            record,
            "cancelled",
            Status.CANCELLED,
            f"promotion cancelled by {actor.name}{said}",
            actor.name,
            reason,
            audit,
        )

    def decide_expire(self, now: datetime) -> Writes:
        """End every promotion whose time to be approved has passed."""
        from .actions import make_row

        micros = to_micros(now)
        rows, records, events, audit = [], [], [], []
        for record in self.store.promotions(status=AWAITING, limit=10_000):
            if record.expires_at > micros:
                continue
            expired = _replace(record, status="expired", decided_at=micros, reason="expired")
            hours = (record.expires_at - record.created_at) / 3_600_000_000
            execution = _execution_of(record)
            rows.append(
                make_row(
                    execution,
                    Status.CANCELLED,
                    message=f"expired: no decision within {hours:g} h ({record.id})",
                )
            )
            records.append(expired)
            events.append(self._event(expired))
            audit.append(
                AuditEntry(micros, None, "expire-promotion", record.id, None, "ok", "expired")
            )
        return Writes(rows=rows, promotions=records, events=events, audit=audit, value=records)

    # -- helpers -------------------------------------------------------------------

    def _open(self, promotion_id: str) -> PromotionRecord:
        record = self.get(promotion_id)
        if record.status != AWAITING:
            raise ActionProblem(
                "promotion-closed",
                f"{record.id} is {record.status}; only a promotion awaiting approval can be "
                "decided or cancelled",
            )
        if record.expires_at <= to_micros(self.guard.clock()):
            raise ActionProblem(
                "promotion-expired",
                f"{record.id} expired unapproved; promote again to ask anew",
            )
        return record

    @staticmethod
    def _may_decide(
        actor: Principal,
        record: PromotionRecord,
        policy: EnvironmentPolicy,
        approvals: list[ApprovalRecord],
        *,
        rejecting: bool = False,
    ) -> None:
        if actor.name == record.requester and not policy.self_approval and not rejecting:
            raise ActionProblem(
                "self-approval",
                f"{actor.name} asked for {record.id} and {record.to_environment}'s policy does "
                "not allow approving one's own request; ask another approver",
                403,
            )
        if any(a.principal == actor.name for a in approvals):
            raise ActionProblem(
                "already-decided",
                f"{actor.name} already decided on {record.id} (approvals count once per "
                "principal, whichever key is used)",
            )

    def _event_after(
        self, record: PromotionRecord, approvals: list[ApprovalRecord], policy: EnvironmentPolicy
    ) -> NewEvent:
        view = promotion_view(record, [approval_view(a) for a in approvals], policy)
        return NewEvent("promotion", record.service, view.model_dump_json())

    def _close(
        self,
        record: PromotionRecord,
        status: str,
        row_status: Status,
        message: str,
        by: str,
        reason: str | None,
        audit: AuditEntry,
        *,
        approvals: list[ApprovalRecord] | None = None,
        new_approval: ApprovalRecord | None = None,
    ) -> Writes:
        from .actions import make_row

        at = to_micros(self.guard.clock())
        closed = _replace(record, status=status, decided_at=at, decided_by=by, reason=reason)
        policy = self.guard.policy(record.to_environment)
        decisions = approvals if approvals is not None else self.store.approvals(record.id)
        return Writes(
            rows=[make_row(_execution_of(record), row_status, message=message)],
            approvals=[new_approval] if new_approval else [],
            promotions=[closed],
            events=[self._event_after(closed, decisions, policy)],
            audit=[audit],
            value=closed,
        )


def _execution_of(record: PromotionRecord) -> ExecutionRecord:
    return ExecutionRecord(
        deployment_id=record.deployment_id,
        service=record.service,
        environment=record.to_environment,
        version=record.version,
        action="promote",
        actor=record.requester,
        parents=(record.source_deployment_id,) if record.source_deployment_id else (),
        state="done",
        requested_at=record.created_at,
    )


def _replace(record: PromotionRecord, **changes: object) -> PromotionRecord:
    from dataclasses import replace

    return replace(record, **changes)  # type: ignore[arg-type]


def environment_document(guard: Guard, environment: str) -> str:
    """An environment's policy, lock and active freeze as JSON (API and events)."""
    record = guard.record(environment)
    policy = guard.policy(environment)
    return environment_view(record, policy, guard.clock()).model_dump_json()


def approval_view(record: ApprovalRecord) -> ApprovalView:
    """A stored decision as the API shows it."""
    return ApprovalView(
        principal=record.principal,
        decision=record.decision,
        comment=record.comment,
        at=_micros_to_datetime(record.at),
    )


def promotion_view(
    record: PromotionRecord, approvals: list[ApprovalView], policy: EnvironmentPolicy
) -> PromotionView:
    """A stored promotion as the API shows it."""
    approved = sum(1 for a in approvals if a.decision == "approve")
    return PromotionView(
        id=record.id,
        service=record.service,
        from_environment=record.from_environment,
        to_environment=record.to_environment,
        version=record.version,
        source_deployment_id=record.source_deployment_id,
        deployment_id=record.deployment_id,
        requester=record.requester,
        status=record.status,
        approvals_required=record.approvals_required,
        approvals=approvals,
        created_at=_micros_to_datetime(record.created_at),
        expires_at=_micros_to_datetime(record.expires_at),
        decided_at=None if record.decided_at is None else _micros_to_datetime(record.decided_at),
        decided_by=record.decided_by,
        reason=record.reason,
        policy=policy.summary(),
        blocked_by=blocking(record.status, record.approvals_required, approved, []),
    )


def environment_view(
    record: EnvironmentRecord, policy: EnvironmentPolicy, now: datetime
) -> EnvironmentView:
    """An environment's state as the API shows it."""
    lock = None
    if record.locked_by is not None:
        lock = LockView(
            by=record.locked_by,
            reason=record.lock_reason or "",
            at=_micros_to_datetime(record.locked_at or 0),
        )
    window = policy.active_freeze(now)
    return EnvironmentView(
        environment=record.environment,
        policy=policy,
        summary=policy.summary(),
        lock=lock,
        frozen=None if window is None else window.describe(),
    )


__all__ = [
    "FREEZABLE",
    "LOCKABLE",
    "Guard",
    "Promotions",
    "approval_view",
    "environment_document",
    "environment_view",
    "promotion_view",
]
