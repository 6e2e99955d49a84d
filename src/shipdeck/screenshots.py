"""`python -m shipdeck.screenshots DIR`: SVGs of every screen, real app, demo data."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.pilot import Pilot

from .domain import Role, Status
from .domain.promotions import PromotionView
from .engine import Engine, EngineError, Principal
from .tui.app import ShipdeckApp
from .tui.modals import CommentModal, RollbackModal
from .tui.screens.approvals import ApprovalsScreen
from .tui.screens.detail import DetailScreen
from .tui.screens.history import HistoryScreen
from .tui.screens.insights import InsightsScreen
from .tui.screens.logs import LogsScreen
from .tui.screens.matrix import MatrixScreen
from .tui.screens.promotion_detail import PromotionDetailScreen
from .tui.widgets.history_table import HistoryTable
from .tui.widgets.matrix_grid import MatrixGrid

NOW = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)
SIZES = [(80, 24), (160, 48)]
Step = Callable[[Pilot[None], ShipdeckApp], Awaitable[None]]


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 20) -> None:
    """Run the app until `predicate()` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.05)


async def matrix(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await until(
        pilot,
        lambda: isinstance(app.screen, MatrixScreen) and app.screen.query_one(MatrixGrid).services,
    )
    await pilot.press("down", "right", "right")


async def history(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await matrix(pilot, app)
    await pilot.press("H")
    await until(
        pilot,
        lambda: isinstance(app.screen, HistoryScreen) and app.screen.query_one(HistoryTable).rows,
    )


async def detail(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await history(pilot, app)
    await pilot.press("down", "enter")
    await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.rows)
    await pilot.pause(0.3)


async def help_screen(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await matrix(pilot, app)
    await pilot.press("question_mark")


async def palette(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await matrix(pilot, app)
    await pilot.press("colon", *"history")
    await pilot.pause(0.5)


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


async def ask_for_approvals(engine: Engine) -> None:
    """What the demo's colleagues do, at fixed times: three services are asked into `prod`
    (two approvals, not the requester's), the oldest approved once already — the demo's user,
    an approver, gives the second."""
    asked = []
    real_clock = engine.clock
    try:
        for minutes, (name, service) in zip(
            (50, 25, 8),
            (("alice", "gateway"), ("jules", "inventory"), ("hana-sato", "pricing")),
            strict=True,
        ):
            engine.clock = _fixed(NOW - timedelta(minutes=minutes))
            with contextlib.suppress(EngineError):  # nothing successful in uat to promote
                result = await engine.actions.promote(
                    Principal(name, Role.DEPLOYER), service, "uat", "prod"
                )
                asked.append(result.promotion_id)
        engine.clock = _fixed(NOW - timedelta(minutes=20))
        if asked and asked[0] is not None:
            await engine.governance.approve(
                Principal("carol.diaz", Role.APPROVER), asked[0], "canary is clean"
            )
    finally:
        engine.clock = real_clock


async def approvals(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await matrix(pilot, app)
    await ask_for_approvals(app.client.engine)  # type: ignore[attr-defined]
    await pilot.press("A")
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, ApprovalsScreen)
            and app.screen.loaded
            and app.screen.pending
            and app.approvals_waiting > 0
        ),
    )
    app.clear_notifications()


async def promotion(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await approvals(pilot, app)
    await pilot.press("end", "enter")  # the oldest: approved once already
    await until(pilot, lambda: isinstance(app.screen, PromotionDetailScreen) and app.screen.loaded)


async def logs(pilot: Pilot[None], app: ShipdeckApp) -> None:
    """Approve the promotion that awaits the user (`a`), then follow its run's log."""
    await approvals(pilot, app)
    engine: Engine = app.client.engine  # type: ignore[attr-defined]
    engine.clock = _fixed(NOW)  # the promotions' times are the screenshots' (no expiry)
    await pilot.press("end", "a")
    await until(pilot, lambda: isinstance(app.screen, CommentModal))
    await pilot.press(*"canary is clean", "enter")
    found: list[PromotionView] = []
    async with asyncio.timeout(20):
        while not found:
            await pilot.pause(0.1)
            found = (await engine.governance.promotions_page(status="approved")).items
    approved = found[0]
    app.clear_notifications()
    app.open_logs(approved.deployment_id, f"{approved.service} → {approved.to_environment}")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))
    await pilot.pause(4.0)  # a few phases of the run, and their lines


async def rollback(pilot: Pilot[None], app: ShipdeckApp) -> None:
    """`r` on a production slot whose latest deployment failed: the rollback's plan."""
    await matrix(pilot, app)
    engine: Engine = app.client.engine  # type: ignore[attr-defined]
    failed = next(
        row.service
        for row in (await engine.matrix.get()).rows
        if row.slots["prod"].current.status is Status.FAILURE
        and row.slots["prod"].last_successful is not None
    )
    await pilot.press("slash", *failed, "enter", "right", "right", "right", "r")
    await until(pilot, lambda: isinstance(app.screen, RollbackModal) and app.screen.plan)


async def insights(pilot: Pilot[None], app: ShipdeckApp) -> None:
    """`I`: the demo's last 7 days (the engine's clock set to the screenshots' moment)."""
    await matrix(pilot, app)
    engine: Engine = app.client.engine  # type: ignore[attr-defined]
    engine.clock = _fixed(NOW)
    await pilot.press("I")
    await until(pilot, lambda: isinstance(app.screen, InsightsScreen) and app.screen.insights)


SCREENS: dict[str, Step] = {
    "matrix": matrix,
    "history": history,
    "detail": detail,
    "help": help_screen,
    "palette": palette,
    "approvals": approvals,
    "promotion": promotion,
    "logs": logs,
    "rollback": rollback,
    "insights": insights,
}


async def shoot(folder: Path, scratch: Path) -> list[Path]:
    """Render every screen at every size into `folder` (databases go in `scratch`)."""
    from .launch import demo_client

    written = []
    for name, step in SCREENS.items():
        for width, height in SIZES:
            database = scratch / f"{name}-{width}x{height}.db"
            client = demo_client(traffic=False, now=NOW, database=database)
            app = ShipdeckApp(client, profile="demo", clock=lambda: NOW)
            async with app.run_test(size=(width, height)) as pilot:
                await step(pilot, app)
                await pilot.pause(0.2)
                path = folder / f"{name}-{width}x{height}.svg"
                app.save_screenshot(str(path.name), path=str(folder))
                written.append(path)
    return written


def main() -> None:
    """Entry point: `python -m shipdeck.screenshots [DIR]`."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in asyncio.run(shoot(folder, Path(tmp))):
            print(path)


if __name__ == "__main__":
    main()
