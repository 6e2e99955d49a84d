"""`PromotionList`: promotions awaiting approval as aligned rows, one per promotion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...domain.promotions import PromotionView
from ..format import age
from ..governance import approvals_count
from ..sanitize import sanitize, truncate

HEADINGS = ("service", "from → to", "version", "requester", "age", "approvals", "blocked by")
_MINIMUM = (12, 12, 7, 9, 4, 9)
"""Widths of every column but the last (`blocked by` takes what is left)."""
_GROWTH = ((0, 24), (2, 14), (3, 14), (1, 18))
"""Which columns grow, in turn, with room to spare, and up to what width."""
_ROOMY = 100
"""From this width on, two spaces between columns instead of one."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Column widths for one list width, and the gap between columns."""

    widths: tuple[int, ...]
    gap: int = 1

    @classmethod
    def fit(cls, width: int) -> Columns:
        """Every column at its minimum, then the growing ones in turn; the rest to the last."""
        gap = 2 if width >= _ROOMY else 1
        widths = list(_MINIMUM)
        gaps = gap * len(widths)
        spare = width - sum(widths) - gaps - 24  # keep 24 for `blocked by`
        for index, most in _GROWTH:
            grow = max(0, min(spare, most - widths[index]))
            widths[index] += grow
            spare -= grow
        last = max(0, width - sum(widths) - gaps)
        return cls((*widths, last), gap)

    def line(self, values: list[tuple[str, str]]) -> Text:
        """`values` (text, style), each cut to its column and padded."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, ((value, style), width) in enumerate(zip(values, self.widths, strict=True)):
            if width <= 0:
                break
            cut = truncate(value, width)
            if index < len(self.widths) - 1:
                # The padding takes the value's style: a run of unstyled spaces before the
                # next value would be one span with leading blanks, which SVG viewers drop.
                cut += " " * (width - cell_len(cut) + self.gap)
            text.append(cut, style=style)
        return text


def promotion_line(promotion: PromotionView, now: datetime, columns: Columns) -> Text:
    """One promotion's row; every value from the engine is sanitised."""
    route = f"{sanitize(promotion.from_environment)} → {sanitize(promotion.to_environment)}"
    return columns.line(
        [
            (sanitize(promotion.service), "bold"),
            (route, ""),
            (sanitize(promotion.version), "bold"),
            (sanitize(promotion.requester), ""),
            (age(promotion.created_at, now), "dim"),
            (approvals_count(promotion), "bold"),
            (sanitize(promotion.blocked_by or promotion.status), "yellow"),
        ]
    )


class PromotionList(OptionList):
    """The rows of one section (waiting for me, all pending); enter opens the highlighted."""

    class Redrawn(Message):
        """The rows were laid out again (the column headings should follow)."""

        def __init__(self, promotion_list: PromotionList) -> None:
            super().__init__()
            self.promotion_list = promotion_list

        @property
        def control(self) -> PromotionList:
            return self.promotion_list

    def __init__(self, clock: Callable[[], datetime], empty: str, **kwargs: object) -> None:
        """Create the list.

        Args:
            clock: The app's clock, for ages.
            empty: What the list says when it has no promotion.
        """
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self._empty = empty
        self.promotions: list[PromotionView] = []
        self.columns = Columns.fit(0)
        """The widths the rows were drawn at (the headings use the same)."""

    def _width(self) -> int:
        return self.scrollable_content_region.width

    @property
    def current(self) -> PromotionView | None:
        """The highlighted promotion."""
        index = self.highlighted
        if index is None or not self.promotions or index >= len(self.promotions):
            return None
        return self.promotions[index]

    def header_text(self) -> Text:
        """The column headings at the same widths as the rows."""
        return self.columns.line([(heading, "bold") for heading in HEADINGS])

    def show(self, promotions: list[PromotionView], empty: str | None = None) -> None:
        """Show these promotions, keeping the highlight on the same one when it stays;
        `empty` replaces what an empty list says (e.g. that there is no queue at all)."""
        current = self.current
        self.promotions = list(promotions)
        if empty is not None:
            self._empty = empty
        self._redraw(keep=None if current is None else current.id)

    def _redraw(self, keep: str | None) -> None:
        self.columns = columns = Columns.fit(self._width())
        self.post_message(self.Redrawn(self))
        now = self._clock()
        if not self.promotions:
            self.set_options([Option(Text(self._empty, style="dim"), disabled=True)])
            return
        self.set_options(
            [Option(promotion_line(p, now, columns), id=p.id) for p in self.promotions]
        )
        ids = [p.id for p in self.promotions]
        self.highlighted = ids.index(keep) if keep in ids else 0

    def on_resize(self) -> None:
        if Columns.fit(self._width()) != self.columns:
            current = self.current
            self._redraw(keep=None if current is None else current.id)
