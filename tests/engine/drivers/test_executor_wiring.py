"""Drivers chosen by the engine's TOML and run by the executor end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from shipdeck.domain import Role, Status
from shipdeck.engine import DeploymentFilters, Engine, EngineConfig, load_config
from shipdeck.engine.config import ConfigError
from shipdeck.engine.keys import Principal

from .conftest import PROD_VALUES, VALUES, git

ALICE = Principal("alice", Role.DEPLOYER, "k1")


async def final_rows(engine: Engine, deployment_id: str) -> list[str]:
    for _ in range(1000):
        page = await engine.deployments.page(DeploymentFilters(deployment_id=deployment_id))
        if page.items and page.items[0].status in (Status.SUCCESS, Status.FAILURE):
            return [row.status.value for row in reversed(page.items)]
        await asyncio.sleep(0.02)
    raise AssertionError("the run did not end")


async def test_gitops_from_the_toml_commits_the_version(
    tmp_path: Path, db_url: str, clone: Path, remote: Path
) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text(
        f"""
[executor]
driver = "simulate"
[executor.services.checkout-api]
prod = "iac"

[drivers.iac]
kind = "gitops"
repository = "{clone}"
values_path = "{VALUES}"
"""
    )
    config = load_config(toml)
    assert config.executor.driver_for("checkout-api", "prod") == "iac"
    assert config.executor.driver_for("checkout-api", "dev") == "simulate"
    engine = await Engine.open(db_url, config)
    try:
        result = await engine.actions.deploy(ALICE, "checkout-api", "prod", "2.0.0")
        statuses = await final_rows(engine, result.deployment_id)
        assert statuses[-1] == "success" and statuses[0] == "queued"
        committed = yaml.safe_load(git(remote, "show", f"main:{PROD_VALUES}"))
        assert committed["image"]["tag"] == "2.0.0"
        subject = git(remote, "log", "-1", "--format=%s", "main").strip()
        assert subject == "deploy checkout-api 2.0.0 to prod (by alice)"
        lines = [line.message for line in (await engine.logs(result.deployment_id)).items]
        assert lines, "the driver's git output is stored as log lines"
    finally:
        await engine.close()


def test_unknown_driver_names_are_refused_at_start(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text('[executor]\ndriver = "ansible"\n')
    with pytest.raises(ConfigError, match="undefined driver"):
        load_config(toml)
    toml.write_text('[drivers.x]\nkind = "shell"\n')
    with pytest.raises(ConfigError, match=r"drivers\.x"):
        load_config(toml)
    assert EngineConfig().executor.driver is None
