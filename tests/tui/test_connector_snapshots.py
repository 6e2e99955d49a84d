"""SVG snapshots of what is new on other platforms: the matrix through the Appaloft
connector, a server with no approval queue, a server with no log stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from textual.pilot import Pilot

from shipdeck.client.appaloft import AppaloftClient
from shipdeck.client.remote import RemoteClient
from shipdeck.tui.app import ASKING
from shipdeck.tui.screens.approvals import ApprovalsScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.log_pane import LogPane
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from tests.connectors.appaloft_fake import TOKEN
from tests.connectors.loopback import serving_in_thread
from tests.connectors.platforms import seeded

from .conftest import SEED, make_app, screen_text, wait_for
from .contract_server import contract_app

SIZES = [(80, 24), (160, 48)]
APPALOFT = "appaloft+http://appaloft.internal:3001"
DASHBOARD = "http://dashboard.internal:3000"


class _Named(RemoteClient):
    """A remote client the header names by a fixed address (the port is the test's)."""

    @property
    def label(self) -> str:
        return DASHBOARD


async def _matrix(pilot: Pilot[None]) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, MatrixScreen)
            and app.screen.query_one(MatrixGrid).services
            and "● live" in screen_text(app)
            and app.capabilities.reason != ASKING  # the footer shows what may be done
        ),
    )


async def _no_queue(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("A")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsScreen) and app.screen.loaded)


async def _no_logs(pilot: Pilot[None]) -> None:
    await _matrix(pilot)
    await pilot.press("down", "right", "right", "right", "L")  # checkout-api → prod
    app = pilot.app

    def stopped() -> bool:
        panes = list(app.screen.query(LogPane)) if isinstance(app.screen, LogsScreen) else []
        return bool(panes) and "no lines:" in screen_text(app)

    await wait_for(pilot, stopped)


SCENES: dict[str, tuple[str, Callable[[Pilot[None]], Awaitable[None]]]] = {
    "matrix-appaloft": ("appaloft", _matrix),
    "approvals-no-queue": ("appaloft", _no_queue),
    "logs-no-stream": ("contract", _no_logs),
}


def _contract_app() -> object:
    """A contract-only server holding the suite's first rows."""
    app = contract_app()

    async def report() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as http:
            for body in SEED[:5]:
                await http.post("/api/deployments", content=body.model_dump_json(exclude_none=True))

    asyncio.run(report())
    return app


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_connector_snapshot(scene: str, size: tuple[int, int], snap_compare) -> None:
    kind, steps = SCENES[scene]
    served = seeded("appaloft", SEED).fake.app if kind == "appaloft" else _contract_app()
    with serving_in_thread(served) as server:
        if kind == "appaloft":
            client = AppaloftClient(server.url, TOKEN, label=APPALOFT, poll_interval=0.25)
            app = make_app(client, profile=APPALOFT)
        else:
            app = make_app(_Named(server.url), profile="dashboard")

        async def run_before(pilot: Pilot[None]) -> None:
            await steps(pilot)
            await pilot.pause(0.2)

        assert snap_compare(app, terminal_size=size, run_before=run_before)
