"""Policies, locks and freezes: what refuses an action on an environment, read inside the
caller's transaction.

`PolicyGate.check` is called by every decision that changes a slot: the role and the key's
scopes, the environment's lock, its freeze windows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..domain import ActionProblem, Role
from ..domain.authz import SCOPED, Permission, decide
from ..domain.policy import EnvironmentPolicy
from ..domain.promotions import EnvironmentView, LockView
from .keys import Principal
from .rows import micros_to_datetime
from .store import EnvironmentRecord, Store

FREEZABLE = frozenset({Permission.DEPLOY, Permission.PROMOTE, Permission.RETRY})
"""What a freeze window refuses (rollbacks stay possible: they restore a known state)."""
LOCKABLE = SCOPED
"""What a lock refuses: every action on the environment (the actions a key's scopes limit)."""


class PolicyGate:
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


def environment_document(gate: PolicyGate, environment: str) -> str:
    """An environment's policy, lock and active freeze as JSON (API and events)."""
    record = gate.record(environment)
    policy = gate.policy(environment)
    return environment_view(record, policy, gate.clock()).model_dump_json()


def environment_view(
    record: EnvironmentRecord, policy: EnvironmentPolicy, now: datetime
) -> EnvironmentView:
    """An environment's state as the API shows it."""
    lock = None
    if record.locked_by is not None:
        lock = LockView(
            by=record.locked_by,
            reason=record.lock_reason or "",
            at=micros_to_datetime(record.locked_at or 0),
        )
    window = policy.active_freeze(now)
    return EnvironmentView(
        environment=record.environment,
        policy=policy,
        summary=policy.summary(),
        lock=lock,
        frozen=None if window is None else window.describe(),
    )


__all__ = ["FREEZABLE", "LOCKABLE", "PolicyGate", "environment_document", "environment_view"]
