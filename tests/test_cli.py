"""The `shipdeck` command: version, help, keys."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from shipdeck import __version__
from shipdeck.cli import main
from shipdeck.domain import Role
from tests.conftest import ServerProcess, create_key, free_port


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_explains_serve() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--database", "--config"):
        assert option in result.output


def test_keys_create_prints_the_key_last_and_stores_only_a_hash(
    db_url: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["keys", "create", "--database", db_url, "--name", "ci", "--role", "reporter"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"sdk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    dump = "\n".join(sqlite3.connect(tmp_path / "shipdeck.db").iterdump())
    assert token.split("_", 2)[2] not in dump

    listed = CliRunner().invoke(main, ["keys", "list", "--database", db_url])
    assert "ci" in listed.output and "reporter" in listed.output
    assert token.split("_", 2)[2] not in listed.output


def test_keys_revoke(db_url: str) -> None:
    runner = CliRunner()
    token = (
        runner.invoke(
            main, ["keys", "create", "--database", db_url, "--name", "ci", "--role", "admin"]
        )
        .output.strip()
        .splitlines()[-1]
    )
    key_id = token.split("_")[1]
    assert runner.invoke(main, ["keys", "revoke", "--database", db_url, key_id]).exit_code == 0
    again = runner.invoke(main, ["keys", "revoke", "--database", db_url, key_id])
    assert again.exit_code != 0 and "no active key" in again.output


def test_bad_role_and_bad_database_say_what_is_wrong(db_url: str) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(
        main, ["keys", "create", "--database", db_url, "--name", "x", "--role", "god"]
    )
    assert bad_role.exit_code == 2 and "reporter" in bad_role.output
    bad_db = runner.invoke(
        main, ["keys", "create", "--database", "mysql://x", "--name", "x", "--role", "admin"]
    )
    assert bad_db.exit_code == 1 and "sqlite:///" in bad_db.output
    assert "Traceback" not in bad_db.output


def test_serve_demo_flags_are_checked() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--demo-traffic"])
    assert result.exit_code == 2 and "--demo-traffic needs --demo" in result.output
    result = runner.invoke(main, ["serve", "--demo", "--config", "x.toml"])
    assert result.exit_code == 2 and "drop --config" in result.output
    result = runner.invoke(main, ["serve", "--help"])
    assert "--demo" in result.output and "--demo-traffic" in result.output


def test_serve_demo_serves_the_demo_and_its_actions(
    db_url: str, server_factory: type[ServerProcess]
) -> None:
    """`serve --demo`: demo data and the simulate driver, so actions work remotely."""
    key = create_key(db_url, "alice", Role.DEPLOYER)
    server = server_factory(db_url, extra_args=("--demo",)).start()
    matrix = httpx.get(server.url + "/api/matrix").json()
    assert matrix["environments"] == ["dev", "qa", "uat", "prod"]
    assert len(matrix["rows"]) == 16
    service = matrix["rows"][0]["service"]
    answer = httpx.post(
        server.url + "/api/deploys",
        json={"service": service, "environment": "dev", "version": "9.9.9"},
        headers={"X-Api-Key": key},
    )
    assert answer.status_code == 202, answer.text
    deployment_id = answer.json()["deployment_id"]
    deadline = time.monotonic() + 20
    statuses: list[str] = []
    while time.monotonic() < deadline and "in-progress" not in statuses:
        page = httpx.get(server.url + "/api/deployments", params={"deployment_id": deployment_id})
        statuses = [row["status"] for row in page.json()["items"]]
        time.sleep(0.05)
    assert "in-progress" in statuses
    # Restarting on the same database does not seed it twice.
    other = {"service": matrix["rows"][1]["service"], "limit": 500}
    before = [
        r["id"] for r in httpx.get(server.url + "/api/deployments", params=other).json()["items"]
    ]
    server.restart()
    after = [
        r["id"] for r in httpx.get(server.url + "/api/deployments", params=other).json()["items"]
    ]
    assert before and after == before


def test_url_can_be_given_once_per_replica() -> None:
    runner = CliRunner()
    helped = runner.invoke(main, ["--help"], terminal_width=100)
    assert "Repeat it for several replicas" in " ".join(helped.output.split())
    twice = runner.invoke(main, ["--url", "http://a:1", "--url", "http://a:1/"])
    assert twice.exit_code == 1
    assert twice.output == "Error: --url: urls names http://a:1 twice\n"


def test_the_dashboard_follows_the_second_url_when_the_first_is_down(
    db_url: str, server_factory: type[ServerProcess]
) -> None:
    """`shipdeck --url A --url B`, A down: the dashboard (headless) follows B's stream."""
    server = server_factory(db_url).start()
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver"}
    env.pop("SHIPDECK_TOKEN", None)
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "shipdeck", "--url", dead, "--url", server.url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        subscribers = 0.0
        while time.monotonic() < deadline and not subscribers:
            assert dashboard.poll() is None, "the dashboard exited"
            metrics = httpx.get(server.url + "/metrics").text
            found = re.search(r"^shipdeck_stream_subscribers (\S+)$", metrics, re.MULTILINE)
            subscribers = float(found.group(1)) if found else 0.0
            time.sleep(0.1)
        assert subscribers == 1
    finally:
        dashboard.terminate()
        _, err = dashboard.communicate(timeout=20)
    assert b"Traceback" not in err, err.decode(errors="replace")
