"""`MatrixColumns`: the environment names above the grid, at the grid's column widths."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from ..sanitize import sanitize
from .matrix_grid import GridLayout


class MatrixColumns(Widget):
    """One line: `service` then each environment, aligned with `MatrixGrid`."""

    DEFAULT_CSS = """
    MatrixColumns { height: 1; background: $panel; color: $text; text-style: bold; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._environments: list[str] = []
        self._layout = GridLayout(10, 10)
        self._title = "service"
        self._markers: dict[str, str] = {}

    def show(
        self,
        environments: list[str],
        layout: GridLayout,
        title: str = "service",
        markers: dict[str, str] | None = None,
    ) -> None:
        """Redraw for these environments and widths (`markers`: a suffix per environment)."""
        self._environments = list(environments)
        self._layout = layout
        self._title = title
        self._markers = markers or {}
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self._title[: self._layout.service_width - 1].ljust(self._layout.service_width))
        width = self._layout.cell_width
        for env in self._environments:
            label = sanitize(env) + self._markers.get(env, "")
            if cell_len(label) > width - 1:
                label = label[: width - 2] + "…"
            text.append(label.ljust(width))
        return text
