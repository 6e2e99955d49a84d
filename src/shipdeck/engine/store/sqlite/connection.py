"""Connections of the SQLite backend: one per thread, WAL mode, `BEGIN IMMEDIATE` writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import migrate as migrations
from ..records import StoreError

BUSY_TIMEOUT_MS = 10_000
AUTOCHECKPOINT_PAGES = 16_384


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///path/to/file.db` URL.

    Raises:
        StoreError: the URL is not a SQLite file URL.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(f"unsupported database URL {url!r}: use sqlite:///path/to/file.db")
    path = url[len(prefix) :]
    if path == ":memory:":
        raise StoreError("an in-memory database cannot be shared: give a file path")
    return Path(path)


class Connections:
    """The connections to one SQLite file, safe to use from several threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        if not self.path.parent.exists():
            raise StoreError(f"the folder {self.path.parent} does not exist")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only an OS crash may lose the
            # last commits, which is the usual WAL trade for throughput.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # Commits do not copy the WAL back (that doubled each append's cost); the engine
            # checkpoints in the background, and this high mark only guards other writers.
            conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        current = migrations.current_revision(self._conn)
        migrations.check_revision(current, str(self.path))
        if current == migrations.HEAD_REVISION:
            return
        with self._write_lock:
            migrations.upgrade(f"sqlite:///{self.path}")

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, args).fetchall()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(sql, args).fetchone()
        return row

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- replicas --------------------------------------------------------------------

    def watch(self, callback: object) -> None:
        """One process writes a SQLite file at a time: nothing to hear from others."""

    def lead(self) -> bool:
        """The only process on the file does its housekeeping."""
        return True

    # -- housekeeping ----------------------------------------------------------------

    def ping(self) -> None:
        try:
            self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"database unreachable: {exc}") from exc

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database without blocking writers."""
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def integrity_check(self) -> str:
        """SQLite's own consistency check: `ok` when the file is sound."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
