"""The SQLite backend: WAL mode, one writer at a time, `BEGIN IMMEDIATE` writes.

`SQLiteStore` is the shared `Queries` on this backend's connections (`connection`), with
what a write appends (`deployments`, `events`, `governance`, `audit`) and what SQLite says
its own way (the event head, pruning, log numbering, revocation).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from ..codec import GENESIS_HASH, chain_hash
from ..queries import Queries
from ..records import AuditEntry, NewDeploymentRow, NewLogLine, StoredEvent, StoredLogLine, Writes
from .audit import append_audit
from .connection import AUTOCHECKPOINT_PAGES, BUSY_TIMEOUT_MS, Connections, sqlite_path
from .deployments import append_row, append_rows
from .events import append_event
from .governance import write_governance


class SQLiteStore(Connections, Queries):
    """A `Store` on one SQLite file, safe to call from several threads."""

    def _append_row(self, tx: sqlite3.Connection, row: NewDeploymentRow, now: int) -> StoredEvent:
        return append_row(tx, row, now)

    def _append_audit(self, tx: sqlite3.Connection, entry: AuditEntry) -> None:
        append_audit(tx, entry)

    def append_deployments(
        self, items: Sequence[tuple[NewDeploymentRow, AuditEntry | None]]
    ) -> list[StoredEvent]:
        # A group-commit batch in a few statements (as on PostgreSQL): its rows in one
        # insert, their events in another, each slot touched read and written once, and the
        # analytics rollups folded once for the whole batch.
        now = time.time_ns() // 1000
        rows = [row for row, _ in items]
        with self._write() as conn:
            last = append_rows(conn, rows, now)
            for _, audit in items:
                if audit is not None:
                    append_audit(conn, audit)
        first = last - len(rows) + 1
        return [
            StoredEvent(first + offset, "deployment", row.service, row.doc)
            for offset, row in enumerate(rows)
        ]

    def _apply(self, tx: sqlite3.Connection, writes: Writes, now: int) -> list[StoredEvent]:
        events = [append_row(tx, row, now) for row in writes.rows]
        write_governance(tx, writes)
        events.extend(append_event(tx, event, now) for event in writes.events)
        for entry in writes.audit:
            append_audit(tx, entry)
        return events

    # -- events ----------------------------------------------------------------------

    def last_seq(self) -> int:
        row = self._one("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        return 0 if row is None else int(row[0])

    def first_seq(self) -> int:
        conn = self._conn
        conn.execute("BEGIN")  # one snapshot for both reads
        try:
            row = conn.execute("SELECT MIN(seq) FROM events").fetchone()
            first = self.last_seq() + 1 if row[0] is None else int(row[0])
        finally:
            conn.execute("COMMIT")
        return first

    def prune_events(self, older_than: int) -> int:
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM events WHERE recorded_at < ?", (older_than,))
        return int(cursor.rowcount)

    def put_fetcher_state(self, adapter: str, cursor: str, updated_at: int) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO fetcher_state (adapter, cursor, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (adapter) DO UPDATE SET cursor = excluded.cursor,"
                " updated_at = excluded.updated_at",
                (adapter, cursor, updated_at),
            )

    # -- logs and keys ---------------------------------------------------------------

    def append_logs(self, deployment_id: str, lines: Sequence[NewLogLine]) -> list[StoredLogLine]:
        with self._write() as conn:
            # Inside BEGIN IMMEDIATE no other writer (thread or process) can number lines
            # between this read and the inserts: numbers stay unique and gap-free.
            row = conn.execute(
                "SELECT MAX(seq) FROM deployment_logs WHERE deployment_id = ?", (deployment_id,)
            ).fetchone()
            last = 0 if row[0] is None else int(row[0])
            stored = [
                StoredLogLine(last + offset, line.at, line.level, line.stream, line.message)
                for offset, line in enumerate(lines, start=1)
            ]
            conn.executemany(
                "INSERT INTO deployment_logs (deployment_id, seq, at, level, stream, message)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(deployment_id, ln.seq, ln.at, ln.level, ln.stream, ln.message) for ln in stored],
            )
        return stored

    def revoke_key(self, key_id: str, revoked_at: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (revoked_at, key_id),
            )
        return bool(cursor.rowcount > 0)

    # -- imports ---------------------------------------------------------------------

    def _append_rows(
        self, tx: sqlite3.Connection, rows: Sequence[NewDeploymentRow], now: int
    ) -> int:
        return append_rows(tx, rows, now)


__all__ = [
    "AUTOCHECKPOINT_PAGES",
    "BUSY_TIMEOUT_MS",
    "GENESIS_HASH",
    "SQLiteStore",
    "chain_hash",
    "sqlite_path",
]
