"""`DeployModal`: pick a version seen in any environment, or type one."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ..format import GLYPHS, STATUS_STYLES, WORDS, age
from ..model import SeenVersion
from ..notify import tell
from ..sanitize import sanitize, truncate
from ._base import ActionModal, facts

VERSION_WIDTH = 16


def version_option(seen: SeenVersion, now: datetime) -> Text:
    """`1.4.3   qa ✓ success · prod ✗ failure   30m ago`."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(truncate(sanitize(seen.version), VERSION_WIDTH).ljust(VERSION_WIDTH), "bold")
    for index, (environment, status) in enumerate(seen.places):
        text.append(" · " if index else " ")
        text.append(f"{sanitize(environment)} ")
        text.append(f"{GLYPHS[status]} {WORDS[status]}", STATUS_STYLES[status])
    text.append(f"  {age(seen.newest, now)} ago", "dim")
    return text


class DeployModal(ActionModal[str]):
    """Answers the version to deploy, or None."""

    CONFIRM_LABEL = "Deploy"
    HINT = "enter deploys the highlighted or typed version · esc closes"

    def __init__(
        self,
        service: str,
        environment: str,
        versions: list[SeenVersion],
        now: datetime,
        current: str | None = None,
    ) -> None:
        """Create the modal.

        Args:
            service: The slot's service.
            environment: The slot's environment.
            versions: Versions of the service seen in any environment, newest first.
            now: The app's clock, for ages.
            current: The slot's current version, if any.
        """
        super().__init__()
        self.service = service
        self.environment = environment
        self.versions = versions
        self._now = now
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="modal-box") as box:
            box.border_title = "Deploy"
            rows = [("service", self.service, "bold"), ("to", self.environment, "bold")]
            if self._current:
                rows.append(("now", self._current, ""))
            yield Static(facts(rows), id="modal-facts")
            if self.versions:
                yield Static("Versions seen in any environment, newest first:", markup=False)
                yield OptionList(
                    *(Option(version_option(v, self._now)) for v in self.versions),
                    id="modal-versions",
                )
            else:
                yield Static("No version of this service was seen yet: type one.", markup=False)
            yield Input(placeholder="or type a version", id="modal-version", max_length=200)
            yield from self.buttons()

    def on_mount(self) -> None:
        if self.versions:
            self.query_one("#modal-version", Input).value = self.versions[0].version

    @on(OptionList.OptionHighlighted, "#modal-versions")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#modal-version", Input).value = self.versions[event.option_index].version

    @on(OptionList.OptionSelected, "#modal-versions")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.versions[event.option_index].version)

    @on(Input.Submitted, "#modal-version")
    def _typed(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        version = self.query_one("#modal-version", Input).value.strip()
        if not version:
            tell(self, "nudge", "Pick a version or type one.")
            return
        self.dismiss(version)
