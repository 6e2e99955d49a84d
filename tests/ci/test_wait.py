"""`shipdeck deploy|promote|rollback --wait` against a real `shipdeck serve` whose simulate
driver succeeds in dev and prod and always fails in qa; prod asks for one approval."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shipdeck.domain import Role
from tests.conftest import ServerProcess, create_key

from .conftest import GITHUB_ACTIONS, shipdeck

CONFIG = """
[[environments]]
name = "dev"
[[environments]]
name = "qa"
[[environments]]
name = "prod"

[executor]
driver = "ok"
[executor.environments]
qa = "broken"

[drivers.ok]
kind = "simulate"
scale = 0.05
failure_rate = 0.0

[drivers.broken]
kind = "simulate"
scale = 0.05
failure_rate = 1.0

[policies.prod]
approvals_required = 1
"""


class Pipeline:
    """The server, a deployer's environment for the commands, and an approver's key."""

    def __init__(self, server: ServerProcess, deployer: str, approver: str) -> None:
        self.server = server
        self.env = {**GITHUB_ACTIONS, "SHIPDECK_URL": server.url, "SHIPDECK_TOKEN": deployer}
        self.approver = approver

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return shipdeck(*args, env=self.env)


@pytest.fixture
def pipeline(server_factory: type[ServerProcess], db_url: str, tmp_path: Path) -> Pipeline:
    config = tmp_path / "engine.toml"
    config.write_text(CONFIG)
    reporter = create_key(db_url)
    server = server_factory(db_url, config=config).start()
    for n, (env, version) in enumerate(
        [("dev", "0.9.0"), ("dev", "1.0.0"), ("qa", "1.0.0"), ("prod", "0.9.0")]
    ):
        body = {
            "deployment_id": f"seed-{n}",
            "service": "api",
            "environment": env,
            "version": version,
            "status": "success",
            "happened_at": f"2026-05-28T10:0{n}:00Z",
        }
        answer = httpx.post(
            server.url + "/api/deployments", json=body, headers={"X-Api-Key": reporter}
        )
        assert answer.status_code == 201, answer.text
    return Pipeline(
        server,
        create_key(db_url, "pipeline", Role.DEPLOYER),
        create_key(db_url, "release-manager", Role.APPROVER),
    )


def test_deploy_wait_exits_0_on_success_and_shows_the_run(pipeline: Pipeline) -> None:
    done = pipeline.run(
        "deploy",
        "--service",
        "api",
        "--environment",
        "dev",
        "--version",
        "1.1.0",
        "--wait",
        "--timeout",
        "60",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("deploy accepted: deployment ")
    assert any(line.startswith("status in-progress (validating)") for line in lines)
    assert any(line.startswith("  info ") for line in lines)  # the driver's log lines
    assert lines[-1].endswith("ended success")


def test_deploy_wait_exits_1_on_failure(pipeline: Pipeline) -> None:
    done = pipeline.run(
        "deploy",
        "--service",
        "api",
        "--environment",
        "qa",
        "--version",
        "1.1.0",
        "--wait",
        "--timeout",
        "60",
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].endswith("ended failure")
    assert any(line.startswith("  error ") for line in done.stdout.splitlines())


def _promote_until_waiting(pipeline: Pipeline) -> tuple[subprocess.Popen[str], list[str]]:
    """`shipdeck promote --service api --from qa --wait`, read until it says it waits for an
    approval: the process, and the lines it printed so far."""
    waiting = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipdeck",
            "promote",
            "--service",
            "api",
            "--from",
            "qa",
            "--wait",
            "--timeout",
            "60",
        ],
        env={**pipeline.env, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stdout is not None
    seen: list[str] = []
    while not any("waiting for approval of promotion" in line for line in seen):
        line = waiting.stdout.readline()
        assert line, waiting.stderr.read() if waiting.stderr else "no output"
        seen.append(line)
    return waiting, seen


def test_a_promotion_says_who_must_approve_and_waits(pipeline: Pipeline) -> None:
    waiting, seen = _promote_until_waiting(pipeline)
    assert "1 more approval needed" in seen[-1] and "policy: 1 approval required" in seen[-1]
    promotion_id = seen[-1].split("promotion ")[1].split(":")[0]

    approved = httpx.post(
        f"{pipeline.server.url}/api/promotions/{promotion_id}/approve",
        headers={"X-Api-Key": pipeline.approver},
        json={"comment": "go"},
    )
    out, err = waiting.communicate(timeout=60)

    assert approved.status_code == 200, approved.text
    assert waiting.returncode == 0, out + err
    assert out.splitlines()[-1].endswith("ended success")


def test_an_unanswered_promotion_times_out(pipeline: Pipeline) -> None:
    done = pipeline.run(
        "promote", "--service", "api", "--from", "qa", "--to", "prod", "--wait", "--timeout", "3"
    )

    assert done.returncode == 6, done.stdout + done.stderr
    assert "did not finish within 3 s" in done.stderr


def test_rollback_of_a_slot_waits_for_the_previous_version(pipeline: Pipeline) -> None:
    done = pipeline.run(
        "rollback", "--service", "api", "--environment", "dev", "--wait", "--timeout", "60"
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "api 0.9.0 → dev" in done.stdout.splitlines()[0]
    refused = pipeline.run("rollback", "--service", "api", "--environment", "staging")
    assert refused.returncode == 3 and "never been deployed" in refused.stderr


HOSTILE = "deploy\x1b]0;pwned\x07 failed\x1b[2J\x9b31m here\x1b]8;;https://evil.example\x1b\\x"
"""A window title, a screen clear, an 8-bit CSI and an OSC 8 hyperlink, with BEL and ST."""
SHOWN = "deploy failed herex"
"""What is left of it to print."""


def assert_inert(text: str) -> None:
    """No ESC, BEL or other C0/C1 control but the line ends; nothing of the sequences."""
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text), repr(text)
    assert "pwned" not in text and "evil.example" not in text, repr(text)


def test_a_refusal_quoting_a_name_is_printed_without_its_escapes(pipeline: Pipeline) -> None:
    """The server's sentence quotes the service as given: `_fail` prints it inert."""
    done = pipeline.run("promote", "--service", HOSTILE, "--from", "qa", "--to", "qa")

    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert_inert(done.stderr)
    assert done.stderr.startswith(f"shipdeck promote: {SHOWN} cannot be promoted from qa")


