"""Shared fixtures: a fresh database, an engine, and a real `shipdeck serve` on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shipdeck.domain import Role
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.store import open_store

from .postgres import PostgresCluster


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database URL in the test's own folder."""
    return f"sqlite:///{tmp_path / 'shipdeck.db'}"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The test's database (SQLite here; the engine and server suites run on both)."""
    return sqlite_url


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the session, with a migrated template database.

    Fails (never skips) with how to install PostgreSQL when its programs are missing.
    """
    with PostgresCluster() as cluster:
        template = cluster.create_database()
        open_store(template).close()  # migrated once; each test copies it
        cluster.template = template.rsplit("/", 1)[1]
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    url = pg_cluster.create_database(template=pg_cluster.template)
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture
def pg_empty_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh PostgreSQL database with no schema at all."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


BACKENDS = ("sqlite", "postgresql")
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
"""For a test of SQLite itself (its file, its pragmas) in a suite that runs on both."""


def backend_url(request: pytest.FixtureRequest) -> str:
    """The database URL of the backend a parametrised `db_url` fixture was given."""
    name = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Engine]:
    """An embedded engine on a fresh database."""
    engine = await Engine.open(db_url, EngineConfig())
    try:
        yield engine
    finally:
        await engine.close()


def create_key(database_url: str, name: str = "ci", role: Role = Role.REPORTER) -> str:
    """A key made the way an operator makes one: with the CLI (last line of stdout)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipdeck",
            "keys",
            "create",
            "--database",
            database_url,
            "--name",
            name,
            "--role",
            role.value,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


class ServerProcess:
    """`shipdeck serve` in a child process on a loopback port."""

    def __init__(
        self,
        database_url: str,
        config: Path | None = None,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.database_url = database_url
        self.config = config
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        args = [
            sys.executable,
            "-m",
            "shipdeck",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database",
            self.database_url,
        ]
        if self.config is not None:
            args += ["--config", str(self.config)]
        args += self.extra_args
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"shipdeck serve exited early: {err}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("shipdeck serve did not become ready")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=20)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        self.proc = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start servers that are all stopped when the test ends."""
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def start(self, timeout: float = 20.0) -> ServerProcess:
            started.append(self)
            return super().start(timeout)

    yield Tracked
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: type[ServerProcess], db_url: str) -> ServerProcess:
    """A running `shipdeck serve` on a fresh database."""
    return server_factory(db_url).start()


@pytest.fixture
def api_key(db_url: str) -> str:
    """A reporter key for the test database."""
    return create_key(db_url)
