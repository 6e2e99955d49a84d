"""The pipelines of docs/ci.md, run as GitHub Actions and GitLab CI would run their
`shipdeck` lines: in order, in a shell, with the variables those systems set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import ServerProcess

from .conftest import CI_PREFIXES, GITHUB_ACTIONS, GITLAB_CI

DOC = Path(__file__).parents[2] / "docs" / "ci.md"


def example(heading: str) -> dict[str, Any]:
    """The YAML block under `### heading` in docs/ci.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"### {heading}\n", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, heading
    return yaml.safe_load(block.group(1))


def run_lines(lines: list[str], env: dict[str, str]) -> None:
    """Run each line that calls shipdeck in bash, as the CI runner would (others are the
    project's own commands: installing, deploying)."""
    bin_dir = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CI_PREFIXES)}
    full = {**clean, **env, "PATH": f"{bin_dir}:{clean.get('PATH', '/usr/bin:/bin')}"}
    for line in lines:
        if "shipdeck" not in line or line.startswith("pip "):
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            env=full,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"


def rows(server: ServerProcess) -> list[dict[str, Any]]:
    page = httpx.get(server.url + "/api/deployments", params={"limit": 50}).json()
    return sorted(page["items"], key=lambda row: row["happened_at"])


def test_the_github_actions_workflow(server: ServerProcess, api_key: str) -> None:
    job = example("GitHub Actions")["jobs"]["deploy"]
    env = {**GITHUB_ACTIONS, "GITHUB_REF_NAME": "v1.4.3", "GITHUB_REF": "refs/tags/v1.4.3"}
    env |= {name: str(value) for name, value in job["env"].items()}
    env |= {"SHIPDECK_URL": server.url, "SHIPDECK_TOKEN": api_key, "VERSION": "1.4.3"}
    steps = [s for s in job["steps"] if "run" in s and s.get("if", "success()") == "success()"]

    run_lines([step["run"] for step in steps], env)

    stored = rows(server)
    assert [row["status"] for row in stored] == ["in-progress", "success"]
    assert {row["deployment_id"] for row in stored} == {"gh-9876543210-1-deploy-checkout-api-prod"}
    assert stored[-1]["run_url"] == "https://github.com/acme/checkout-api/actions/runs/9876543210"
    assert (stored[-1]["sha"], stored[-1]["ref"], stored[-1]["version"]) == (
        GITHUB_ACTIONS["GITHUB_SHA"],
        "v1.4.3",
        "1.4.3",
    )


def test_the_gitlab_ci_job(server: ServerProcess, api_key: str) -> None:
    job = example("GitLab CI")["deploy-production"]
    env = {**GITLAB_CI, "CI_ENVIRONMENT_NAME": job["environment"], "CI_COMMIT_TAG": "0.24.1"}
    env |= {name: str(value) for name, value in job["variables"].items()}
    env |= {"SHIPDECK_URL": server.url, "SHIPDECK_TOKEN": api_key}

    run_lines(job["script"], env)
    run_lines(job["after_script"], {**env, "CI_JOB_STATUS": "success"})  # reports nothing

    stored = rows(server)
    assert [row["status"] for row in stored] == ["in-progress", "success"]
    assert {row["deployment_id"] for row in stored} == {"gl-1022-55120-billing-worker-production"}
    assert stored[-1]["run_url"] == GITLAB_CI["CI_JOB_URL"]
    assert stored[-1]["environment"] == "production" and stored[-1]["version"] == "0.24.1"

    run_lines(job["after_script"], {**env, "CI_JOB_STATUS": "failed"})
    assert [row["status"] for row in rows(server)][-1] == "failure"
