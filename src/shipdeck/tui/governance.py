"""Approvals and environments: what the app keeps of them, and their words.

The app keeps the promotions this user may approve now (the header counts them) and every
environment's state (the matrix marks locks and freezes) in a `Governance`; how it keeps
them up to date and sends decisions is in `app_governance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.promotions import AWAITING, EnvironmentView, PromotionView
from .sanitize import sanitize

DECISIONS: dict[str, str] = {
    "approve": "Approve",
    "reject": "Reject",
    "withdraw": "Withdraw",
}
"""The words of each decision, for titles and keys."""

DECISION_PERMISSIONS: dict[str, str] = {
    "approve": "approve",
    "reject": "reject",
    "withdraw": "cancel",
}
"""The capability (a `whoami` action) each decision needs."""


@dataclass
class Governance:
    """The app's copy of what awaits this user and of every environment's state."""

    awaiting_me: dict[str, PromotionView] = field(default_factory=dict)
    """Promotions this user may approve now, by id."""
    environments: dict[str, EnvironmentView] = field(default_factory=dict)
    """Each environment's policy, lock and active freeze, by name."""
    loaded: bool = False
    """Whether `awaiting_me` was fetched once (later arrivals are announced)."""


def promotion_title(promotion: PromotionView) -> str:
    """`checkout-api 1.4.3 qa → prod` (sanitised)."""
    return (
        f"{sanitize(promotion.service)} {sanitize(promotion.version)} "
        f"{sanitize(promotion.from_environment)} → {sanitize(promotion.to_environment)}"
    )


def approvals_count(promotion: PromotionView) -> str:
    """`1 of 2`: approvals given of those required."""
    given = sum(1 for a in promotion.approvals if a.decision == "approve")
    return f"{given} of {promotion.approvals_required}"


def decided_text(verb: str, promotion: PromotionView) -> str:
    """What a decision did, in words."""
    title = promotion_title(promotion)
    if promotion.status == AWAITING:
        still = sanitize(promotion.blocked_by or "more approvals needed")
        return f"your approval of {title} counts: {still}"
    if promotion.status == "approved":
        return f"{title} approved: the deployment is queued"
    if promotion.status == "cancelled" and verb == "withdraw":
        return f"{title} withdrawn"
    return f"{title} {sanitize(promotion.status)}"
