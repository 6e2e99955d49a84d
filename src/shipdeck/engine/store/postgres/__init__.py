"""The PostgreSQL backend: several replicas on one database.

`PostgresStore` answers the same `Store` interface as `SQLiteStore`. Writes are serialised
across replicas by the `event_head` row (see `connection`), which also numbers events
gap-free in commit order; `NOTIFY` tells other replicas of new events, log lines and key
changes, and an advisory lock picks the one replica that does housekeeping.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..queries import Queries
from ..records import (
    AuditEntry,
    NewDeploymentRow,
    NewLogLine,
    StoredEvent,
    StoredLogLine,
    Writes,
)
from .connection import Connections, Transaction
from .text import escape_nul, unescape_nul
from .writes import append_audit, append_event, append_row, append_rows, write_governance


class PostgresStore(Connections, Queries):
    """A `Store` on one PostgreSQL database, shared by every replica."""

    _LIKE = "ILIKE"  # as SQLite's LIKE: `q` ignores ASCII case on both
    _EXECUTION_ORDER = "requested_at, deployment_id"
    _JSON_PAIRS = "json_agg(json_build_array(service, at))"

    def _append_row(self, tx: Transaction, row: NewDeploymentRow, now: int) -> StoredEvent:
        return append_row(tx, row, now)

    def _append_audit(self, tx: Transaction, entry: AuditEntry) -> None:
        append_audit(tx, entry)

    def _apply(self, tx: Transaction, writes: Writes, now: int) -> list[StoredEvent]:
        events = [append_row(tx, row, now) for row in writes.rows]
        write_governance(tx, writes)
        events.extend(append_event(tx, event, now) for event in writes.events)
        for entry in writes.audit:
            append_audit(tx, entry)
        return events

    def append_deployments(
        self, items: Sequence[tuple[NewDeploymentRow, AuditEntry | None]]
    ) -> list[StoredEvent]:
        now = time.time_ns() // 1000
        rows = [row for row, _ in items]
        audits = [audit for _, audit in items if audit is not None]

        def append(txn: Transaction) -> list[StoredEvent]:
            if audits:
                txn.read_audit_hash()  # answered with the rows' insert (`append_rows`)
            stored = append_rows(txn, rows, now)
            for audit in audits:
                append_audit(txn, audit)
            return stored

        # The hot path of ingest (group commit): pipelined, two round trips in the usual
        # case, while the `event_head` lock is held (see `connection`).
        return self._pipelined(append)

    def _message(self, stored: Any) -> str:
        return unescape_nul(str(stored))

    def last_seq(self) -> int:
        row = self._one("SELECT seq FROM event_head WHERE id = 1")
        return 0 if row is None else int(row[0])

    def first_seq(self) -> int:
        # One statement: one snapshot for both.
        row = self._one(
            "SELECT (SELECT MIN(seq) FROM events), (SELECT seq FROM event_head WHERE id = 1)"
        )
        first, head = row or (None, 0)
        return int(head or 0) + 1 if first is None else int(first)

    def prune_events(self, older_than: int) -> int:
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM events WHERE recorded_at < %s", (older_than,))
        return int(cursor.rowcount)

    def put_fetcher_state(self, adapter: str, cursor: str, updated_at: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO fetcher_state (adapter, cursor, updated_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (adapter) DO UPDATE SET cursor = EXCLUDED.cursor,"
                " updated_at = EXCLUDED.updated_at",
                (adapter, cursor, updated_at),
            )

    def append_logs(self, deployment_id: str, lines: Sequence[NewLogLine]) -> list[StoredLogLine]:
        with self._transaction() as conn:
            # One numbering per deployment at a time, on every replica.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (deployment_id,))
            row = conn.execute(
                "SELECT MAX(seq) FROM deployment_logs WHERE deployment_id = %s", (deployment_id,)
            ).fetchone()
            last = 0 if row is None or row[0] is None else int(row[0])
            stored = [
                StoredLogLine(last + offset, line.at, line.level, line.stream, line.message)
                for offset, line in enumerate(lines, start=1)
            ]
            conn.cursor().executemany(
                "INSERT INTO deployment_logs (deployment_id, seq, at, level, stream, message)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        deployment_id,
                        line.seq,
                        line.at,
                        line.level,
                        line.stream,
                        escape_nul(line.message),
                    )
                    for line in stored
                ],
            )
            conn.execute("SELECT pg_notify('shipdeck_logs', %s)", (deployment_id,))
        return stored

    def revoke_key(self, key_id: str, revoked_at: int) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL",
                (revoked_at, key_id),
            )
            conn.execute("SELECT pg_notify('shipdeck_keys', %s)", (key_id,))
        return cursor.rowcount > 0

    # -- imports ---------------------------------------------------------------------

    def _append_rows(self, tx: Transaction, rows: Sequence[NewDeploymentRow], now: int) -> int:
        return append_rows(tx, rows, now)[-1].seq if rows else 0


__all__ = ["PostgresStore"]
