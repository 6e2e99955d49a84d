"""`/api/version` and `/api/presets`: what upstream's frontend reads beside the data."""

from __future__ import annotations

import httpx

from shipdeck import __version__
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.presets import PresetConfig
from shipdeck.server import create_app


async def test_version_is_shipdecks_and_needs_no_key(db_url: str) -> None:
    config = EngineConfig.model_validate({"auth": {"read": "key"}})
    engine = await Engine.open(db_url, config)
    try:
        app = create_app(engine)
        app.state.engine = engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/api/version")
            assert response.status_code == 200
            assert response.json() == {"version": __version__}
            assert (await client.get("/api/presets")).status_code == 401
    finally:
        await engine.close()


async def test_no_presets_configured_is_an_empty_catalog(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/presets")
    assert response.status_code == 200
    assert response.json() == {"items": []}


async def test_configured_presets_are_served_by_source_then_name(db_url: str) -> None:
    presets = [
        PresetConfig(source="acme/web", name="Frontend", settings={"theme": "dark"}),
        PresetConfig(source="acme/infra", name="Ops", settings={"failOnly": True}),
    ]
    engine = await Engine.open(db_url, EngineConfig(presets=presets))
    try:
        app = create_app(engine)
        app.state.engine = engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = (await client.get("/api/presets")).json()
            again = (await client.get("/api/presets")).json()
    finally:
        await engine.close()
    assert [(p["source"], p["name"]) for p in first["items"]] == [
        ("acme/infra", "Ops"),
        ("acme/web", "Frontend"),
    ]
    ops = first["items"][0]
    assert ops["version"] == 1 and ops["settings"] == {"failOnly": True}
    assert ops["fetched_at"].endswith("Z")
    assert again == first  # read once: `fetched_at` does not move


def test_presets_come_from_toml() -> None:
    config = EngineConfig.model_validate(
        {"presets": [{"source": "acme/web", "name": "Dark", "settings": {"theme": "dark"}}]}
    )
    assert config.presets[0].settings == {"theme": "dark"}
