"""Palette commands (`:` or ctrl+p): screens, filters, sorting and profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..client import HistoryFilters
from ..domain import Status
from .sanitize import sanitize

if TYPE_CHECKING:
    from .app import ShipdeckApp

Command = tuple[str, Callable[[], object], str]


class ShipdeckCommands(Provider):
    """shipdeck's own commands, beside Textual's (theme, keys, quit)."""

    @property
    def deck(self) -> ShipdeckApp:
        from .app import ShipdeckApp

        assert isinstance(self.app, ShipdeckApp)
        return self.app

    def commands(self) -> Iterator[Command]:
        """Every command with its help line."""
        deck = self.deck
        yield ("Matrix", deck.open_matrix, "Show the environment matrix")
        yield ("History", partial(deck.open_history, HistoryFilters()), "Every deployment")
        yield ("Matrix: sort by name", partial(deck.sort_matrix, "name"), "Alphabetical services")
        yield (
            "Matrix: sort by last change",
            partial(deck.sort_matrix, "change"),
            "Most recently changed services first",
        )
        yield ("Matrix: clear filter", partial(deck.filter_matrix, ""), "Show every service")
        for status in (Status.FAILURE, Status.IN_PROGRESS, Status.WAITING):
            yield (
                f"History: status {status.value}",
                partial(deck.open_history, HistoryFilters(status=status)),
                f"Rows with status {status.value}",
            )
        for service in deck.matrix.services():
            name = sanitize(service)
            yield (
                f"History: service {name}",
                partial(deck.open_history, HistoryFilters(service=service)),
                f"Every deployment of {name}",
            )
            yield (
                f"Matrix: filter {name}",
                partial(deck.filter_matrix, service),
                f"Show only {name} in the matrix",
            )
        for env in deck.matrix.environments:
            name = sanitize(env)
            yield (
                f"History: environment {name}",
                partial(deck.open_history, HistoryFilters(environment=env)),
                f"Every deployment to {name}",
            )
        for profile in sorted(deck.tui_config.profiles):
            yield (
                f"Profile: {sanitize(profile)}",
                partial(deck.switch_profile, profile),
                "Connect to this profile's engine",
            )

    async def discover(self) -> Hits:
        for name, callback, help_text in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
