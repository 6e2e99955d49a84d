"""The SQLite backend: WAL mode, one writer at a time, `BEGIN IMMEDIATE` writes.

`SQLiteStore` is put together from one class a part of the schema, each on the same
connections (`connection.Connections`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..codec import GENESIS_HASH, chain_hash
from ..records import Committed, IdempotencyConflict, Writes
from .audit import Audit, append_audit
from .connection import AUTOCHECKPOINT_PAGES, BUSY_TIMEOUT_MS, sqlite_path
from .deployments import Deployments, append_row
from .events import Events, append_event
from .governance import Governance, write_governance
from .keys import Keys
from .logs import Logs


class SQLiteStore(Deployments, Events, Logs, Governance, Audit, Keys):
    """A `Store` on one SQLite file, safe to call from several threads."""

    def commit(
        self,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        now = time.time_ns() // 1000
        with self._write() as conn:
            if idempotency is not None:
                principal, key, fingerprint = idempotency
                kept = conn.execute(
                    "SELECT fingerprint, response FROM idempotency_keys"
                    " WHERE principal = ? AND key = ?",
                    (principal, key),
                ).fetchone()
                if kept is not None:
                    kept_fingerprint, kept_response = kept
                    if kept_fingerprint != fingerprint:
                        raise IdempotencyConflict(
                            f"the Idempotency-Key {key!r} was already used for another "
                            "request; send a new key for a new request"
                        )
                    return Committed([], str(kept_response), replayed=True)
            writes = decide()
            events = [append_row(conn, row, now) for row in writes.rows]
            write_governance(conn, writes)
            events.extend(append_event(conn, event, now) for event in writes.events)
            for entry in writes.audit:
                append_audit(conn, entry)
            if idempotency is not None:
                conn.execute(
                    "INSERT INTO idempotency_keys (principal, key, fingerprint, response,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (*idempotency, writes.response, now),
                )
        return Committed(events, writes.response, writes.value)


__all__ = [
    "AUTOCHECKPOINT_PAGES",
    "BUSY_TIMEOUT_MS",
    "GENESIS_HASH",
    "SQLiteStore",
    "chain_hash",
    "sqlite_path",
]
