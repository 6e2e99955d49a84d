"""Actions on slots and deployments: request bodies, answers, and the pure rules that plan them.

Everything here is pure: the engine reads the slot and the deployment's rows, asks these
functions what to do, and appends the rows they describe. A refusal is an `ActionProblem`
whose sentence tells a person what to do instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .authz import UNSCOPED, Scopes
from .models import DeploymentEvent, DeploymentId
from .roles import Role
from .status import Status

ServiceName = Annotated[str, Field(min_length=1, max_length=128)]
EnvironmentName = Annotated[str, Field(min_length=1, max_length=64)]
Version = Annotated[str, Field(min_length=1, max_length=50)]

ACTOR_ROLE = Role.DEPLOYER
"""The least role that may deploy, promote, roll back, cancel and retry."""

IDEMPOTENCY_KEY_MAX = 200
"""The longest `Idempotency-Key` accepted."""
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,198}[!-~])?$"
"""1 to 200 printable ASCII characters (a structured-field string, as the IETF draft has
it) that neither start nor end with a space: HTTP drops those spaces on the way."""


class Action(StrEnum):
    """What a user may ask the engine to do to a slot or a deployment."""

    DEPLOY = "deploy"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    CANCEL = "cancel"
    RETRY = "retry"
    APPROVE = "approve"
    REJECT = "reject"
    LOCK = "lock"
    UNLOCK = "unlock"


ACTIONS: tuple[Action, ...] = (
    Action.DEPLOY,
    Action.PROMOTE,
    Action.ROLLBACK,
    Action.CANCEL,
    Action.RETRY,
)
"""The actions on slots and deployments (a deployer's)."""

FINISHED: frozenset[Status] = frozenset(
    {Status.SUCCESS, Status.FAILURE, Status.CANCELLED, Status.REJECTED}
)
"""Statuses after which a logical deployment does not change any more."""


# -- request bodies (closed and strict, like every write body) --------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


OverrideReason = Annotated[str, Field(min_length=1, max_length=2000)]


class DeployRequest(_Body):
    """Body of `POST /api/deploys`."""

    service: ServiceName
    environment: EnvironmentName
    version: Version
    override_reason: OverrideReason | None = Field(
        default=None, description="An admin's reason to deploy during a freeze (audited)."
    )


class PromoteRequest(_Body):
    """Body of `POST /api/promotions`."""

    service: ServiceName
    from_environment: EnvironmentName
    to_environment: EnvironmentName | None = Field(
        default=None, description="Default: the environment after `from_environment`."
    )
    override_reason: OverrideReason | None = Field(
        default=None, description="An admin's reason to promote during a freeze (audited)."
    )


class RollbackRequest(_Body):
    """Body of `POST /api/deployments/{deployment_id}/rollback` (optional)."""

    version: Version | None = Field(
        default=None,
        description="Default: the slot's last successful version before its current one.",
    )


# -- answers ------------------------------------------------------------------------


class ActionResult(BaseModel):
    """The `202` answer of an accepted action."""

    deployment_id: DeploymentId
    """The logical deployment the action made (for `cancel`: the one it cancels)."""
    action: Action
    service: str
    environment: str
    version: str
    status: str
    """`queued` for a new deployment; `cancelled` or `cancelling` for a cancel."""
    superseded: list[str] = Field(default_factory=list)
    """Queued deployments of the slot this one replaced; they ended `cancelled`."""
    promotion_id: str | None = None
    """A promotion into an environment that asks for approvals: its id (status `waiting`)."""


class PolicySummary(BaseModel):
    """The policy of an environment, as far as an action needs to know it."""

    approvals_required: int = 0
    summary: str
    """In words, e.g. `no approval required`."""


class PromotionPlanDoc(BaseModel):
    """What a promotion would do (`GET /api/promotion-plan`)."""

    service: str
    from_environment: str
    to_environment: str
    version: str
    policy: PolicySummary


class RollbackPlanDoc(BaseModel):
    """What a rollback would do (`GET /api/deployments/{deployment_id}/rollback-plan`)."""

    deployment_id: str
    service: str
    environment: str
    from_version: str | None
    """The slot's current version."""
    version: str
    """The version the rollback deploys."""


class WhoAmI(BaseModel):
    """`GET /api/whoami`: who the caller is and what it may do."""

    principal: str | None
    role: Role | None
    actions: list[Action]
    read_only: bool
    reason: str | None = None
    """Why `actions` is empty, in words (and what to do about it)."""
    services: list[str] | None = None
    """The services the key may act on (`null`: all)."""
    environments: list[str] | None = None
    """The environments the key may act on (`null`: all)."""


def who_am_i(name: str | None, role: Role | None, scopes: Scopes = UNSCOPED) -> WhoAmI:
    """What a caller may do, from its name, role and scopes (`None`: no key)."""
    if name is None or role is None:
        return WhoAmI(
            principal=None,
            role=None,
            actions=[],
            read_only=True,
            reason="no API key: send X-Api-Key with a key of role deployer or above to act",
        )
    if not role.at_least(ACTOR_ROLE):
        return WhoAmI(
            principal=name,
            role=role,
            actions=[],
            read_only=True,
            reason=f"your role {role} may only read; actions need {ACTOR_ROLE} or above",
        )
    actions = list(ACTIONS)
    if role.at_least(Role.APPROVER):
        actions += [Action.APPROVE, Action.REJECT]
    if role is Role.ADMIN:
        actions += [Action.LOCK, Action.UNLOCK]
    return WhoAmI(
        principal=name,
        role=role,
        actions=actions,
        read_only=False,
        services=None if scopes.services is None else sorted(scopes.services),
        environments=None if scopes.environments is None else sorted(scopes.environments),
    )


# -- refusals -------------------------------------------------------------------------


class ActionProblem(Exception):
    """A refusal: `kind` is the problem type's last segment, `detail` the sentence."""

    def __init__(self, kind: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status


def request_fingerprint(action: Action, target: str, body: Mapping[str, Any]) -> str:
    """A digest of a request, to tell a reused `Idempotency-Key` from a repeated request."""
    canonical = json.dumps([action.value, target, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- planning -------------------------------------------------------------------------


def next_environment(order: Sequence[str], environment: str) -> str:
    """The environment after `environment` in `order`.

    Raises:
        ActionProblem: `environment` is last (or unknown).
    """
    if environment not in order:
        raise ActionProblem(
            "not-found",
            f"there is no environment {environment!r}; pick one of {', '.join(order) or 'none'}",
            404,
        )
    index = order.index(environment)
    if index + 1 >= len(order):
        raise ActionProblem(
            "last-environment",
            f"{environment} is the last environment: there is nothing to promote to; "
            "name a target environment explicitly",
        )
    return order[index + 1]


def promotion_version(service: str, environment: str, current: DeploymentEvent | None) -> str:
    """The version a promotion out of `environment` carries: its current success.

    Raises:
        ActionProblem: the slot has no current successful version.
    """
    if current is None:
        raise ActionProblem(
            "nothing-to-promote",
            f"{service} has never been deployed to {environment}; deploy it there first",
        )
    if current.status is not Status.SUCCESS or not current.version:
        shown = f" ({current.version})" if current.version else ""
        raise ActionProblem(
            "nothing-to-promote",
            f"{service} in {environment} is {current.status}{shown}, not a success; "
            "promote once it succeeds, or deploy a version explicitly",
        )
    return current.version


def rollback_version(
    service: str,
    environment: str,
    current: DeploymentEvent | None,
    successes: Sequence[DeploymentEvent],
    wanted: str | None,
) -> str:
    """The version a rollback of the slot deploys.

    Args:
        current: the slot's current (effective) row.
        successes: the slot's successful rows, newest first.
        wanted: an explicit version, which must have succeeded in the slot.

    Raises:
        ActionProblem: nothing to roll back to, or `wanted` never succeeded here.
    """
    succeeded = [row.version for row in successes if row.version]
    if wanted is not None:
        if wanted not in succeeded:
            raise ActionProblem(
                "unknown-version",
                f"{service} {wanted} never succeeded in {environment}; roll back to one of "
                f"{', '.join(dict.fromkeys(succeeded[:5])) or 'no version yet'}, "
                "or deploy it instead",
            )
        return wanted
    running = current.version if current is not None else None
    for version in succeeded:
        if version != running:
            return version
    raise ActionProblem(
        "nothing-to-roll-back",
        f"{service} has no earlier successful version in {environment} than "
        f"{running or 'its current one'}; deploy a version explicitly instead",
    )


def check_cancellable(deployment_id: str, latest: DeploymentEvent, executable: bool) -> None:
    """Refuse to cancel a finished deployment, or one the engine does not run.

    Raises:
        ActionProblem: it is finished, or CI reported it (the engine cannot stop it).
    """
    if latest.status in FINISHED:
        raise ActionProblem(
            "already-finished",
            f"{deployment_id} already ended {latest.status}; there is nothing to cancel",
        )
    if not executable:
        raise ActionProblem(
            "not-executable",
            f"{deployment_id} was reported by CI, not started by shipdeck; cancel it where it runs",
        )


def check_retryable(deployment_id: str, latest: DeploymentEvent) -> str:
    """The version a retry runs again.

    Raises:
        ActionProblem: the deployment is still going, or has no version.
    """
    if latest.status not in FINISHED:
        raise ActionProblem(
            "not-finished",
            f"{deployment_id} is still {latest.status}; cancel it first or wait for it to end",
        )
    if not latest.version:
        raise ActionProblem(
            "unknown-version",
            f"{deployment_id} names no version, so there is nothing to run again; "
            "deploy a version instead",
        )
    return latest.version


__all__ = [
    "ACTIONS",
    "ACTOR_ROLE",
    "FINISHED",
    "IDEMPOTENCY_KEY_MAX",
    "IDEMPOTENCY_KEY_PATTERN",
    "Action",
    "ActionProblem",
    "ActionResult",
    "DeployRequest",
    "PolicySummary",
    "PromoteRequest",
    "PromotionPlanDoc",
    "RollbackPlanDoc",
    "RollbackRequest",
    "WhoAmI",
    "check_cancellable",
    "check_retryable",
    "next_environment",
    "promotion_version",
    "request_fingerprint",
    "rollback_version",
    "who_am_i",
]
