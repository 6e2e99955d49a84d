"""The engine configuration the README shows is a configuration the engine accepts."""

from __future__ import annotations

import re
from pathlib import Path

from shipdeck.engine import load_config

README = Path(__file__).parents[2] / "README.md"


def test_readme_engine_toml_loads(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Engine configuration") :]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    path = tmp_path / "engine.toml"
    path.write_text(block.group(1), encoding="utf-8")
    config = load_config(path)
    assert config.executor.driver_for("billing", "prod") == "iac"
    assert config.executor.driver_for("billing", "dev") == "sim"
    assert config.executor.driver_for("search", "prod") == "release"
    assert set(config.drivers) == {"sim", "release", "iac", "simulate"}


def test_api_doc_policy_toml_loads(tmp_path: Path) -> None:
    text = (README.parent / "docs" / "actions-api.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[policies.*?)```", text, re.DOTALL)
    assert block is not None
    path = tmp_path / "engine.toml"
    path.write_text(block.group(1), encoding="utf-8")
    policy = load_config(path).policies["prod"]
    assert policy.approvals_required == 2 and len(policy.freeze) == 2
