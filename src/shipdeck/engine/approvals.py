"""Promotions awaiting approval, decided inside transactions.

The decisions (`request`, `decide_approve`, `decide_reject`, `decide_withdraw`,
`decide_expire`) run on the writer thread inside `Store.commit`, so a quorum is reached
exactly once however many approvals arrive together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import uuid_utils

from ..domain import Action, ActionProblem, Role, Status, to_micros
from ..domain.authz import Permission
from ..domain.policy import EnvironmentPolicy
from ..domain.promotions import AWAITING, ApprovalView, PromotionView, blocking
from .gate import PolicyGate
from .keys import Principal
from .rows import QUEUED, make_row, micros_to_datetime, promotion_execution
from .store import (
    ApprovalRecord,
    AuditEntry,
    ExecutionRecord,
    NewEvent,
    PromotionRecord,
    Store,
    Writes,
)

EXPIRE_AUDIT = "expire-promotion"
"""The audit action of a promotion ended for want of approvals."""


class PromotionDecider:
    """Decisions on promotions awaiting approval (see the module docstring)."""

    def __init__(self, store: Store, gate: PolicyGate, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.gate = gate
        self.clock = clock

    def view(self, record: PromotionRecord) -> PromotionView:
        """A promotion with its decisions and what still blocks it."""
        approvals = self.store.approvals(record.id)
        policy = self.gate.policy(record.to_environment)
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
        moment = self.clock()
        now = to_micros(moment)
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
            moment,
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
        record = self._open(promotion_id)
        self.gate.check(actor, Permission.APPROVE, record.service, record.to_environment)
        policy = self.gate.policy(record.to_environment)
        approvals = self.store.approvals(promotion_id)
        self._may_decide(actor, record, policy, approvals)
        moment = self.clock()
        at = to_micros(moment)
        approval = ApprovalRecord(
            promotion_id, actor.name, Action.APPROVE.value, comment, actor.key_id, at
        )
        count = 1 + sum(1 for a in approvals if a.decision == Action.APPROVE)
        if count < record.approvals_required:
            return Writes(
                approvals=[approval],
                events=[self._event_after(record, [*approvals, approval], policy)],
                audit=[audit],
                value=record,
            )
        approved = replace(record, status="approved", decided_at=at, decided_by=actor.name)
        execution = promotion_execution(record, QUEUED, at)
        row = make_row(
            execution,
            Status.QUEUED,
            moment,
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
        self.gate.check(actor, Permission.REJECT, record.service, record.to_environment)
        policy = self.gate.policy(record.to_environment)
        approvals = self.store.approvals(promotion_id)
        self._may_decide(actor, record, policy, approvals, rejecting=True)
        at = to_micros(self.clock())
        approval = ApprovalRecord(
            promotion_id, actor.name, Action.REJECT.value, comment, actor.key_id, at
        )
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
        micros = to_micros(now)
        rows, records, events, audit = [], [], [], []
        for record in self.store.promotions(status=AWAITING, limit=10_000):
            if record.expires_at > micros:
                continue
            expired = replace(record, status="expired", decided_at=micros, reason="expired")
            hours = (record.expires_at - record.created_at) / 3_600_000_000
            execution = promotion_execution(record)
            rows.append(
                make_row(
                    execution,
                    Status.CANCELLED,
                    now,
                    message=f"expired: no decision within {hours:g} h ({record.id})",
                )
            )
            records.append(expired)
            events.append(self._event(expired))
            audit.append(AuditEntry(micros, None, EXPIRE_AUDIT, record.id, None, "ok", "expired"))
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
        if record.expires_at <= to_micros(self.clock()):
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
        moment = self.clock()
        at = to_micros(moment)
        closed = replace(record, status=status, decided_at=at, decided_by=by, reason=reason)
        policy = self.gate.policy(record.to_environment)
        decisions = approvals if approvals is not None else self.store.approvals(record.id)
        return Writes(
            rows=[make_row(promotion_execution(record), row_status, moment, message=message)],
            approvals=[new_approval] if new_approval else [],
            promotions=[closed],
            events=[self._event_after(closed, decisions, policy)],
            audit=[audit],
            value=closed,
        )


def approval_view(record: ApprovalRecord) -> ApprovalView:
    """A stored decision as the API shows it."""
    return ApprovalView(
        principal=record.principal,
        decision=record.decision,
        comment=record.comment,
        at=micros_to_datetime(record.at),
    )


def promotion_view(
    record: PromotionRecord, approvals: list[ApprovalView], policy: EnvironmentPolicy
) -> PromotionView:
    """A stored promotion as the API shows it."""
    approved = sum(1 for a in approvals if a.decision == Action.APPROVE)
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
        created_at=micros_to_datetime(record.created_at),
        expires_at=micros_to_datetime(record.expires_at),
        decided_at=None if record.decided_at is None else micros_to_datetime(record.decided_at),
        decided_by=record.decided_by,
        reason=record.reason,
        policy=policy.summary(),
        blocked_by=blocking(record.status, record.approvals_required, approved, []),
    )


__all__ = ["EXPIRE_AUDIT", "PromotionDecider", "approval_view", "promotion_view"]
