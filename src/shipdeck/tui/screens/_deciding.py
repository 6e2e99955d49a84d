"""`DecidingScreen`: a screen whose focused promotion takes `a` approve, `x` reject and
`c` withdraw.

Like the action keys, each key is bound twice: to the decision, shown while the user may
decide, and to `explain`, hidden, which says why not (`--read-only`, or the engine's reason).
Every decision asks first, in a modal with a comment (required to reject).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import BindingType

from ...domain.promotions import AWAITING, PromotionView
from ..actions import unavailable_reason
from ..governance import DECISION_PERMISSIONS, DECISIONS, approvals_count
from ..messages import DecisionRequested
from ..modals import CommentModal
from ..notify import tell
from ..sanitize import sanitize
from ._deck import DeckScreen, gated_bindings

DECISION_KEYS: tuple[tuple[str, str, str], ...] = (
    ("a", "approve", "Approve the focused promotion (with an optional comment)"),
    ("x", "reject", "Reject the focused promotion (a comment says why)"),
    ("c", "withdraw", "Withdraw the focused promotion (your own request, or as an admin)"),
)
"""(key, decision, tooltip) of each decision key."""

_TITLES = {
    "approve": ("Approve promotion", "Approve"),
    "reject": ("Reject promotion", "Reject"),
    "withdraw": ("Withdraw promotion", "Withdraw"),
}


def decision_bindings(prefix: str) -> list[BindingType]:
    """The decision keys of a screen, ids `PREFIX.approve`, … (remappable by keymap)."""
    return gated_bindings(
        prefix,
        *(
            (key, verb, DECISIONS[verb], f"decide('{verb}')", f"explain_decision('{verb}')", tip)
            for key, verb, tip in DECISION_KEYS
        ),
    )


def promotion_facts(promotion: PromotionView) -> Text:
    """What a decision is about: service, from → to, version, requester, approvals."""
    text = Text(no_wrap=True, overflow="ellipsis")
    rows = [
        ("service", sanitize(promotion.service), "bold"),
        (
            "from → to",
            f"{sanitize(promotion.from_environment)} → {sanitize(promotion.to_environment)}",
            "bold",
        ),
        ("version", sanitize(promotion.version), "bold"),
        ("asked by", sanitize(promotion.requester), ""),
        ("approvals", approvals_count(promotion), ""),
    ]
    if promotion.blocked_by:
        rows.append(("blocked", sanitize(promotion.blocked_by), "yellow"))
    for index, (label, value, style) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(label.ljust(11), style="dim")
        text.append(value, style=style)
    return text


class DecidingScreen(DeckScreen):
    """A deck screen with the decision keys; subclasses say which promotion is focused."""

    def focused_promotion(self) -> PromotionView | None:
        """The promotion the keys act on, if any."""
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Decision keys show only when the user may decide; `explain_decision` otherwise."""
        if action == "decide":
            return self._unavailable(str(parameters[0])) is None
        if action == "explain_decision":
            return self._unavailable(str(parameters[0])) is not None
        return True

    def _unavailable(self, verb: str) -> str | None:
        return unavailable_reason(self.deck, DECISION_PERMISSIONS[verb])

    def action_explain_decision(self, verb: str) -> None:
        """Say why `verb` is not available."""
        self.explain(DECISIONS[verb], self._unavailable(verb))

    def action_decide(self, verb: str) -> None:
        """Ask for a comment (and a confirmation), then send the decision."""
        promotion = self.focused_promotion()
        if promotion is None:
            tell(self, "nudge", "No promotion is focused.")
            return
        if promotion.status != AWAITING:
            tell(self, "nudge", f"This promotion is {sanitize(promotion.status)} already.")
            return
        title, confirm = _TITLES[verb]
        modal = CommentModal(title, promotion_facts(promotion), confirm, required=verb == "reject")
        self.app.push_screen(modal, lambda comment: self._send(verb, promotion, comment))

    def _send(self, verb: str, promotion: PromotionView, comment: str | None) -> None:
        if comment is not None:
            self.post_message(DecisionRequested(verb, promotion, comment))
