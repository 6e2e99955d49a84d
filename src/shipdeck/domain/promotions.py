"""Promotions awaiting approval and environments' state, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from .policy import EnvironmentPolicy
from .timestamps import format_rfc3339

AWAITING = "awaiting-approval"
PROMOTION_STATUSES = (AWAITING, "approved", "rejected", "cancelled", "expired")

Comment = Annotated[str, Field(min_length=1, max_length=2000)]


class DecisionRequest(BaseModel):
    """Body of approve / reject / cancel on a promotion (optional for approve and cancel)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    comment: Comment | None = None


class LockRequest(BaseModel):
    """Body of `POST /api/environments/{environment}/lock` (and `/unlock`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Comment


class ApprovalView(BaseModel):
    """One principal's decision."""

    principal: str
    decision: str
    comment: str | None = None
    at: datetime

    @field_serializer("at")
    def _at(self, value: datetime) -> str:
        return format_rfc3339(value)


class PromotionView(BaseModel):
    """A promotion into an environment whose policy asks for approvals."""

    id: str
    service: str
    from_environment: str
    to_environment: str
    version: str
    source_deployment_id: str | None = None
    deployment_id: str
    """The target slot's logical deployment: `waiting`, then `queued`… or `rejected`."""
    requester: str
    status: str
    approvals_required: int
    approvals: list[ApprovalView]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    policy: str
    """The target environment's policy, in words."""
    blocked_by: str | None = None
    """What still keeps it from running, in words (`None` once decided)."""

    @field_serializer("created_at", "expires_at", "decided_at")
    def _times(self, value: datetime | None) -> str | None:
        return None if value is None else format_rfc3339(value)


class PromotionPage(BaseModel):
    """A page of `GET /api/promotions`."""

    items: list[PromotionView]
    next_cursor: str | None = None


class LockView(BaseModel):
    """Who locked an environment, why, and when."""

    by: str
    reason: str
    at: datetime

    @field_serializer("at")
    def _at(self, value: datetime) -> str:
        return format_rfc3339(value)


class EnvironmentView(BaseModel):
    """An environment's policy, lock and the freeze window in force."""

    environment: str
    policy: EnvironmentPolicy
    summary: str
    lock: LockView | None = None
    frozen: str | None = None
    """The active freeze window, in words."""


def blocking(
    status: str, approvals_required: int, approvals: int, pending: list[str]
) -> str | None:
    """What keeps a promotion from running, in words."""
    if status != AWAITING:
        return None
    missing = approvals_required - approvals
    text = f"{missing} more approval{'s' if missing != 1 else ''} needed"
    if pending:
        text += f" ({', '.join(pending)})"
    return text


__all__ = [
    "AWAITING",
    "PROMOTION_STATUSES",
    "ApprovalView",
    "DecisionRequest",
    "EnvironmentView",
    "LockRequest",
    "LockView",
    "PromotionPage",
    "PromotionView",
    "blocking",
]
