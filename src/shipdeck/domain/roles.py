"""Roles of principals, in increasing power."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a principal may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"
    REPORTER = "reporter"
    DEPLOYER = "deployer"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order of power (viewer is 0)."""
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        """Whether this role includes everything `other` may do."""
        return self.rank >= other.rank
