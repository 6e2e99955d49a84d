"""Shared by the driver tests: a recording reporter, process checks, git repositories."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from shipdeck.engine.drivers import DeployJob, GitopsConfig, GitopsDriver, LogLevel, LogStream


@dataclass
class LogLine:
    message: str
    stream: LogStream
    level: LogLevel


@dataclass
class RecordingReporter:
    """Keeps every phase and log line a driver reports, in order."""

    phases: list[str] = field(default_factory=list)
    phase_messages: list[str | None] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    """("phase", name) and ("log", message) in the order they came."""

    async def phase(self, phase: str, message: str | None = None) -> None:
        self.phases.append(phase)
        self.phase_messages.append(message)
        self.events.append(("phase", phase))

    async def log(
        self,
        message: str,
        *,
        stream: LogStream = LogStream.SYSTEM,
        level: LogLevel = LogLevel.INFO,
    ) -> None:
        self.lines.append(LogLine(message, stream, level))
        self.events.append(("log", message))

    def stream(self, stream: LogStream) -> list[str]:
        """The messages logged on `stream`, in order."""
        return [line.message for line in self.lines if line.stream == stream]


@pytest.fixture
def reporter() -> RecordingReporter:
    return RecordingReporter()


@pytest.fixture
def job() -> DeployJob:
    return DeployJob(
        deployment_id="dep-0001",
        service="checkout-api",
        environment="prod",
        version="1.4.3",
        actor="alice",
    )


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie no longer runs: nobody may reap orphans here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (polling) until `check()` holds; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


# Git: a working clone of an IaC repository and its bare remote.

VALUES = "envs/{environment}/{service}/values.yaml"
PROD_VALUES = "envs/prod/checkout-api/values.yaml"
ORIGINAL = {"replicaCount": 3, "image": {"repository": "checkout-api", "tag": "1.4.2"}}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global or system git configuration (hooks, signing…) leaks into the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """An empty bare repository, the clone's `origin`."""
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(path))
    return path


@pytest.fixture
def clone(tmp_path: Path, remote: Path) -> Path:
    """A working clone with one commit (prod's values) that its remote has too."""
    path = tmp_path / "iac"
    path.mkdir()
    git(path, "init", "--quiet", "-b", "main")
    git(path, "config", "user.name", "Test Person")
    git(path, "config", "user.email", "test@example.com")
    values = path / PROD_VALUES
    values.parent.mkdir(parents=True)
    values.write_text(yaml.safe_dump(ORIGINAL, sort_keys=False))
    git(path, "add", ".")
    git(path, "commit", "--quiet", "-m", "initial values")
    git(path, "remote", "add", "origin", str(remote))
    git(path, "push", "--quiet", "origin", "main")
    return path


def gitops(clone: Path, **settings: object) -> GitopsDriver:
    config = GitopsConfig.model_validate(
        {"repository": str(clone), "values_path": VALUES, **settings}
    )
    return GitopsDriver(config)
