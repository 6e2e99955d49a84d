"""A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` + `pg_ctl` in a
temporary folder, on a free loopback port, removed afterwards.

The cluster runs as the invoking user, or as `postgres` when that is root (PostgreSQL
refuses to run as root). Nothing here is mocked: it is the real server Debian ships.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

INSTALL_HINT = (
    "PostgreSQL's server programs (initdb, pg_ctl) were not found: install them with "
    "`sudo apt-get install postgresql postgresql-contrib` (CI's .ci/run does), "
    "or put their folder on PATH (or in SHIPDECK_PG_BIN)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin() -> Path:
    """The folder of `initdb` and `pg_ctl`.

    Raises:
        RuntimeError: PostgreSQL is not installed (with how to install it).
    """
    given = os.environ.get("SHIPDECK_PG_BIN")
    candidates = [Path(given)] if given else []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise RuntimeError(INSTALL_HINT)


class PostgresCluster:
    """One PostgreSQL server in its own folder; `url(db)` names a database on it."""

    def __init__(self, port: int | None = None) -> None:
        self.bin = pg_bin()
        self.port = port or _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="shipdeck-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.user = "shipdeck"
        self.password = "shipdeck-test"
        self._as_postgres = os.geteuid() == 0
        self.template: str | None = None
        """A migrated database to copy (set by whoever made it)."""

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> PostgresCluster:
        """`initdb` with a password-protected superuser `shipdeck`."""
        self.socket_dir.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--pwfile",
            str(pwfile),
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 300\nshared_buffers = 128MB\n"
                # Durable commits as in production (fsync on), without the checkpoint storms.
                "max_wal_size = 1GB\ncheckpoint_timeout = 15min\n"
            )
        return self

    def start(self) -> PostgresCluster:
        """`pg_ctl start`, waiting until it accepts connections."""
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def restart(self, down_for: float = 0.0) -> None:
        """`pg_ctl restart -m fast`: every connection is cut. With `down_for`, the server
        stays down that many seconds first (a restart that fast clients could miss)."""
        if down_for:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            time.sleep(down_for)
            self.start()
            return
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-m",
            "fast",
            "-w",
            "restart",
        )

    def stop(self) -> None:
        """`pg_ctl stop -m immediate` (if running)."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
                check=False,
            )

    def destroy(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A `postgresql://` URL of a database on this cluster."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A new, empty database (a copy of `template` when given); its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, cutting its connections."""
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str) -> None:
        """Run one statement on the `postgres` database, outside a transaction."""
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql)  # type: ignore[arg-type]
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def __enter__(self) -> PostgresCluster:
        try:
            return self.init().start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc: object) -> None:
        self.destroy()
