"""A scroll of a line-API widget by a few lines, without styling its other lines again.

Textual's `ScrollView` repaints every row on a scroll, and each repainted row goes through
Textual's styling, line filters and compositor cuts segment by segment, even when the
widget hands back the very strip it drew before: ~0.1 ms a row, 4–5 ms for a 40-row matrix
at every cursor step past the screen's edge. The rows that stay on screen are the same
lines one row up or down, so the lines Textual keeps for the widget (styled, with their
filtered and cut forms cached on them) are moved to their new rows: the terminal still gets
the whole widget, but only the rows scrolled into view are drawn.

Both helpers lean on Textual internals (`Widget._styles_cache`, `ScrollBarRender`); each
checks what it needs and does nothing but report False when that is not there, so a
Textual that changes them costs speed, never a wrong line (`tests/tui/test_matrix_paint.py`
holds the scrolled screen equal to one drawn from scratch, and the saving itself).
"""

from __future__ import annotations

from math import ceil

from textual.scrollbar import ScrollBar
from textual.widget import Widget


def scroll_drawn_lines(widget: Widget, delta: int) -> bool:
    """After `widget`'s content moved up by `delta` rows (down when negative): move its
    drawn lines with it and repaint the widget from them; rows scrolled into view, and rows
    already waiting for a repaint, are drawn anew.

    Returns False, having changed nothing, when the widget has a border or padding (its
    rows are not its content's lines) or Textual keeps its lines differently: then the
    caller repaints the widget in full, as Textual would.
    """
    store = getattr(widget, "_styles_cache", None)
    lines = getattr(store, "_cache", None)
    dirty = getattr(store, "_dirty_lines", None)
    if not isinstance(lines, dict) or not isinstance(dirty, set) or any(widget.styles.gutter):
        return False
    height = widget.size.height
    kept = {
        y - delta: strip for y, strip in lines.items() if y not in dirty and 0 <= y - delta < height
    }
    widget.refresh(widget.size.region)  # the compositor sends the whole widget again
    lines.clear()
    lines.update(kept)
    dirty.difference_update(kept)  # `refresh` marked every row; the kept ones are current
    return True


def move_thumb(bar: ScrollBar, position: float) -> None:
    """Set `bar`'s position, repainting it only when its thumb moves on screen.

    A thumb a few cells long on a 10,000-row list moves one eighth of a cell every ~30
    rows; repainting the bar at every row (~1 ms at 40 rows) changes nothing in between.
    The bar's own `position` is always set (a drag starts from it).
    """
    position = bar.validate_position(position)
    before, bar_height = bar.position, bar.size.height
    bar.set_reactive(ScrollBar.position, position)
    drawn = _thumb(bar, position, bar_height)
    if drawn is None or drawn != _thumb(bar, before, bar_height):
        bar.refresh()


def _thumb(bar: ScrollBar, position: float, height: int) -> list[object] | None:
    """The segments `bar` would draw at `position` (as `ScrollBar.render` computes them);
    None when that cannot be told (not laid out yet, or another Textual)."""
    if not height:
        return None
    window = bar.window_size if bar.window_size < bar.window_virtual_size else 0
    drawn = bar.renderer.render_bar(
        size=height,
        virtual_size=ceil(bar.window_virtual_size),
        window_size=ceil(window),
        position=position,
        thickness=bar.thickness,
        vertical=bar.vertical,
    )
    segments = getattr(drawn, "segments", None)
    return None if segments is None else list(segments)
