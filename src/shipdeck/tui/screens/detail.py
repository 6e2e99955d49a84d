"""The deployment detail: one logical deployment's rows as a timeline, its parents, its slot."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ...client import DeploymentFilters
from ...domain import DeploymentEvent
from ..actions import ActionTarget, row_target
from ..format import NO_VERSION, STATUS_STYLES, age, status_label, timestamp, version_text
from ..sanitize import sanitize
from ..widgets.deck_footer import DeckFooter
from ..widgets.deck_header import DeckHeader
from ._acting import ActingScreen, action_bindings

RECENT_IN_SLOT = 10


def timeline_text(rows: list[DeploymentEvent]) -> Text:
    """One line per row, oldest first: when, status (phase), version, actor, message."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, row in enumerate(rows):
        if index:
            text.append("\n")
        text.append(f"{timestamp(row.happened_at)}  ", style="dim")
        text.append(
            status_label(row.status, sanitize(row.phase) or None).ljust(14),
            style=STATUS_STYLES[row.status],
        )
        text.append(f" {version_text(row)}", style="bold")
        if row.actor:
            text.append(f"  by {sanitize(row.actor)}")
        if row.trigger and row.trigger != "ingest":
            text.append(f"  [{sanitize(row.trigger)}]")
        if row.message:
            text.append(f"  {sanitize(row.message)}", style="italic")
    return text


def summary_text(deployment_id: str, rows: list[DeploymentEvent]) -> Text:
    """Service → environment, version, latest status and where it ran."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{sanitize(deployment_id)}", style="bold")
    if not rows:
        text.append("  no rows were reported for this deployment (yet)")
        return text
    last = rows[-1]
    text.append(f"  {sanitize(last.service)} → {sanitize(last.environment)}  ")
    text.append(
        status_label(last.status, sanitize(last.phase) or None), style=STATUS_STYLES[last.status]
    )
    text.append(f"  {version_text(last)}")
    if not last.version:
        text.append(f" ({NO_VERSION})", style="dim")
    for label, value in (("sha", last.sha), ("ref", last.ref), ("run", last.run_url)):
        if value:
            text.append(f"\n{label} {sanitize(value)}", style="dim")
    return text


class DetailScreen(ActingScreen):
    """All rows of one `deployment_id`, with navigable parents and the slot's recent ones."""

    AUTO_FOCUS = "#detail-parents"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "tab",
            "app.focus_next",
            "Next list",
            show=False,
            id="detail.next-list",
            tooltip="Move between parents and recent deployments",
        ),
        Binding(
            "H",
            "slot_history",
            "Slot history",
            id="detail.slot-history",
            tooltip="History of this deployment's slot",
        ),
        *action_bindings("detail"),
    ]

    def __init__(self, deployment_id: str, row: DeploymentEvent | None = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.row = row
        self.rows: list[DeploymentEvent] = []

    def compose(self) -> ComposeResult:
        yield DeckHeader(self.deck.clock)
        yield Static(id="detail-summary")
        yield Label("Timeline (oldest first)", classes="detail-heading")
        with VerticalScroll(id="detail-timeline-box"):
            yield Static(id="detail-timeline")
        yield Label("Parents (enter opens)", classes="detail-heading")
        yield OptionList(id="detail-parents")
        yield Label("Recent in this slot (enter opens)", classes="detail-heading")
        yield OptionList(id="detail-recent")
        yield DeckFooter()

    def on_mount(self) -> None:
        self.query_one(DeckHeader).screen_title = "Deployment"
        self.load()

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def load(self) -> None:
        client = self.deck.client
        page = await client.deployments(
            DeploymentFilters(deployment_id=self.deployment_id), limit=500
        )
        self.rows = sorted(page.items, key=lambda r: (r.happened_at, r.id))
        self.query_one("#detail-summary", Static).update(
            summary_text(self.deployment_id, self.rows)
        )
        self.query_one("#detail-timeline", Static).update(timeline_text(self.rows))
        parents = self.query_one("#detail-parents", OptionList)
        parents.clear_options()
        names = list(dict.fromkeys(p for r in self.rows for p in r.parent_deployments))
        parents.add_options(
            [Option(sanitize(p), id=p) for p in names] or [Option("(none)", disabled=True)]
        )
        if names:
            parents.highlighted = 0
        anchor = self.rows[-1] if self.rows else self.row
        recent = self.query_one("#detail-recent", OptionList)
        recent.clear_options()
        if anchor is None:
            return
        slot = await client.deployments(
            DeploymentFilters(service=anchor.service, environment=anchor.environment), limit=100
        )
        latest: dict[str, DeploymentEvent] = {}
        for row in slot.items:
            if row.deployment_id != self.deployment_id:
                latest.setdefault(row.deployment_id, row)
        now = self.deck.clock()
        options = [
            Option(
                Text.assemble(
                    (status_label(r.status).ljust(12), STATUS_STYLES[r.status]),
                    f" {version_text(r):<12} {sanitize(r.deployment_id)}"
                    f"  {age(r.happened_at, now)} ago",
                ),
                id=r.deployment_id,
            )
            for r in list(latest.values())[:RECENT_IN_SLOT]
        ]
        recent.add_options(options or [Option("(none)", disabled=True)])
        for box, filled in ((parents, names), (recent, options)):
            if filled:
                box.highlighted = 0
        (parents if names else recent).focus()

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.deck.open_detail(event.option.id)

    def action_target(self) -> ActionTarget | None:
        """This deployment (its latest row)."""
        anchor = self.rows[-1] if self.rows else self.row
        return None if anchor is None else row_target(anchor)

    def action_slot_history(self) -> None:
        anchor = self.rows[-1] if self.rows else self.row
        if anchor is not None:
            self.deck.open_history(
                DeploymentFilters(service=anchor.service, environment=anchor.environment)
            )