def test_wait_prints_log_lines_and_messages_without_their_escapes(
    pipeline: Pipeline, db_url: str
) -> None:
    """Log lines another reporter appends and the rejection's comment reach `--wait`'s
    output one line each, with no escape sequence or control character."""
    waiting, seen = _promote_until_waiting(pipeline)
    deployment_id = seen[0].split("deployment ")[1].split(" ")[0]
    promotion_id = seen[-1].split("promotion ")[1].split(":")[0]

    logged = httpx.post(
        f"{pipeline.server.url}/api/deployments/{deployment_id}/logs",
        headers={"X-Api-Key": create_key(db_url, "hostile-reporter")},
        json={
            "lines": [
                {"message": HOSTILE, "level": "error"},
                {"message": "one\nstatus success\r\x1b[2Jtwo\tthree"},
            ]
        },
    )
    rejected = httpx.post(
        f"{pipeline.server.url}/api/promotions/{promotion_id}/reject",
        headers={"X-Api-Key": pipeline.approver},
        json={"comment": HOSTILE},
    )
    out, err = waiting.communicate(timeout=60)

    assert logged.status_code in (200, 201, 202), logged.text
    assert rejected.status_code == 200, rejected.text
    assert waiting.returncode == 1, out + err
    assert_inert("".join(seen) + out + err)
    lines = out.splitlines()
    assert f"  error {SHOWN}" in lines
    assert "  info  one status success two three" in lines  # one line: it forges none
    assert any(
        line.startswith("status rejected") and line.endswith(f": {SHOWN}") for line in lines
    ), out
    assert lines[-1].endswith("ended rejected")
