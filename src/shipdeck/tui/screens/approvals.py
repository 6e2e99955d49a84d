"""The approvals screen: promotions waiting for my approval, and every pending one."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Label, OptionList, Static

from ...client import NotOffered
from ...domain.promotions import AWAITING, PromotionView
from ..format import age
from ..governance import promotion_title
from ..messages import PromotionUpdated, ResyncRequested
from ..sanitize import sanitize
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ..widgets.promotion_list import PromotionList
from ._deciding import DecidingScreen, decision_bindings

MINE_EMPTY = "Nothing awaits your approval."
ALL_EMPTY = "No promotion is awaiting approval."
NO_QUEUE = "Nothing can await approval here: {why}."
"""What both lists say on a server without an approval queue (not an empty one)."""


class ApprovalsScreen(DecidingScreen):
    """Two lists: what I may approve now, then every promotion awaiting approval."""

    AUTO_FOCUS = "#approvals-mine"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "open",
            "Detail",
            id="approvals.detail",
            tooltip="What the focused promotion changes, its policy and approvals",
            priority=True,  # before the list's own enter, so the footer shows it
        ),
        Binding(
            "tab",
            "app.focus_next",
            "Next list",
            show=False,
            id="approvals.next-list",
            tooltip="Move between 'waiting for me' and 'all pending'",
        ),
        Binding(
            "ctrl+r", "reload", "Reload", id="approvals.reload", tooltip="Fetch promotions again"
        ),
        *decision_bindings("approvals"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mine: list[PromotionView] = []
        self.pending: list[PromotionView] = []
        self.loaded = False
        """Whether both lists were fetched at least once."""

    def compose(self) -> ComposeResult:
        clock = self.deck.clock
        yield DeckHeader(clock)
        yield Label("Waiting for me", id="approvals-mine-title", classes="approvals-heading")
        yield Static(id="approvals-mine-columns", classes="approvals-columns")
        yield PromotionList(clock, MINE_EMPTY, id="approvals-mine")
        yield Label("All pending", id="approvals-all-title", classes="approvals-heading")
        yield Static(id="approvals-all-columns", classes="approvals-columns")
        yield PromotionList(clock, ALL_EMPTY, id="approvals-all")
        yield Static(id="approvals-focus")
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "Approvals"
        self.reload()

    @on(PromotionList.Redrawn)
    def _columns(self, message: PromotionList.Redrawn) -> None:
        """The headings of a list, at the widths its rows were just drawn at."""
        rows = message.promotion_list
        heading = self.query_one(f"#{rows.id}-columns", Static)
        heading.update(rows.header_text())

    # -- data --------------------------------------------------------------------------

    @work(exclusive=True, group="approvals-screen", exit_on_error=False)
    async def reload(self) -> None:
        """Fetch what awaits me and every pending promotion."""
        client = self.deck.client
        try:
            pending = await client.promotions(status=AWAITING)
        except NotOffered as absent:
            self._no_queue(str(absent))
            return
        mine = await client.pending_for_me()
        self.mine, self.pending, self.loaded = mine, pending, True
        self.query_one("#approvals-mine", PromotionList).show(mine, MINE_EMPTY)
        self.query_one("#approvals-all", PromotionList).show(pending, ALL_EMPTY)
        self.query_one("#approvals-mine-title", Label).update(f"Waiting for me ({len(mine)})")
        self.query_one("#approvals-all-title", Label).update(f"All pending ({len(pending)})")
        if not mine and pending and self.focused is self.query_one("#approvals-mine"):
            self.query_one("#approvals-all", PromotionList).focus()
        self._describe()

    def _no_queue(self, why: str) -> None:
        """Say that this server has no approval queue (a missing surface, not an empty one)."""
        self.mine, self.pending, self.loaded = [], [], True
        text = NO_QUEUE.format(why=sanitize(why))
        for list_id, title in (("mine", "Waiting for me"), ("all", "All pending")):
            self.query_one(f"#approvals-{list_id}", PromotionList).show([], text)
            self.query_one(f"#approvals-{list_id}-title", Label).update(f"{title} (no queue)")
        self._describe()

    def focused_promotion(self) -> PromotionView | None:
        """The highlighted promotion of the focused list (of the first that has one, when
        neither list has the focus)."""
        if isinstance(self.focused, PromotionList):
            return self.focused.current
        return next((lst.current for lst in self.query(PromotionList) if lst.current), None)

    def _describe(self) -> None:
        """The focused promotion in full, under the lists (nothing is cut there)."""
        promotion = self.focused_promotion()
        line = Text(no_wrap=False)
        if promotion is not None:
            now = self.deck.clock()
            line.append(promotion_title(promotion) + " ", style="bold")
            line.append(
                f"· asked by {sanitize(promotion.requester)} "
                f"{age(promotion.created_at, now)} ago · {sanitize(promotion.policy)} "
            )
            if promotion.blocked_by:
                line.append(f"· {sanitize(promotion.blocked_by)}", style="yellow")
        self.query_one("#approvals-focus", Static).update(line)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._describe()

    def on_descendant_focus(self) -> None:
        self._describe()

    @on(PromotionUpdated)
    def _changed(self) -> None:
        self.reload()

    @on(ResyncRequested)
    def _resync(self) -> None:
        self.reload()

    # -- keys --------------------------------------------------------------------------

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        promotion = self.focused_promotion()
        if promotion is not None:
            self.deck.open_promotion(promotion.id, promotion)

    def action_reload(self) -> None:
        self.reload()
