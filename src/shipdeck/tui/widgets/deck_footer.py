"""`DeckFooter`: Textual's footer, with the keys that matter everywhere always in view.

`q Back`, `? Help`, `: Commands` and `Q Quit` sit at the right edge whatever the width; the
screen's own keys fill the rest in their order of importance (the order of its bindings),
and those that do not fit whole are left out rather than cut — `?` lists every one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalGroup
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED: tuple[str, ...] = ("app.back", "app.help", "app.palette", "app.quit")
"""Binding ids always shown, in this order, at the right."""

Shown = tuple[Binding, bool, str]
"""A key as the footer shows it: its binding, whether it is enabled, its tooltip."""


class DeckFooter(Footer):
    """The footer of every shipdeck screen."""

    DEFAULT_CSS = """
    DeckFooter .-pinned {
        dock: right;
        width: auto;
        height: 1;
        background: $footer-background;
    }
    """

    _composed: object = None
    """What the last compose showed (`_keys`): a change of bindings that shows the same
    keys need not recompose (each recompose mounts every key anew, 10–20 ms)."""

    def _keys(self) -> tuple[dict[str, Shown], dict[str, Shown]]:
        """The screen's keys to show and the pinned ones, each `(binding, enabled, tooltip)`."""
        pinned: dict[str, Shown] = {}
        shown: dict[str, Shown] = {}
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show:
                continue
            if binding.id in PINNED:
                pinned.setdefault(binding.id, (binding, enabled, tooltip))
            else:  # one key per action, as Textual's footer shows them
                shown.setdefault(binding.action, (binding, enabled, tooltip))
        return shown, pinned

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        if not self.is_attached:  # its screen closed meanwhile
            return
        if _signature(*self._keys()) != self._composed:
            await self.recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown, pinned = self._keys()
        self._composed = _signature(shown, pinned)
        for binding, enabled, tooltip in shown.values():
            yield self._key(binding, enabled, tooltip)
        with HorizontalGroup(classes="-pinned"):
            for binding_id in PINNED:
                if binding_id in pinned:
                    yield self._key(*pinned[binding_id])
        self.call_after_refresh(self._collapse)

    def _key(self, binding: Binding, enabled: bool, tooltip: str) -> FooterKey:
        return FooterKey(
            binding.key,
            self.app.get_key_display(binding),
            binding.description,
            binding.action,
            disabled=not enabled,
            tooltip=tooltip or binding.description,
        ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        self.call_after_refresh(self._collapse)

    def _collapse(self) -> None:
        """Show the screen's keys, in order, while they fit whole beside the pinned ones.

        Widths come from each key's own text and spacing, never from the pinned group's
        laid-out size: right after a compose that group may not be laid out yet, and a
        width of 0 there let the screen's keys run under `? Help`.
        """
        pinned = [
            key
            for group in self.query_children(HorizontalGroup)
            for key in group.query_children(FooterKey)
        ]
        room = self.size.width - sum(self._width(key) for key in pinned)
        for key in self.query_children(FooterKey):
            width = self._width(key)
            key.display = width <= room
            room = room - width if key.display else 0

    def _width(self, key: FooterKey) -> int:
        """The cells `key` takes in the footer: its text, padding, border and margin."""
        styles = key.styles
        return (
            key.get_content_width(self.size, self.size) + styles.gutter.width + styles.margin.width
        )


def _signature(*groups: dict[str, Shown]) -> tuple[tuple[object, ...], ...]:
    return tuple(
        (name, binding.key, binding.key_display, binding.description, enabled, tooltip)
        for group in groups
        for name, (binding, enabled, tooltip) in group.items()
    )


__all__ = ["PINNED", "DeckFooter"]
