"""Connections of the PostgreSQL backend: a pool, one write transaction at a time (across
every replica), and a listener that hears what other replicas commit.

Every write transaction first locks the one row of `event_head` (see migration 0006). That
serialises writers of all replicas the way `BEGIN IMMEDIATE` serialises them on SQLite, so
decisions read what every earlier one wrote, and it makes event numbers gap-free and
commit-ordered: the numbers a transaction takes are released only by its commit.

Because that lock is held for the whole transaction, every round trip inside it is time no
other writer can use. A transaction that knows up front what it must read (a group-commit
append) runs in pipeline mode (`Connections._pipelined`): statements are sent as they are
made and the client waits for the server only when it needs an answer — once for the lock
and the reads, once for the writes and the `COMMIT`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .. import migrate as migrations
from ..codec import AUDIT_COLUMNS
from ..records import StoreError, StoreUnavailable
from ..urls import redacted
from .listener import Listener, Watcher
from .setwise import arrays_of, insert_rows
from .text import CONNECT_TIMEOUT_S, conninfo, describe, pg_sql

log = logging.getLogger(__name__)

POOL_SIZE = 8
OWN_NOTICES = 10_000
"""Own commits awaiting their notice at most (more: the listener lost touch; forget them)."""

T = TypeVar("T")
_LOCK_HEAD = "SELECT seq FROM event_head WHERE id = 1 FOR UPDATE"
_LAST_AUDIT_HASH = "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1"
_IN_TRANSACTION = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)


AUDIT_INSERT = insert_rows(
    "audit",
    (*AUDIT_COLUMNS, "prev_hash", "hash"),
    ["bigint" if name == "at" else "text" for name in (*AUDIT_COLUMNS, "prev_hash", "hash")],
    ordered=True,  # `seq` numbers the chain: in the order it was hashed
)
"""Audit rows, one statement for all (`setwise`)."""


class Transaction:
    """A write transaction: its connection and the event numbers it takes.

    In pipeline mode (`pipelined`) a statement is only sent when made: its cursor has rows
    once something fetches (which waits for every answer sent before it).
    """

    __slots__ = (
        "_audit_read",
        "_head",
        "_head_read",
        "audit",
        "audit_hash",
        "conn",
        "events",
        "notice",
        "pipelined",
    )

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        head: int | psycopg.Cursor[Any],
        *,
        pipelined: bool = False,
    ) -> None:
        self.conn = conn
        self.pipelined = pipelined
        self._head = head if isinstance(head, int) else None
        self._head_read = None if isinstance(head, int) else head
        """The `event_head` lock's cursor, until its answer is read."""
        self.events = 0
        self.audit_hash: str | None = None
        """The newest audit hash, once read (entries of one transaction chain on it)."""
        self._audit_read: psycopg.Cursor[Any] | None = None
        self.audit: list[tuple[Any, ...]] = []
        """Audit rows to insert at the end (one statement)."""
        self.notice: str | None = None
        """The payload of its `NOTIFY`, once expected as this process's own."""

    @property
    def head(self) -> int:
        """The newest event number this transaction has taken (the stored head before)."""
        if self._head is None:
            assert self._head_read is not None
            (head,) = self._head_read.fetchone() or (0,)
            self._head, self._head_read = int(head), None
        return self._head

    @property
    def answered(self) -> bool:
        """Whether the server has answered the lock (a pipelined transaction that fails
        before it did nothing: it may be retried on another connection)."""
        read = self._head_read
        return self._head is not None or (read is not None and read.pgresult is not None)

    def next_seq(self) -> int:
        """The next event number (committed with this transaction, or never used)."""
        self._head = self.head + 1
        self.events += 1
        return self._head

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """Run SQL written with `?` placeholders (or psycopg's own `%s`)."""
        return self.conn.execute(pg_sql(sql), args)

    def read_audit_hash(self) -> None:
        """Send the read of the newest audit hash now (pipelined: with the first reads)."""
        if self.audit_hash is None and self._audit_read is None:
            self._audit_read = self.conn.execute(_LAST_AUDIT_HASH)

    def last_audit_hash(self) -> str | None:
        """The newest stored audit hash (`None` before the first entry)."""
        self.read_audit_hash()
        assert self._audit_read is not None
        last = self._audit_read.fetchone()
        self._audit_read = None
        return None if last is None else str(last[0])

    def finish(self) -> None:
        """What every write transaction ends with: its audit rows, then the new head and
        the notice to other replicas (one statement), delivered when it commits."""
        if self.audit:
            self.conn.execute(AUDIT_INSERT, arrays_of(self.audit, len(AUDIT_COLUMNS) + 2))
        if self.events:
            # The notice names the new head: a replica hearing its own commit (all of it
            # published already) need not read the log again.
            self.conn.execute(
                "WITH head AS (UPDATE event_head SET seq = %s WHERE id = 1"
                " RETURNING 1) SELECT pg_notify('shipdeck_events', %s) FROM head",
                (self.head, str(self.head)),
            )


