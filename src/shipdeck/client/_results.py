"""The engine's answers to actions and `whoami`, as the client's types (both clients agree)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain import ActionResult, PromotionPlanDoc, RollbackPlanDoc
from .base import ActionAccepted, Capabilities, PromotionPlan, RollbackPlan

MAY_NOT_ACT = "your key may not act on this server"


def accepted(result: ActionResult) -> ActionAccepted:
    """An accepted action (the `202` body)."""
    return ActionAccepted(
        deployment_id=result.deployment_id,
        action=str(result.action),
        service=result.service,
        environment=result.environment,
        version=result.version,
        status=result.status,
        superseded=tuple(result.superseded),
        promotion_id=result.promotion_id,
    )


def plan(doc: PromotionPlanDoc) -> PromotionPlan:
    """What a promotion would do; the policy is its summary in words."""
    return PromotionPlan(
        service=doc.service,
        from_environment=doc.from_environment,
        to_environment=doc.to_environment,
        version=doc.version,
        policy=doc.policy.summary,
    )


def rollback_plan(doc: RollbackPlanDoc) -> RollbackPlan:
    """What a rollback would deploy."""
    return RollbackPlan(
        deployment_id=doc.deployment_id,
        service=doc.service,
        environment=doc.environment,
        from_version=doc.from_version,
        version=doc.version,
    )


def capabilities(doc: Mapping[str, Any]) -> Capabilities:
    """Capabilities from a `whoami` document, read leniently (unknown fields ignored).

    Read-only when the document says so or lists no action; the reason is the engine's
    own sentence when it gives one.
    """
    principal, role, listed = doc.get("principal"), doc.get("role"), doc.get("actions")
    if isinstance(principal, dict):
        principal = principal.get("name")
    listed = listed if isinstance(listed, list) else []
    actions = frozenset(str(a) for a in listed if isinstance(a, str))
    read_only = doc.get("read_only") is True or not actions
    reason = doc.get("reason")
    if not (isinstance(reason, str) and reason):
        reason = MAY_NOT_ACT if read_only else ""
    return Capabilities(
        read_only=read_only,
        principal=principal if isinstance(principal, str) else None,
        role=role if isinstance(role, str) else None,
        reason=reason,
        actions=actions,
    )
