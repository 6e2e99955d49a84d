"""Connections of the SQLite backend: one per thread, WAL mode, `BEGIN IMMEDIATE` writes."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import migrate as migrations
from ..records import StoreError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
AUTOCHECKPOINT_PAGES = 16_384
WATCH_EVERY_S = 0.25
"""How often a watched file is checked for events another process committed."""
_EVENT_HEAD = "SELECT seq FROM sqlite_sequence WHERE name = 'events'"


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
        self._own_head = 0
        """The event head after this process's latest write (its own events)."""
        self._watcher: _Watcher | None = None
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
                if self._watcher is not None and _head(conn) > self._own_head:
                    self._watcher.elsewhere = True  # committed by another process since
                yield conn
                head = _head(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            before, self._own_head = self._own_head, max(self._own_head, head)
            try:
                conn.execute("COMMIT")
            except BaseException:
                self._own_head = before
                raise

    # -- replicas --------------------------------------------------------------------

    def watch(self, callback: Callable[[str, str], None]) -> None:
        """Tell `callback("events", "")` when another process (`shipdeck import`, a second
        engine on the file) has committed events: the file's event head is checked every
        `WATCH_EVERY_S` against what this process wrote itself."""
        # What is there now is not news. Read before taking the lock: a thread's first
        # read opens its connection, which takes it.
        head = self._told_head()
        with self._lock:
            if self._watcher is None:
                self._own_head = max(self._own_head, head)
                self._watcher = _Watcher(self, callback)
                self._watcher.start()
            else:
                self._watcher.callback = callback

    def _told_head(self) -> int:
        """The file's event head, read on the calling thread's connection."""
        return _head(self._conn)

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
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _head(conn: sqlite3.Connection) -> int:
    row = conn.execute(_EVENT_HEAD).fetchone()
    return 0 if row is None else int(row[0])


class _Watcher(threading.Thread):
    """Checks a file's event head for what other processes committed (see `watch`)."""

    def __init__(self, store: Connections, callback: Callable[[str, str], None]) -> None:
        super().__init__(name="shipdeck-sqlite-watch", daemon=True)
        self._store = store
        self.callback = callback
        self.elsewhere = False
        """Set by a write that found events it did not write (between two of its own)."""
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        if self is not threading.current_thread():
            self.join(timeout=5)

    def run(self) -> None:
        store = self._store
        seen = 0
        while not self._stopping.wait(WATCH_EVERY_S):
            try:
                head = store._told_head()
            except sqlite3.Error:  # busy, or closing: the next round tells
                continue
            if head > max(seen, store._own_head) or self.elsewhere:
                self.elsewhere = False
                try:
                    self.callback("events", "")
                except Exception:  # the watcher's problem must not end watching
                    log.exception("a store watcher failed")
            seen = max(seen, head)
