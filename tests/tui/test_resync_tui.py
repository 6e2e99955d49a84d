"""After a reconnection to a server that cannot replay what was missed, the TUI refetches,
and says `live` only once what it shows is the server's.

A contract-only server (UUID event ids, `Last-Event-ID` ignored) restarted with other data
is the case from the field: rows it lost must go, rows it gained must come, and the header
must not say `live` over a stale matrix. The same holds for a connector's platform.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from textual.message import Message

from shipdeck.client import ConnectionStatus, LinkState
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import Matrix
from shipdeck.tui.messages import ConnectionUpdated
from shipdeck.tui.model import MatrixModel
from tests.connectors.loopback import Loopback
from tests.connectors.platforms import platform_server, seeded

from .conftest import SEED, make_app, row, screen_text, wait_for
from .contract_server import contract_app

Slots = dict[tuple[str, str], tuple[str, str | None]]


def served(matrix: Matrix) -> Slots:
    """Each slot's current and next row ids, as a server's matrix has them."""
    return {
        (r.service, env): (slot.current.id, slot.next.id if slot.next else None)
        for r in matrix.rows
        for env, slot in r.slots.items()
    }


def shown(model: MatrixModel) -> Slots:
    """The same, as the TUI holds them."""
    slots: Slots = {}
    for service, cells in model.cells.items():
        for env, cell in cells.items():
            if cell.current is None:
                continue
            other = cell.latest_other
            upcoming = other if other is not None and other.key > cell.current.key else None
            slots[(service, env)] = (cell.current.ref.id, upcoming.ref.id if upcoming else None)
    return slots


async def post(to: str | Any, *bodies: Any) -> None:
    """Report rows to a server at a URL, or to an app not serving yet."""
    transport = None if isinstance(to, str) else httpx.ASGITransport(app=to)
    base = to if isinstance(to, str) else "http://contract"
    async with httpx.AsyncClient(base_url=base, transport=transport) as http:
        for body in bodies:
            response = await http.post(
                "/api/deployments", content=body.model_dump_json(exclude_none=True)
            )
            assert response.status_code == 201


async def server_matrix(url: str) -> Matrix:
    async with httpx.AsyncClient(base_url=url) as http:
        return Matrix.model_validate_json((await http.get("/api/matrix")).content)


async def test_a_restarted_contract_server_is_refetched_before_live() -> None:
    first = await Loopback(contract_app()).start()
    try:
        await post(first.url, *SEED[:7])
        states: list[ConnectionStatus] = []

        def hook(message: Message) -> None:
            if isinstance(message, ConnectionUpdated):
                states.append(message.status)

        client = RemoteClient(first.url, backoff_base=0.05, backoff_cap=0.3)
        app = make_app(client)
        async with app.run_test(size=(160, 40), message_hook=hook) as pilot:
            await wait_for(pilot, lambda: "● live" in screen_text(app) and app.matrix.cells)
            # A row live: the client now has an event id (a UUID) it could resume from.
            await post(first.url, row("gh-30", "checkout-api", "uat", "success", 0, "1.4.4"))
            await wait_for(pilot, lambda: "✓ success 1.4.4" in screen_text(app))
            assert shown(app.matrix) == served(await server_matrix(first.url))
            await first.stop()
            await wait_for(pilot, lambda: "reconnecting" in screen_text(app))
            # Back with other data: checkout-api's rows are gone, search is new, and a row was
            # reported while this dashboard was away.
            other = contract_app()
            await post(other, *SEED[5:9], row("gh-40", "search", "qa", "failure", 0, "0.9.9"))
            lives = len([s for s in states if s.state is LinkState.LIVE])
            await first.start(other)
            reconnected = asyncio.get_running_loop().time()
            await wait_for(
                pilot,
                lambda: len([s for s in states if s.state is LinkState.LIVE]) > lives,
                timeout=5.0,
            )
            # The first `live` after the restart: what is shown is the server's matrix.
            expected = served(await server_matrix(first.url))
            assert shown(app.matrix) == expected
            assert asyncio.get_running_loop().time() - reconnected < 5.0
            assert LinkState.CATCHING_UP in [s.state for s in states]
            await wait_for(pilot, lambda: "✗ failure 0.9.9" in screen_text(app))
            assert "checkout-api" not in screen_text(app)
            assert "● live" in screen_text(app)
    finally:
        await first.stop()


async def test_ctrl_r_reloads_what_a_server_never_announced() -> None:
    """A server that lost its stream's events: `ctrl+r` fetches the matrix again."""
    server = await Loopback(contract_app()).start()
    try:
        await post(server.url, *SEED[:3])
        app = make_app(RemoteClient(server.url))
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: "▸◷ 1.4.4" in screen_text(app))
            server.app.state.rows.clear()  # gone, and nothing on the stream says so
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "checkout-api" not in screen_text(app))
            assert "● live" in screen_text(app)
    finally:
        await server.stop()


async def test_a_platform_restarted_with_other_data_is_refetched_before_live() -> None:
    platform = await platform_server("appaloft", SEED[:7])
    try:
        app = make_app(platform.client())
        async with app.run_test(size=(160, 40)) as pilot:
            # The model is in before its rows are painted (the next frame): wait for both.
            await wait_for(
                pilot, lambda: "● live" in screen_text(app) and "checkout-api" in screen_text(app)
            )
            await platform.loopback.stop()
            await wait_for(pilot, lambda: "reconnecting" in screen_text(app))
            await platform.loopback.start(seeded("appaloft", SEED[7:9]).fake.app)
            await wait_for(pilot, lambda: "checkout-api" not in screen_text(app), timeout=5.0)
            await wait_for(pilot, lambda: "● live" in screen_text(app))
            assert sorted(app.matrix.services()) == ["payments", "search"]
    finally:
        await platform.loopback.stop()
