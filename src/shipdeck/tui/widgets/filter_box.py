"""`FilterBox`: an `Input` whose keystrokes repaint the box, not the whole screen."""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input


class FilterBox(Input):
    """A one-line text box of a fixed size (the screens' filter and search boxes).

    Textual's `Input` sets its virtual size to the text's width on every keystroke, and a
    widget's `virtual_size` asks for a layout of the whole screen when it changes: 10–16 ms
    of a filter keystroke's frame at 160 × 48, for a box whose size never changes. Here
    the virtual size only moves the box's scroll limits (`max_scroll_x`, read from it), as
    a fixed-size box needs; the box itself is repainted as before.

    Give it a fixed width and height (`Input`'s defaults: `100%` and `3`); a box sized by
    its content (`width: auto`) still lays out, as `Input` does.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)
