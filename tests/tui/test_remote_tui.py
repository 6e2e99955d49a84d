"""The TUI on remote servers: reconnection, and a server with only the contract's paths."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn

from shipdeck.client.remote import RemoteClient
from shipdeck.engine import Engine
from tests.conftest import ServerProcess, create_key, free_port

from .conftest import ENVIRONMENTS, SEED, make_app, row, screen_text, seed, wait_for
from .contract_server import contract_app


async def test_header_reconnects_and_nothing_is_missed(db_url: str, server_factory) -> None:
    """Stop the server: `reconnecting`; rows written meanwhile appear once it is back."""
    engine = await Engine.open(db_url)
    for body in SEED:
        await engine.ingest(body)
    await engine.close()
    server: ServerProcess = server_factory(db_url).start()
    client = RemoteClient(server.url, backoff_base=0.05, backoff_cap=0.3, healthy_after=0.5)
    app = make_app(client)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "● live" in screen_text(app) and app.matrix.services())
        assert f"· default · {server.url} " in screen_text(app)  # one server: no (1/1)
        server.stop()
        await wait_for(pilot, lambda: "reconnecting, attempt" in screen_text(app))
        assert "offline since" in screen_text(app)
        # CI keeps reporting to the store while this dashboard cannot reach the server.
        engine = await Engine.open(db_url)
        await engine.ingest(row("gh-30", "search", "qa", "success", 0, "0.9.5"))
        await engine.ingest(row("gh-31", "search", "uat", "in-progress", 0, "0.9.5"))
        await engine.close()
        server.start()
        await wait_for(pilot, lambda: "● live" in screen_text(app))
        await wait_for(pilot, lambda: "◐ deploying 0.9.5" in screen_text(app))
        assert "✓ success 0.9.5" in screen_text(app)
        key = create_key(db_url)
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post(
                "/api/deployments",
                headers={"X-Api-Key": key},
                content=row("gh-32", "search", "prod", "success", 0, "0.9.4").model_dump_json(
                    exclude_none=True
                ),
            )
            assert response.status_code == 201
        await wait_for(pilot, lambda: "✓ success 0.9.4" in screen_text(app))
        search_rows = [
            e
            for e in (
                await client.deployments(
                    __import__("shipdeck.client").client.DeploymentFilters(service="search")
                )
            ).items
        ]
        assert len({e.id for e in search_rows}) == len(search_rows) == 4


async def test_header_names_the_replica_and_follows_a_failover(db_url: str, server_factory) -> None:
    """Two servers on one database: the header says which one, and moves when it dies."""
    await seed(db_url)
    key = create_key(db_url)
    a: ServerProcess = server_factory(db_url)
    b: ServerProcess = server_factory(db_url)
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    client = RemoteClient([a.url, b.url], backoff_base=0.05, backoff_cap=0.3)
    app = make_app(client, profile="prod")
    async with app.run_test(size=(160, 40)) as pilot:
        on_a = f"Matrix · prod · {a.url} (1/2) "
        await wait_for(pilot, lambda: on_a in screen_text(app) and "● live" in screen_text(app))
        a.kill()
        on_b = f"Matrix · prod · {b.url} (2/2) "
        await wait_for(pilot, lambda: on_b in screen_text(app) and "● live" in screen_text(app))
        assert on_a not in screen_text(app)
        async with httpx.AsyncClient(base_url=b.url) as http:
            body = row("gh-50", "search", "prod", "success", 0, "0.9.7")
            response = await http.post(
                "/api/deployments",
                headers={"X-Api-Key": key},
                content=body.model_dump_json(exclude_none=True),
            )
            assert response.status_code == 201
        await wait_for(pilot, lambda: "✓ success 0.9.7" in screen_text(app))
        assert not app._notifications, [n.message for n in app._notifications]


async def test_contract_only_server_is_read_only_and_quiet() -> None:
    """No optional endpoint exists: read-only, said so, and no error shown."""
    app_server = contract_app()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app_server, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            async with asyncio.timeout(10):
                while not server.started:  # noqa: ASYNC110  # uvicorn offers only a flag
                    await asyncio.sleep(0.02)
            for body in SEED[:5]:
                response = await http.post(
                    "/api/deployments", content=body.model_dump_json(exclude_none=True)
                )
                assert response.status_code == 201
            app = make_app(RemoteClient(f"http://127.0.0.1:{port}"))
            async with app.run_test(size=(160, 40)) as pilot:
                await wait_for(pilot, lambda: app.matrix.services() == ["checkout-api"])
                # No matrix index there: the whole matrix was read once and is all held.
                assert not app.matrix.windowed
                # The model is loaded before the grid has drawn it: wait for the screen.
                await wait_for(pilot, lambda: "▸◷ 1.4.4" in screen_text(app))
                text = screen_text(app)
                assert "read-only" in text and "● live" in text
                assert "✗ failure 1.4.3" in text and "▸◷ 1.4.4" in text
                assert [e for e in ENVIRONMENTS if e != "uat"] == app.matrix.environments
                await http.post(
                    "/api/deployments",
                    content=row(
                        "gh-40", "checkout-api", "dev", "in-progress", 0, "1.5.0"
                    ).model_dump_json(exclude_none=True),
                )
                await wait_for(pilot, lambda: "◐ deploying 1.5.0" in screen_text(app))
                await pilot.press("H")
                await wait_for(pilot, lambda: "gh-40" in screen_text(app))
                assert not app._notifications, [n.message for n in app._notifications]
    finally:
        server.should_exit = True
        await task