class Connections:
    """The pool of one PostgreSQL database, and its listener."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conninfo = conninfo(url)
        try:
            with psycopg.connect(self._conninfo, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                current = migrations.postgres_revision(conn)
        except psycopg.Error as exc:
            raise StoreError(describe(exc, url)) from exc
        migrations.check_revision(current, redacted(url))
        if current != migrations.HEAD_REVISION:
            migrations.upgrade("postgresql+psycopg://" + self._conninfo.split("://", 1)[1])
        self._pool = ConnectionPool(
            self._conninfo,
            min_size=2,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            timeout=CONNECT_TIMEOUT_S,
            reconnect_timeout=3600,
            name="shipdeck",
            open=True,
        )
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._own_notices: set[str] = set()
        """The heads this process's transactions commit, until the listener hears them
        (see `_expect_notice`)."""

    # -- connections -----------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(describe(exc, self.url)) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(describe(exc, self.url)) from exc

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read; once more on a fresh connection if the pooled one was broken."""
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    return conn.execute(pg_sql(sql), args).fetchall()
            except StoreUnavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        """One write transaction, holding the event head (see the module docstring)."""
        txn: Transaction | None = None
        for attempt in (1, 2):
            try:
                with self._connection() as conn, conn.transaction():
                    try:
                        (head,) = conn.execute(_LOCK_HEAD).fetchone() or (0,)
                    except psycopg.OperationalError:
                        if attempt == 1 and conn.broken:
                            raise _Retry from None
                        raise
                    txn = Transaction(conn, int(head))
                    yield txn
                    txn.finish()
                    self._expect_notice(txn)
                return
            except _Retry:
                continue
            except BaseException:
                self._notice_unsure(txn)
                raise
        raise AssertionError("unreachable")

    def _pipelined(self, body: Callable[[Transaction], T]) -> T:
        """`_write` in pipeline mode (see the module docstring): `BEGIN`, the lock and
        whatever `body` sends before its first fetch travel together; its writes, the
        head and `COMMIT` travel together at the end. `body` runs again, once, on a fresh
        connection if the pooled one was broken before the server answered anything.

        Errors are PostgreSQL's own, as from `_write`: a statement that fails makes the
        server skip the rest (the `COMMIT` too) and the transaction is rolled back.
        """
        for attempt in (1, 2):
            with self._connection() as conn:
                txn: Transaction | None = None
                try:
                    with conn.pipeline():
                        conn.execute("BEGIN")  # the pool's connections are in autocommit
                        txn = Transaction(conn, conn.execute(_LOCK_HEAD), pipelined=True)
                        result = body(txn)
                        txn.finish()
                        self._expect_notice(txn)
                        conn.execute("COMMIT")
                    # Leaving the pipeline waited for every answer, the COMMIT's included:
                    # the rows are durable now.
                    return result
                except psycopg.OperationalError:
                    self._notice_unsure(txn)
                    if attempt == 1 and conn.broken and (txn is None or not txn.answered):
                        continue
                    _rollback(conn)
                    raise
                except BaseException:
                    self._notice_unsure(txn)
                    _rollback(conn)
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction that does not number events (logs, cursors, pruning)."""
        with self._connection() as conn, conn.transaction():
            yield conn

    # -- replicas --------------------------------------------------------------------

    def _expect_notice(self, txn: Transaction) -> None:
        """Before a transaction that numbered events commits: its notice, when the listener
        hears it, is of this process's own commit (published by its caller), not news."""
        if txn.events and self._listener is not None:
            if len(self._own_notices) > OWN_NOTICES:  # the listener lost touch meanwhile
                self._own_notices.clear()
            txn.notice = str(txn.head)
            self._own_notices.add(txn.notice)

    def _notice_unsure(self, txn: Transaction | None) -> None:
        """A transaction failed after `_expect_notice`, perhaps once its `COMMIT` took
        effect (the answer lost). A notice not heard yet will be told as news when it
        comes; one heard already was skipped, so the watcher is told now."""
        if txn is None or txn.notice is None:
            return
        try:
            self._own_notices.remove(txn.notice)  # atomic: the listener or this, not both
        except KeyError:
            listener = self._listener
            if listener is not None:
                listener.tell("events", "")

    def _own_notice(self, channel: str, payload: str) -> bool:
        """Whether a notice is of a commit of this process (heard once: forgotten now)."""
        if channel != "shipdeck_events":
            return False
        try:
            self._own_notices.remove(payload)
        except KeyError:
            return False
        return True

    def watch(self, callback: Watcher) -> None:
        with self._listener_lock:
            if self._listener is None:
                self._listener = Listener(self._conninfo, self.url, callback, self._own_notice)
                self._listener.start()
            else:  # started by `lead`, perhaps listening already: told nothing so far
                self._listener.callback = callback
                self._listener.tell_all()

    def lead(self) -> bool:
        with self._listener_lock:
            if self._listener is None:
                self._listener = Listener(self._conninfo, self.url, None, self._own_notice)
                self._listener.start()
            return self._listener.leading

    # -- housekeeping ----------------------------------------------------------------

    def ping(self) -> None:
        """One quick try (probes must answer fast): raises `StoreUnavailable`."""
        try:
            with self._pool.connection(timeout=1.0) as conn:
                conn.execute("SELECT 1")
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise StoreUnavailable(describe(exc, self.url)) from exc

    def checkpoint(self) -> None:
        """PostgreSQL checkpoints and vacuums by itself."""

    def close(self) -> None:
        with self._listener_lock:
            if self._listener is not None:
                self._listener.stop()
                self._listener = None
        self._pool.close()


class _Retry(Exception):
    """The pooled connection was broken before the transaction did anything."""


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """End a pipelined transaction that failed (its own error is the one to raise)."""
    if conn.broken or conn.pgconn.transaction_status not in _IN_TRANSACTION:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:  # the pool discards a connection it cannot reset
        log.debug("rollback failed", exc_info=True)
