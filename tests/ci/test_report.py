"""`shipdeck report` from a GitHub Actions or GitLab CI job to a real `shipdeck serve`."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx

from shipdeck.ci.pipeline import detect
from shipdeck.domain import Role
from tests.conftest import ServerProcess, create_key, free_port

from .conftest import GITHUB_ACTIONS, GITLAB_CI, shipdeck


def rows_of(server: ServerProcess, deployment_id: str) -> list[dict[str, Any]]:
    page = httpx.get(
        server.url + "/api/deployments", params={"deployment_id": deployment_id, "limit": 50}
    )
    return sorted(page.json()["items"], key=lambda row: row["happened_at"])


def test_a_github_actions_step_reports_its_run(server: ServerProcess, api_key: str) -> None:
    env = {**GITHUB_ACTIONS, "SHIPDECK_URL": server.url, "SHIPDECK_TOKEN": api_key}
    deployment_id = "gh-9876543210-1-deploy-checkout-api-prod"

    started = shipdeck(
        "report", "--status", "in-progress", "--environment", "prod", "--version", "1.4.3", env=env
    )
    finished = shipdeck(
        "report", "--status", "success", "--environment", "prod", "--version", "1.4.3", env=env
    )

    assert started.returncode == 0, started.stderr
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith(
        f"reported success: checkout-api 1.4.3 → prod, deployment {deployment_id} (row "
    )
    rows = rows_of(server, deployment_id)
    assert [row["status"] for row in rows] == ["in-progress", "success"]
    for row in rows:
        assert row["run_url"] == "https://github.com/acme/checkout-api/actions/runs/9876543210"
        assert (row["run_number"], row["sha"], row["ref"], row["actor"]) == (
            "412",
            "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
            "main",
            "octocat",
        )
        assert row["progress_reporter"] == "github-actions/shipdeck"
    assert api_key not in started.stdout + started.stderr


def test_a_gitlab_ci_job_reports_its_job(server: ServerProcess, api_key: str) -> None:
    env = {**GITLAB_CI, "SHIPDECK_TOKEN": api_key}

    done = shipdeck(
        "report", "--url", server.url, "--status", "success", "--version", "0.24.1", env=env
    )

    assert done.returncode == 0, done.stderr
    (row,) = rows_of(server, "gl-1022-55120-billing-worker-staging")
    assert (row["service"], row["environment"], row["version"]) == (
        "billing-worker",
        "staging",
        "0.24.1",
    )
    assert row["run_url"] == "https://gitlab.example.com/acme/billing-worker/-/jobs/55120"
    assert (row["run_number"], row["ref"], row["actor"]) == ("87", "release/0.24", "dmitri")


def test_a_rerun_is_a_new_deployment() -> None:
    first = detect(GITHUB_ACTIONS)
    second = detect({**GITHUB_ACTIONS, "GITHUB_RUN_ATTEMPT": "2"})
    assert first is not None and second is not None
    assert first.deployment_id("api", "prod") != second.deployment_id("api", "prod")
    assert (
        second.run_url == "https://github.com/acme/checkout-api/actions/runs/9876543210/attempts/2"
    )
    long = first.deployment_id("s" * 150, "e" * 60)
    assert len(long) == 200 and long != first.deployment_id("s" * 150, "e" * 61)
    assert detect({"CI": "true"}) is None


def test_each_failure_has_its_exit_code_and_one_line(
    server: ServerProcess, api_key: str, db_url: str
) -> None:
    args = (
        "report",
        "--url",
        server.url,
        "--status",
        "success",
        "--service",
        "api",
        "--environment",
        "prod",
        "--deployment-id",
        "d-1",
    )

    no_key = shipdeck(*args)
    viewer = shipdeck(*args, env={"SHIPDECK_TOKEN": create_key(db_url, "v", Role.VIEWER)})
    bad = shipdeck(*args, "--version", "x" * 51, env={"SHIPDECK_TOKEN": api_key})
    no_service = shipdeck(
        "report",
        "--url",
        server.url,
        "--status",
        "success",
        "--environment",
        "prod",
        "--deployment-id",
        "d-1",
    )
    down = shipdeck(
        "report",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--status",
        "success",
        "--service",
        "api",
        "--environment",
        "prod",
        "--deployment-id",
        "d-1",
        "--timeout",
        "2",
        env={"SHIPDECK_TOKEN": api_key},
    )

    assert (no_key.returncode, viewer.returncode, bad.returncode) == (4, 4, 3)
    assert (no_service.returncode, down.returncode) == (2, 5)
    for result in (no_key, viewer, bad, no_service, down):
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("shipdeck report: "), result.stderr
        assert "Traceback" not in result.stderr
    assert "version" in bad.stderr and "--service" in no_service.stderr
    assert "connection refused" in down.stderr and "gave up after" in down.stderr
    assert rows_of(server, "d-1") == []


def test_a_report_waits_for_a_server_that_comes_up(
    server_factory: type[ServerProcess], db_url: str
) -> None:
    key = create_key(db_url)
    port = free_port()
    report = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipdeck",
            "report",
            "--url",
            f"http://127.0.0.1:{port}",
            "--status",
            "success",
            "--service",
            "api",
            "--environment",
            "prod",
            "--deployment-id",
            "late-1",
            "--timeout",
            "30",
        ],
        env={**GITHUB_ACTIONS, "SHIPDECK_TOKEN": key, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)  # the report keeps retrying meanwhile
    server = server_factory(db_url, port=port).start()
    out, err = report.communicate(timeout=40)

    assert report.returncode == 0, err
    assert "after" in out and "attempts" in out
    assert len(rows_of(server, "late-1")) == 1
