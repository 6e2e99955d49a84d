"""The TUI under test: a fixed clock, a known store, and one suite for both engines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from textual.app import App

from shipdeck.client import EngineClient
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.domain import DeploymentEventIngest
from shipdeck.engine import Engine, EngineConfig
from shipdeck.tui.app import ShipdeckApp
from tests.conftest import ServerProcess
from tests.connectors.platforms import PlatformServer, platform_server

NOW = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)
ENVIRONMENTS = ["dev", "qa", "uat", "prod"]


def clock() -> datetime:
    """The frozen time every TUI test sees."""
    return NOW


def row(
    deployment_id: str,
    service: str,
    environment: str,
    status: str,
    minutes_ago: float,
    version: str,
    **extra: object,
) -> DeploymentEventIngest:
    """An ingest body `minutes_ago` before NOW."""
    body = {
        "deployment_id": deployment_id,
        "service": service,
        "environment": environment,
        "status": status,
        "version": version,
        "happened_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "actor": "alice",
        "sha": "3f2c1a9",
        "ref": "refs/heads/main",
        "run_number": deployment_id.split("-")[-1],
        "run_url": f"https://ci.example.com/runs/{deployment_id}",
        **extra,
    }
    return DeploymentEventIngest.model_validate_json(json.dumps(body))


SEED: list[DeploymentEventIngest] = [
    # checkout-api: dev ok, qa ok with a queued next, prod failed after a success.
    row("gh-1", "checkout-api", "dev", "success", 300, "1.4.2"),
    row("gh-2", "checkout-api", "qa", "success", 240, "1.4.3"),
    row("gh-3", "checkout-api", "qa", "queued", 10, "1.4.4"),
    row("gh-4", "checkout-api", "prod", "success", 600, "1.4.2"),
    row("gh-5", "checkout-api", "prod", "failure", 30, "1.4.3", parent_deployments=["gh-2"]),
    # payments: deploying to uat after a failure there.
    row("gh-6", "payments", "uat", "failure", 120, "2.0.0"),
    row("gh-7", "payments", "uat", "in-progress", 2, "2.0.1", phase="pushing"),
    row("gh-8", "payments", "dev", "success", 200, "2.0.1"),
    # search: only dev.
    row("gh-9", "search", "dev", "success", 1440, "0.9.0"),
    # hostile text must stay inert.
    row("gh-10", "[bold]evil[/bold]", "dev", "success", 60, "\x1b[31mred\x1b]0;x\x07"),
]


async def seed(database_url: str) -> None:
    """Write SEED through an engine (as CI would have)."""
    engine = await Engine.open(database_url, EngineConfig())
    try:
        for body in SEED:
            await engine.ingest(body)
    finally:
        await engine.close()


def engine_config_file(tmp_path) -> object:
    """An engine TOML with the demo's environment order."""
    path = tmp_path / "engine.toml"
    path.write_text("".join(f'[[environments]]\nname = "{e}"\n' for e in ENVIRONMENTS))
    return path


@pytest.fixture(params=["embedded", "remote", "appaloft", "pushpaka"])
async def deck_client(
    request: pytest.FixtureRequest, db_url: str, tmp_path, server_factory
) -> AsyncIterator[tuple[EngineClient, Engine | ServerProcess | PlatformServer]]:
    """The same store behind an embedded engine or a real `shipdeck serve` — or the same
    deployments on another platform (a fake Appaloft or Pushpaka), through its connector."""
    if request.param in ("appaloft", "pushpaka"):
        platform = await platform_server(request.param, SEED)
        try:
            yield platform.client(), platform
        finally:
            await platform.loopback.stop()
        return
    await seed(db_url)
    config_path = engine_config_file(tmp_path)
    if request.param == "embedded":
        from shipdeck.engine import load_config

        client = EmbeddedClient(db_url, load_config(config_path))  # type: ignore[arg-type]
        yield client, None  # type: ignore[misc]
    else:
        from shipdeck.client.remote import RemoteClient

        server = server_factory(db_url, config=config_path).start()
        yield RemoteClient(server.url), server


def make_app(client: EngineClient, **kwargs: object) -> ShipdeckApp:
    """The real app with the frozen clock."""
    return ShipdeckApp(client, clock=clock, **kwargs)  # type: ignore[arg-type]


def screen_lines(app: App[object]) -> list[str]:
    """What the terminal shows, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as one string."""
    return "\n".join(screen_lines(app))


async def wait_for(pilot: object, predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Let the app run until `predicate()` is true (no fixed sleeps)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)  # type: ignore[attr-defined]
