"""Who may do what, where: roles, scopes and the decision for one request. Pure.

A principal has a role and, optionally, scopes: the services and the environments its key may
act on. A scope of `None` means "all". Reads are never scoped (the dashboard shows everything
a key may read); every action that changes a slot is checked against both scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .roles import Role


class Permission(StrEnum):
    """Everything an API caller can ask for, by what it changes."""

    READ = "read"
    INGEST = "ingest"
    """Report rows and log lines, store fetcher cursors."""
    DEPLOY = "deploy"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    CANCEL = "cancel"
    RETRY = "retry"
    APPROVE = "approve"
    REJECT = "reject"
    LOCK = "lock"
    UNLOCK = "unlock"
    SET_POLICY = "set-policy"
    OVERRIDE_FREEZE = "override-freeze"
    READ_AUDIT = "read-audit"


MINIMUM_ROLE: dict[Permission, Role] = {
    Permission.READ: Role.VIEWER,
    Permission.INGEST: Role.REPORTER,
    Permission.DEPLOY: Role.DEPLOYER,
    Permission.PROMOTE: Role.DEPLOYER,
    Permission.ROLLBACK: Role.DEPLOYER,
    Permission.CANCEL: Role.DEPLOYER,
    Permission.RETRY: Role.DEPLOYER,
    Permission.APPROVE: Role.APPROVER,
    Permission.REJECT: Role.APPROVER,
    Permission.LOCK: Role.ADMIN,
    Permission.UNLOCK: Role.ADMIN,
    Permission.SET_POLICY: Role.ADMIN,
    Permission.OVERRIDE_FREEZE: Role.ADMIN,
    Permission.READ_AUDIT: Role.ADMIN,
}
"""The least role for each permission (an environment's policy may name more approvers)."""

SCOPED: frozenset[Permission] = frozenset(
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
"""Permissions checked against a key's service and environment scopes."""


@dataclass(frozen=True, slots=True)
class Scopes:
    """The services and environments a key may act on (`None`: every one)."""

    services: frozenset[str] | None = None
    environments: frozenset[str] | None = None

    @classmethod
    def of(
        cls, services: Iterable[str] | None = None, environments: Iterable[str] | None = None
    ) -> Scopes:
        """Scopes from lists (`None` or empty: unrestricted)."""
        return cls(
            frozenset(services) if services else None,
            frozenset(environments) if environments else None,
        )

    def covers(self, service: str | None, environment: str | None) -> bool:
        """Whether a slot (or a part of one) is inside the scopes."""
        if service is not None and self.services is not None and service not in self.services:
            return False
        return not (
            environment is not None
            and self.environments is not None
            and environment not in self.environments
        )

    def describe(self) -> str:
        """The scopes in words."""
        parts = []
        if self.services is not None:
            parts.append(f"services {', '.join(sorted(self.services))}")
        if self.environments is not None:
            parts.append(f"environments {', '.join(sorted(self.environments))}")
        return " and ".join(parts) or "everything"


UNSCOPED = Scopes()


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or refused with a sentence saying why."""

    allowed: bool
    reason: str = ""


def decide(
    principal: str,
    role: Role,
    scopes: Scopes,
    permission: Permission,
    service: str | None = None,
    environment: str | None = None,
) -> Decision:
    """Whether `principal` may use `permission` on the slot (`service`, `environment`)."""
    needed = MINIMUM_ROLE[permission]
    if not role.at_least(needed):
        return Decision(
            False,
            f"principal {principal!r} has role {role.value}; {permission.value} needs "
            f"{needed.value} or above",
        )
    if permission in SCOPED and not scopes.covers(service, environment):
        where = " in ".join(p for p in (service, environment) if p)
        return Decision(
            False,
            f"the key of {principal!r} is limited to {scopes.describe()}; it may not "
            f"{permission.value} {where}",
        )
    return Decision(True)


__all__ = ["MINIMUM_ROLE", "SCOPED", "UNSCOPED", "Decision", "Permission", "Scopes", "decide"]
