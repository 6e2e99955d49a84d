"""The decision table of `shipdeck.domain.authz`: roles × permissions, and the scopes of a key.

The expected table is written out here, not derived from `MINIMUM_ROLE`, so a change to who
may do what fails a test until this table (and the docs) are changed with it.
"""

from __future__ import annotations

import pytest

from shipdeck.domain import Role
from shipdeck.domain.authz import (
    MINIMUM_ROLE,
    SCOPED,
    UNSCOPED,
    Decision,
    Permission,
    Scopes,
    decide,
)

V, R, D, AP, AD = Role.VIEWER, Role.REPORTER, Role.DEPLOYER, Role.APPROVER, Role.ADMIN

# permission → the roles allowed it (every other role is refused)
ALLOWED: dict[str, set[Role]] = {
    "read": {V, R, D, AP, AD},
    "ingest": {R, D, AP, AD},
    "deploy": {D, AP, AD},
    "promote": {D, AP, AD},
    "rollback": {D, AP, AD},
    "cancel": {D, AP, AD},
    "retry": {D, AP, AD},
    "approve": {AP, AD},
    "reject": {AP, AD},
    "lock": {AD},
    "unlock": {AD},
    "set-policy": {AD},
    "override-freeze": {AD},
    "read-audit": {AD},
}

TABLE = [
    (Permission(permission), role, role in allowed)
    for permission, allowed in ALLOWED.items()
    for role in Role
]


def test_the_table_names_every_permission_and_role() -> None:
    assert {p.value for p in Permission} == set(ALLOWED)
    assert set(MINIMUM_ROLE) == set(Permission)
    assert [r.value for r in Role] == ["viewer", "reporter", "deployer", "approver", "admin"]


@pytest.mark.parametrize(
    ("permission", "role", "allowed"),
    TABLE,
    ids=[f"{r.value}-{p.value}-{'allow' if ok else 'deny'}" for p, r, ok in TABLE],
)
def test_role_decides_permission(permission: Permission, role: Role, allowed: bool) -> None:
    decision = decide("alice", role, UNSCOPED, permission, "checkout-api", "prod")
    assert decision.allowed is allowed
    if allowed:
        assert decision == Decision(True, "")
    else:
        needed = MINIMUM_ROLE[permission].value
        assert decision.reason == (
            f"principal 'alice' has role {role.value}; {permission.value} needs {needed} or above"
        )


def test_the_least_roles() -> None:
    assert {p.value: r.value for p, r in MINIMUM_ROLE.items()} == {
        "read": "viewer",
        "ingest": "reporter",
        "deploy": "deployer",
        "promote": "deployer",
        "rollback": "deployer",
        "cancel": "deployer",
        "retry": "deployer",
        "approve": "approver",
        "reject": "approver",
        "lock": "admin",
        "unlock": "admin",
        "set-policy": "admin",
        "override-freeze": "admin",
        "read-audit": "admin",
    }


def test_which_permissions_are_scoped() -> None:
    assert {p.value for p in SCOPED} == {
        "deploy",
        "promote",
        "rollback",
        "cancel",
        "retry",
        "approve",
        "reject",
    }


# -- scopes ------------------------------------------------------------------------------

PAYMENTS_IN_STAGING = Scopes.of(["payments"], ["staging", "qa"])


@pytest.mark.parametrize(
    ("service", "environment", "allowed"),
    [
        ("payments", "staging", True),
        ("payments", "qa", True),
        ("payments", "prod", False),
        ("checkout-api", "staging", False),
        ("checkout-api", "prod", False),
        # Only the part given is checked.
        ("payments", None, True),
        (None, "qa", True),
        ("checkout-api", None, False),
        (None, "prod", False),
        (None, None, True),
    ],
)
def test_scopes_limit_slot_actions(
    service: str | None, environment: str | None, allowed: bool
) -> None:
    decision = decide("ci", D, PAYMENTS_IN_STAGING, Permission.DEPLOY, service, environment)
    assert decision.allowed is allowed
    assert PAYMENTS_IN_STAGING.covers(service, environment) is allowed


def test_a_scope_refusal_says_where_and_why() -> None:
    decision = decide("ci", AD, PAYMENTS_IN_STAGING, Permission.ROLLBACK, "payments", "prod")
    assert decision == Decision(
        False,
        "the key of 'ci' is limited to services payments and environments qa, staging; "
        "it may not rollback payments in prod",
    )
    only_service = decide("ci", D, PAYMENTS_IN_STAGING, Permission.CANCEL, "checkout-api")
    assert only_service.reason.endswith("it may not cancel checkout-api")


@pytest.mark.parametrize("permission", sorted(SCOPED))
def test_every_scoped_permission_is_refused_outside_the_scopes(permission: Permission) -> None:
    assert not decide("ci", AD, PAYMENTS_IN_STAGING, permission, "payments", "prod").allowed
    assert not decide("ci", AD, PAYMENTS_IN_STAGING, permission, "orders", "qa").allowed
    assert decide("ci", AD, PAYMENTS_IN_STAGING, permission, "payments", "qa").allowed


@pytest.mark.parametrize("permission", sorted(set(Permission) - SCOPED))
def test_unscoped_permissions_ignore_the_scopes(permission: Permission) -> None:
    """Reads, ingest and the admin permissions are not limited by a key's scopes."""
    assert decide("ci", AD, PAYMENTS_IN_STAGING, permission, "orders", "prod").allowed


def test_the_role_is_checked_before_the_scopes() -> None:
    decision = decide("bob", V, PAYMENTS_IN_STAGING, Permission.DEPLOY, "orders", "prod")
    assert not decision.allowed
    assert decision.reason.startswith("principal 'bob' has role viewer; deploy needs deployer")


def test_scopes_of_empty_lists_mean_everything() -> None:
    assert Scopes.of() == UNSCOPED == Scopes(None, None)
    assert Scopes.of([], []) == UNSCOPED
    assert Scopes.of(["a", "a"], None) == Scopes(frozenset({"a"}), None)
    assert UNSCOPED.covers("anything", "anywhere")
    assert decide("ci", D, Scopes.of([], []), Permission.DEPLOY, "orders", "prod").allowed


def test_a_service_only_scope_allows_every_environment() -> None:
    scopes = Scopes.of(services=["payments"])
    assert decide("ci", D, scopes, Permission.PROMOTE, "payments", "prod").allowed
    assert not decide("ci", D, scopes, Permission.PROMOTE, "orders", "dev").allowed
    environment_only = Scopes.of(environments=["dev"])
    assert decide("ci", D, environment_only, Permission.RETRY, "orders", "dev").allowed
    assert not decide("ci", D, environment_only, Permission.RETRY, "orders", "prod").allowed


def test_scopes_in_words() -> None:
    assert UNSCOPED.describe() == "everything"
    assert Scopes.of(["b", "a"]).describe() == "services a, b"
    assert Scopes.of(environments=["prod"]).describe() == "environments prod"
    assert PAYMENTS_IN_STAGING.describe() == "services payments and environments qa, staging"
