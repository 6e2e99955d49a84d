"""`DeckScreen`: what every shipdeck screen shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from ..app import ShipdeckApp


class DeckScreen(Screen[None]):
    """A screen of `ShipdeckApp`, with typed access to the app's client and model."""

    @property
    def deck(self) -> ShipdeckApp:
        """The app, typed."""
        from ..app import ShipdeckApp

        assert isinstance(self.app, ShipdeckApp)
        return self.app
