"""The Insights screen's parts: a card per DORA key, and a chart drawn at its own width."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from ...domain.analytics import AnalyticsKpi, Insights
from .insight_figures import CLASS_STYLES, kpi_value, trend

Draw = Callable[[Insights, int], list[Text]]
"""A chart: the documents and a width in cells → lines that fit it."""


class KpiCard(Vertical):
    """One DORA key: its value, band, trend, and its daily series (when it has one)."""

    def __init__(self, title: str, *, better_up: bool, id: str | None = None) -> None:
        """A card titled `title`; `better_up`: whether a rise is an improvement."""
        super().__init__(id=id)
        self.border_title = title
        self.better_up = better_up
        self.kpi: AnalyticsKpi | None = None
        """The key shown (`None` until the figures come)."""

    def compose(self) -> ComposeResult:
        yield Static("…", classes="kpi-value")
        yield Static(classes="kpi-band")
        yield Static(classes="kpi-trend")
        yield Sparkline(classes="kpi-spark")
        yield Static(classes="kpi-note")

    def show(self, kpi: AnalyticsKpi, note: str = "") -> None:
        """Show `kpi` (the engine's figures, as they are); `note` in place of a daily
        series when it has none (the medians)."""
        self.kpi = kpi
        self.query_one(".kpi-value", Static).update(Text(kpi_value(kpi), style="bold"))
        band = kpi.classification
        self.query_one(".kpi-band", Static).update(Text(band.value, style=CLASS_STYLES[band]))
        words, style = trend(kpi, self.better_up)
        self.query_one(".kpi-trend", Static).update(Text(words, style=style))
        spark = self.query_one(Sparkline)
        spark.data = kpi.sparkline or None
        # One column a day when it fits (the widget's own width caps it).
        spark.styles.width = len(kpi.sparkline) if kpi.sparkline else 1
        spark.display = bool(kpi.sparkline)
        shown = self.query_one(".kpi-note", Static)
        shown.update(Text(note, style="dim"))
        shown.display = not kpi.sparkline

    @property
    def text(self) -> str:
        """What the card says, as plain text (tests read it)."""
        return " ".join(str(s.content) for s in self.query(Static))


class InsightChart(Widget):
    """A chart of the Insights screen, redrawn at its width whenever it or the data change."""

    def __init__(self, title: str, draw: Draw, *, id: str | None = None) -> None:
        """A chart titled `title`, drawn by `draw`."""
        super().__init__(id=id)
        self.border_title = title
        self._draw = draw
        self.insights: Insights | None = None
        """What is drawn (`None` until the figures come)."""

    def show(self, insights: Insights) -> None:
        """Draw these figures."""
        self.insights = insights
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Text]:
        """The chart's lines at `width` cells."""
        if self.insights is None:
            return [Text("…", style="dim")]
        return self._draw(self.insights, max(20, width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))

    def render(self) -> Text:
        return Text("\n").join(self.lines(self.content_size.width))


__all__ = ["Draw", "InsightChart", "KpiCard"]
