"""One promotion: what it changes, its policy, its approvals and the deployment it promotes."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from ...client import DeploymentFilters
from ...domain import DeploymentEvent, Status
from ...domain.promotions import AWAITING, PromotionView
from ..format import AWAITING_MARK, GLYPHS, age, status_label, timestamp
from ..governance import approvals_count
from ..messages import PromotionUpdated, ResyncRequested
from ..model import MatrixModel, last_successful
from ..notify import tell
from ..sanitize import sanitize
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ._deciding import DecidingScreen, decision_bindings
from .detail import timeline_text

_LABEL_WIDTH = 11
_STATES: dict[str, tuple[str, str]] = {
    AWAITING: (f"{AWAITING_MARK} awaiting approval", "bold yellow"),
    "approved": (f"{GLYPHS[Status.SUCCESS]} approved", "bold green"),
    "rejected": (f"{GLYPHS[Status.REJECTED]} rejected", "bold red"),
    "cancelled": (f"{GLYPHS[Status.CANCELLED]} withdrawn", "dim"),
    "expired": (f"{GLYPHS[Status.CANCELLED]} expired", "dim"),
}
_DECISIONS = {
    "approve": (f"{GLYPHS[Status.SUCCESS]} approved", "green"),
    "reject": (f"{GLYPHS[Status.REJECTED]} rejected", "red"),
}


def _fact(text: Text, label: str, *parts: tuple[str, str]) -> None:
    if text.plain:
        text.append("\n")
    text.append(label.ljust(_LABEL_WIDTH), style="dim")
    for value, style in parts:
        text.append(value, style=style)


def change_text(promotion: PromotionView, matrix: MatrixModel) -> list[tuple[str, str]]:
    """`1.4.2 → 1.4.3` and what the target slot shows now (from the app's matrix)."""
    cell = matrix.cell(promotion.service, promotion.to_environment)
    current = None if cell is None or cell.current is None else cell.current.ref
    # Spaces end a part rather than start the next: SVG viewers drop a span's leading blanks.
    parts = [
        (sanitize(current.version) + " " if current and current.version else "(nothing) ", "bold"),
        ("→ ", ""),
        (sanitize(promotion.version) + "  ", "bold"),
    ]
    if current is not None:
        now = f"({sanitize(promotion.to_environment)} now: {status_label(current.status)}"
        last = last_successful(cell) if cell is not None else None
        if last is not None and last is not current and last.version:
            now += f", last success {sanitize(last.version)}"
        parts.append((now + ")", "dim"))
    return parts


def summary_text(promotion: PromotionView, matrix: MatrixModel, now_at: datetime) -> Text:
    """Service, from → to, the version change, status, who asked, the policy."""
    text = Text(no_wrap=True, overflow="ellipsis")
    route = f"{sanitize(promotion.from_environment)} → {sanitize(promotion.to_environment)}"
    _fact(text, "service", (sanitize(promotion.service), "bold"))
    _fact(text, "from → to", (route, "bold"))
    _fact(text, "version", *change_text(promotion, matrix))
    word, style = _STATES.get(promotion.status, (sanitize(promotion.status), "bold"))
    status = [(f"{word} ", style), (f"· {approvals_count(promotion)} approvals ", "")]
    if promotion.blocked_by:
        status.append((f"· {sanitize(promotion.blocked_by)} ", "yellow"))
    if promotion.decided_by:
        status.append((f"· by {sanitize(promotion.decided_by)}", ""))
    if promotion.reason:
        status.append((f": {sanitize(promotion.reason)}", "italic"))
    _fact(text, "status", *status)
    asked = f"{sanitize(promotion.requester)}, {age(promotion.created_at, now_at)} ago "
    expiry = f"· expires {timestamp(promotion.expires_at)}" if promotion.status == AWAITING else ""
    _fact(text, "asked by", (asked, ""), (expiry, "dim"))
    _fact(text, "policy", (sanitize(promotion.policy), ""))
    return text


def approvals_text(promotion: PromotionView, now_at: datetime) -> Text:
    """One line per decision, oldest first, with its comment."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not promotion.approvals:
        text.append("(none yet)", style="dim")
    for index, approval in enumerate(promotion.approvals):
        if index:
            text.append("\n")
        word, style = _DECISIONS.get(approval.decision, (sanitize(approval.decision), ""))
        text.append(word.ljust(12), style=style)
        text.append(f"{sanitize(approval.principal)}  ", style="bold")
        text.append(f"{age(approval.at, now_at)} ago  ", style="dim")
        if approval.comment:
            text.append(f"“{sanitize(approval.comment)}”", style="italic")
    return text


class PromotionDetailScreen(DecidingScreen):
    """A promotion awaiting approval (or decided), live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "o",
            "open_source",
            "Source",
            id="promotion.source",
            tooltip="The deployment this promotion takes its version from",
        ),
        Binding(
            "t",
            "open_target",
            "Target",
            id="promotion.target",
            tooltip="The deployment this promotion makes in the target slot",
        ),
        *decision_bindings("promotion"),
    ]

    def __init__(self, promotion_id: str, promotion: PromotionView | None = None) -> None:
        super().__init__()
        self.promotion_id = promotion_id
        self.promotion = promotion
        self.source_rows: list[DeploymentEvent] = []
        self.loaded = False
        """Whether the promotion and its source rows were fetched."""

    def compose(self) -> ComposeResult:
        yield DeckHeader(self.deck.clock)
        yield Static(id="promotion-summary")
        yield Label("Approvals", classes="promotion-heading")
        yield Static(id="promotion-approvals")
        yield Label("Source deployment", id="promotion-source-title", classes="promotion-heading")
        with VerticalScroll(id="promotion-source-box"):
            yield Static(id="promotion-source")
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "Promotion"
        if self.promotion is not None:
            self._show(self.promotion)
        self.load()

    def focused_promotion(self) -> PromotionView | None:
        """This promotion."""
        return self.promotion

    @work(exclusive=True, group="promotion-detail", exit_on_error=False)
    async def load(self) -> None:
        """Fetch the promotion, then the rows of the deployment it promotes."""
        client = self.deck.client
        promotion = await client.promotion(self.promotion_id)
        self._show(promotion)
        source = promotion.source_deployment_id
        title = self.query_one("#promotion-source-title", Label)
        if source is None:
            title.update("Source deployment: none recorded")
            rows: list[DeploymentEvent] = []
        else:
            title.update(
                f"Source deployment {sanitize(source)} in "
                f"{sanitize(promotion.from_environment)} (oldest first)"
            )
            page = await client.deployments(DeploymentFilters(deployment_id=source), limit=500)
            rows = sorted(page.items, key=lambda r: (r.happened_at, r.id))
        self.source_rows = rows
        self.query_one("#promotion-source", Static).update(timeline_text(rows))
        self.loaded = True

    def _show(self, promotion: PromotionView) -> None:
        self.promotion = promotion
        now = self.deck.clock()
        self.query_one("#promotion-summary", Static).update(
            summary_text(promotion, self.deck.matrix, now)
        )
        self.query_one("#promotion-approvals", Static).update(approvals_text(promotion, now))
        self.refresh_bindings()

    @on(PromotionUpdated)
    def _changed(self, message: PromotionUpdated) -> None:
        if message.promotion.id == self.promotion_id:
            self._show(message.promotion)

    @on(ResyncRequested)
    def _resync(self) -> None:
        self.load()

    def action_open_source(self) -> None:
        source = self.promotion.source_deployment_id if self.promotion else None
        if source is None:
            tell(self, "info", "No source deployment was recorded.")
            return
        row = self.source_rows[-1] if self.source_rows else None
        self.deck.open_detail(source, row)

    def action_open_target(self) -> None:
        if self.promotion is not None:
            self.deck.open_detail(self.promotion.deployment_id)


__all__ = ["PromotionDetailScreen", "approvals_text", "change_text", "summary_text"]
