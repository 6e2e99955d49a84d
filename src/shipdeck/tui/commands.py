"""Palette commands (`:` or ctrl+p): screens, filters, sorting and profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from ..client import DeploymentFilters
from ..domain import Status
from ..domain.analytics import WINDOW_DAYS
from .actions import unavailable_reason
from .context import Deck, deck_of
from .sanitize import sanitize
from .screens._acting import ACTION_KEYS, ActingScreen
from .screens.insights import WINDOWS

Command = tuple[str, Callable[[], object], str]

ACTION_COMMANDS: dict[str, str] = {
    "deploy": "Deploy…",
    "promote": "Promote…",
    "rollback": "Roll back…",
    "cancel": "Cancel…",
    "retry": "Retry…",
}
"""Palette names of the action keys (each opens a modal that asks first)."""


def _plain(text: str) -> str:
    """An outside name for the palette, which reads names and help lines as markup:
    sanitised, and its brackets escaped so they show as themselves."""
    return escape(sanitize(text))


class ShipdeckCommands(Provider):
    """shipdeck's own commands, beside Textual's (theme, keys, quit)."""

    @property
    def deck(self) -> Deck:
        """The app, as a `Deck`."""
        return deck_of(self.app)

    def commands(self) -> Iterator[Command]:
        """Every command with its help line."""
        deck = self.deck
        yield ("Matrix", deck.open_matrix, "Show the environment matrix")
        yield ("History", partial(deck.open_history, DeploymentFilters()), "Every deployment")
        yield ("Logs", deck.show_logs, "Log panes of deployments (o opens one by id)")
        yield (
            "Approvals",
            deck.open_approvals,
            "Promotions awaiting approval: those waiting for you, and all pending",
        )
        yield (
            "Insights",
            deck.open_insights,
            "DORA keys, deployments a day, durations, funnel, heatmap, deployers, incidents (I)",
        )
        for window in WINDOWS:
            days = WINDOW_DAYS[window]
            yield (
                f"Insights: last {days} days",
                partial(deck.open_insights, window),
                f"The figures of the last {days} whole UTC days",
            )
        yield (
            "Reload",
            deck.reload,
            "Fetch the matrix, approvals and this screen again from the engine (ctrl+r)",
        )
        yield from self.action_commands()
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
                partial(deck.open_history, DeploymentFilters(status=status)),
                f"Rows with status {status.value}",
            )
        for service in deck.matrix.services():
            name = _plain(service)
            yield (
                f"History: service {name}",
                partial(deck.open_history, DeploymentFilters(service=service)),
                f"Every deployment of {name}",
            )
            yield (
                f"Matrix: filter {name}",
                partial(deck.filter_matrix, service),
                f"Show only {name} in the matrix",
            )
        for env in deck.matrix.environments:
            name = _plain(env)
            yield (
                f"History: environment {name}",
                partial(deck.open_history, DeploymentFilters(environment=env)),
                f"Every deployment to {name}",
            )
        for profile in sorted(deck.tui_config.profiles):
            yield (
                f"Profile: {_plain(profile)}",
                partial(deck.switch_profile, profile),
                "Connect to this profile's engine",
            )

    def action_commands(self) -> Iterator[Command]:
        """Deploy…, Promote…, … on the focused slot or row of the screen under the palette;
        when the user may not act, the help line (and running the command) says why."""
        screen = self.screen
        if not isinstance(screen, ActingScreen):
            return
        for _key, action, tooltip in ACTION_KEYS:
            reason = unavailable_reason(self.deck, action)
            # The palette reads help lines as markup: the engine's words are escaped.
            help_text = tooltip if reason is None else f"Not available: {escape(sanitize(reason))}"
            yield (ACTION_COMMANDS[action], partial(screen.request_action, action), help_text)

    async def discover(self) -> Hits:
        for name, callback, help_text in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
