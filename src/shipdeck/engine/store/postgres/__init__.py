"""The PostgreSQL backend: several replicas on one database.

`PostgresStore` answers the same `Store` interface as `SQLiteStore`. Writes are serialised
across replicas by the `event_head` row (see `connection`), which also numbers events
gap-free in commit order; `NOTIFY` tells other replicas of new events, log lines and key
changes, and an advisory lock picks the one replica that does housekeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ....domain import Role
from ..codec import scope_value
from ..records import (
    AuditEntry,
    Committed,
    IdempotencyConflict,
    NewDeploymentRow,
    NewLogLine,
    StoredEvent,
    StoredLogLine,
    StoreError,
    Writes,
)
from .connection import escape_nul
from .reads import Reads
from .writes import append_audit, append_event, append_row, write_governance


def _now() -> int:
    return time.time_ns() // 1000


class PostgresStore(Reads):
    """A `Store` on one PostgreSQL database, shared by every replica."""

    def append_deployment(
        self, row: NewDeploymentRow, audit: AuditEntry | None = None
    ) -> StoredEvent:
        with self._write() as txn:
            stored = append_row(txn, row, _now())
            if audit is not None:
                append_audit(txn, audit)
        return stored

    def commit(
        self,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        now = _now()
        with self._write() as txn:
            if idempotency is not None:
                principal, key, fingerprint = idempotency
                kept = txn.execute(
                    "SELECT fingerprint, response FROM idempotency_keys"
                    " WHERE principal = %s AND key = %s",
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
            # `decide` reads through the pool: the head lock held here means every
            # earlier write is committed and no other can start, so it reads current state.
            writes = decide()
            events = [append_row(txn, row, now) for row in writes.rows]
            write_governance(txn, writes)
            events.extend(append_event(txn, event, now) for event in writes.events)
            for entry in writes.audit:
                append_audit(txn, entry)
            if idempotency is not None:
                txn.execute(
                    "INSERT INTO idempotency_keys (principal, key, fingerprint, response,"
                    " created_at) VALUES (%s, %s, %s, %s, %s)",
                    (*idempotency, writes.response, now),
                )
        return Committed(events, writes.response, writes.value)

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

    def create_key(
        self,
        principal: str,
        role: Role,
        key_id: str,
        secret_hash: str,
        created_at: int,
        services: Sequence[str] | None = None,
        environments: Sequence[str] | None = None,
    ) -> None:
        with self._write() as txn:
            found = txn.execute(
                "SELECT role FROM principals WHERE name = %s", (principal,)
            ).fetchone()
            if found is None:
                txn.execute(
                    "INSERT INTO principals (name, role, created_at) VALUES (%s, %s, %s)",
                    (principal, role.value, created_at),
                )
            elif (stored_role := found[0]) != role.value:
                raise StoreError(
                    f"principal {principal!r} already exists with role {stored_role};"
                    " keys of one principal share its role"
                )
            txn.execute(
                "INSERT INTO api_keys (key_id, principal, secret_hash, created_at, services,"
                " environments) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    key_id,
                    principal,
                    secret_hash,
                    created_at,
                    scope_value(services),
                    scope_value(environments),
                ),
            )

    def revoke_key(self, key_id: str, revoked_at: int) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL",
                (revoked_at, key_id),
            )
            conn.execute("SELECT pg_notify('shipdeck_keys', %s)", (key_id,))
        return cursor.rowcount > 0


__all__ = ["PostgresStore"]
