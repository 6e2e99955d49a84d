"""SVG snapshots of every screen, at 80×24 and at 160×48, on a known store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.domain import LogLineIngest
from shipdeck.engine import load_config
from shipdeck.tui.modals import DeployModal, PromoteModal, RollbackModal
from shipdeck.tui.screens.approvals import ApprovalsScreen
from shipdeck.tui.screens.detail import DetailScreen
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.screens.promotion_detail import PromotionDetailScreen
from shipdeck.tui.widgets.history_table import HistoryTable
from shipdeck.tui.widgets.log_pane import LogPane
from shipdeck.tui.widgets.matrix_grid import MatrixGrid

from .approval_scene import approvals_config_file, stage_approvals
from .conftest import NOW, engine_config_file, make_app, seed, wait_for

SIZES = [(80, 24), (160, 48)]


async def _matrix(pilot: Pilot[None]) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, MatrixScreen) and app.screen.query_one(MatrixGrid).services,
    )
    await pilot.press("down", "right", "right", "right")


async def _history(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("H")
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, HistoryScreen)
            and len(app.screen.query_one(HistoryTable).rows) == 10
        ),
    )
    await pilot.press("down")


async def _detail(pilot: Pilot[None]) -> None:
    await _history(pilot)
    await pilot.press("down", "down", "enter")
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, DetailScreen)
            and app.screen.rows
            and app.screen.query_one("#detail-recent").option_count > 0
        ),
    )


async def _help(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("question_mark")


async def _filter(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("slash", *"pay")


async def _palette(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("colon", *"history serv")
    await pilot.pause(0.5)


async def _deploy_modal(pilot: Pilot[None]) -> None:
    await _matrix(pilot)  # checkout-api → prod
    await pilot.press("d")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DeployModal))


async def _promote_modal(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("left", "left", "left", "p")  # checkout-api dev → qa
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, PromoteModal) and app.screen.plan is not None
    )


async def _rollback_modal(pilot: Pilot[None]) -> None:
    await _matrix(pilot)  # prod, the last environment: the service's name is asked for
    await pilot.press("r")
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, RollbackModal) and app.screen.plan is not None
    )


LOG_LINES = [
    ("info", "system", "pulling registry.example.com/payments:2.0.1"),
    ("debug", "stdout", "resolved 14 layers, 3 cached"),
    ("info", "stdout", "starting 4 workers on :8080"),
    ("warning", "stderr", "slow response from db-primary (1.8 s), retrying"),
    ("error", "stderr", "timeout talking to ledger-api after 5 s"),
    ("info", "stdout", "\x1b[31mred\x1b]0;pwned\x07 [bold]not bold[/bold] stays literal"),
    ("info", "stdout", "health " + "check ok · " * 20 + "end"),
    ("warning", "stdout", "ledger-api timeout budget at 80%"),
    ("info", "system", "pushing: 2 of 4 instances ready"),
]


async def _logs(pilot: Pilot[None]) -> None:
    await _matrix(pilot)  # checkout-api → prod: its failed gh-5
    app = pilot.app
    engine = app.client.engine  # type: ignore[attr-defined]
    stamp = [NOW.replace(second=index, microsecond=index * 1000) for index in range(12)]
    await engine.append_logs(
        "gh-7",
        [
            LogLineIngest(level=level, stream=stream, message=message, at=stamp[index])
            for index, (level, stream, message) in enumerate(LOG_LINES)
        ],
    )
    await engine.append_logs(
        "gh-5",
        [
            LogLineIngest(message="deploying 1.4.3 to prod", at=stamp[0]),
            LogLineIngest(level="error", message="migration 42 failed: lock timeout", at=stamp[1]),
        ],
    )
    await pilot.press("L")
    await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
    await pilot.press("o", *"gh-7", "enter")
    await pilot.press("slash", *"timeout", "enter")

    def shown() -> bool:
        panes = {p.deployment_id: p for p in app.screen.query(LogPane)}
        return (
            len(panes) == 2
            and panes["gh-5"].title_bar.ended is not None
            and panes["gh-5"].view.last_seq == 2
            and panes["gh-7"].view.last_seq == len(LOG_LINES)
            and bool(panes["gh-7"].title_bar.label)
            and not panes["gh-7"].view.following
        )

    await wait_for(pilot, shown)


async def _approvals(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    app = pilot.app
    await stage_approvals(app.client.engine)  # type: ignore[attr-defined]
    await pilot.press("A")
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, ApprovalsScreen)
            and len(app.screen.pending) == 3
            and app.approvals_waiting == 1  # type: ignore[attr-defined]
        ),
    )
    app.clear_notifications()  # the "approval requested" toast would cover the lists


async def _promotion_detail(pilot: Pilot[None]) -> None:
    await _approvals(pilot)  # checkout-api qa → prod, waiting for me
    await pilot.press("enter")
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, PromotionDetailScreen) and app.screen.loaded
    )


SCREENS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "matrix": _matrix,
    "matrix-filter": _filter,
    "history": _history,
    "detail": _detail,
    "help": _help,
    "palette": _palette,
    "deploy-modal": _deploy_modal,
    "promote-modal": _promote_modal,
    "rollback-modal": _rollback_modal,
    "logs": _logs,
    "approvals": _approvals,
    "promotion-detail": _promotion_detail,
}
CONFIGS = {"approvals": approvals_config_file, "promotion-detail": approvals_config_file}
"""Screens whose engine needs more than the environments' order."""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    screen: str, size: tuple[int, int], snap_compare, db_url, tmp_path
) -> None:
    import asyncio

    asyncio.run(seed(db_url))
    config_file = CONFIGS.get(screen, engine_config_file)(tmp_path)
    client = EmbeddedClient(db_url, load_config(config_file))  # type: ignore[arg-type]
    app = make_app(client)

    async def run_before(pilot: Pilot[None]) -> None:
        await SCREENS[screen](pilot)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
