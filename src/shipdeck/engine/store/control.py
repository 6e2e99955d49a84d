"""What the control plane keeps: component events, control-stream events, the operation in
flight, and the erasure a reset performs.

Written once for both backends (a `Queries` mixin, `?` placeholders): a backend's `_write()`
transaction answers `execute` on either. The event tables are short-lived observability
(two hours); ids are UUIDv7, so `id > ?` orders and resumes them on every replica.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .records import AuditEntry, NewEvent, StoredEvent, Writes
from .rollup import ANALYTICS_TABLES

ERASED_TABLES = (
    "approvals",
    "promotions",
    "executions",
    "idempotency_keys",
    "deployment_logs",
    "slots",
    "deployments",
    "events",
    "fetcher_state",
    "import_sources",
    *ANALYTICS_TABLES,
)
"""What a reset erases: deployment history and what hangs off it (its analytics rollups
too), and fetcher cursors.
Kept: keys, principals, environment locks and policies, the audit chain (a reset erases
deployments, not the record that someone reset), and the control tables themselves."""


@dataclass(frozen=True, slots=True)
class ComponentEventRow:
    """One `POST /api/control/events`, as stored."""

    id: str
    component_id: str
    correlation_id: str | None
    event_type: str
    state: str
    detail: str | None
    occurred_at: str
    received_at: int
    """Microseconds since the epoch."""
    payload: str | None
    """The JSON object as sent, or `None`."""


@dataclass(frozen=True, slots=True)
class ControlEventRow:
    """One frame of `GET /api/control/stream`, as stored."""

    id: str
    type: str
    component: str
    correlation_id: str
    occurred_at: int
    """Microseconds since the epoch."""
    payload: str | None


@dataclass(frozen=True, slots=True)
class ControlOperation:
    """The control operation holding the single-flight slot."""

    operation: str
    correlation_id: str
    phase: str
    lease_until: int


_COMPONENT_COLUMNS = (
    "id, component_id, correlation_id, event_type, state, detail, occurred_at, received_at, payload"
)
_CONTROL_COLUMNS = "id, type, component, correlation_id, occurred_at, payload"


class ControlStore(Protocol):
    """The control plane's part of the `Store` interface (see `ControlQueries`)."""

    def append_component_event(self, row: ComponentEventRow) -> None: ...
    def component_events_after(
        self, after_id: str, since: int, limit: int
    ) -> list[ComponentEventRow]: ...
    def append_control_event(self, row: ControlEventRow) -> None: ...
    def control_events_after(
        self, after_id: str, since: int, limit: int
    ) -> list[ControlEventRow]: ...
    def prune_control(self, older_than: int) -> int: ...
    def control_operation(self) -> ControlOperation | None: ...
    def claim_control(
        self,
        claim: ControlOperation,
        first: ControlEventRow,
        now: int,
        audit: Sequence[AuditEntry] = (),
    ) -> bool: ...
    def advance_control(
        self,
        correlation_id: str,
        phase: str,
        lease_until: int,
        event: ControlEventRow,
        audit: Sequence[AuditEntry] = (),
    ) -> bool: ...
    def abandon_control(
        self, correlation_id: str, event: ControlEventRow, now: int, audit: Sequence[AuditEntry]
    ) -> ControlEventRow | None: ...
    def erase_deployments(self, reason: str, now: int, lease_for: int = 0) -> StoredEvent: ...


class ControlQueries:
    """The control plane's part of a `Store` (mixed into `Queries`)."""

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _apply(self, tx: Any, writes: Writes, now: int) -> list[StoredEvent]:
        raise NotImplementedError

    # -- component events ------------------------------------------------------------

    def append_component_event(self, row: ComponentEventRow) -> None:
        """Store one component event."""
        with self._write() as tx:
            tx.execute(
                f"INSERT INTO component_events ({_COMPONENT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.component_id,
                    row.correlation_id,
                    row.event_type,
                    row.state,
                    row.detail,
                    row.occurred_at,
                    row.received_at,
                    row.payload,
                ),
            )

    def component_events_after(
        self, after_id: str, since: int, limit: int
    ) -> list[ComponentEventRow]:
        """Component events with an id above `after_id` received at `since` (µs) or later,
        oldest first."""
        rows = self._rows(
            f"SELECT {_COMPONENT_COLUMNS} FROM component_events"
            " WHERE id > ? AND received_at >= ? ORDER BY id LIMIT ?",
            (after_id, since, limit),
        )
        return [ComponentEventRow(*row) for row in rows]

    # -- control-stream events -------------------------------------------------------

    def append_control_event(self, row: ControlEventRow) -> None:
        """Store one control-stream event."""
        with self._write() as tx:
            _insert_control(tx, row)

    def control_events_after(self, after_id: str, since: int, limit: int) -> list[ControlEventRow]:
        """Control events with an id above `after_id` that occurred at `since` (µs) or
        later, oldest first."""
        rows = self._rows(
            f"SELECT {_CONTROL_COLUMNS} FROM control_events"
            " WHERE id > ? AND occurred_at >= ? ORDER BY id LIMIT ?",
            (after_id, since, limit),
        )
        return [ControlEventRow(*row) for row in rows]

    def prune_control(self, older_than: int) -> int:
        """Drop component and control events older than `older_than` (µs)."""
        with self._write() as tx:
            a = tx.execute("DELETE FROM component_events WHERE received_at < ?", (older_than,))
            b = tx.execute("DELETE FROM control_events WHERE occurred_at < ?", (older_than,))
        return int(a.rowcount) + int(b.rowcount)

    # -- the operation in flight -----------------------------------------------------

    def control_operation(self) -> ControlOperation | None:
        """The operation holding the slot (its lease may have lapsed)."""
        row = self._one(
            "SELECT operation, correlation_id, phase, lease_until FROM control_state WHERE id = 1"
        )
        return (
            None
            if row is None
            else ControlOperation(str(row[0]), str(row[1]), str(row[2]), int(row[3]))
        )

    def claim_control(
        self,
        claim: ControlOperation,
        first: ControlEventRow,
        now: int,
        audit: Sequence[AuditEntry] = (),
    ) -> bool:
        """Take the single-flight slot for `claim` and log its first event and `audit`, in
        one transaction; `False` (nothing written) while another operation's lease holds."""
        with self._write() as tx:
            row = tx.execute("SELECT phase, lease_until FROM control_state WHERE id = 1").fetchone()
            if row is not None and str(row[0]) != "idle" and int(row[1]) > now:
                return False
            tx.execute("DELETE FROM control_state WHERE id = 1")
            tx.execute(
                "INSERT INTO control_state (id, operation, correlation_id, phase, lease_until)"
                " VALUES (1, ?, ?, ?, ?)",
                (claim.operation, claim.correlation_id, claim.phase, claim.lease_until),
            )
            _insert_control(tx, first)
            self._apply(tx, Writes(audit=list(audit)), now)
        return True

    def advance_control(
        self,
        correlation_id: str,
        phase: str,
        lease_until: int,
        event: ControlEventRow,
        audit: Sequence[AuditEntry] = (),
    ) -> bool:
        """Move the operation `correlation_id` to `phase` (a new lease) and log its event and
        `audit`, in one transaction; `False` (nothing written) when the operation no longer
        holds the slot (its lease lapsed and another replica ended it)."""
        with self._write() as tx:
            moved = tx.execute(
                "UPDATE control_state SET phase = ?, lease_until = ?"
                " WHERE id = 1 AND correlation_id = ? AND phase <> 'idle'",
                (phase, lease_until, correlation_id),
            )
            if moved.rowcount != 1:
                return False
            _insert_control(tx, event)
            self._apply(tx, Writes(audit=list(audit)), event.occurred_at)
        return True

    def abandon_control(
        self, correlation_id: str, event: ControlEventRow, now: int, audit: Sequence[AuditEntry]
    ) -> ControlEventRow | None:
        """End the operation `correlation_id` whose lease lapsed before `now` (its replica
        stopped): free the slot and log `event` — carrying the payload of the operation's
        first event — and `audit`, in one transaction. `None` (nothing written) when the
        operation is not holding a lapsed lease: it ended, or another replica ended it."""
        with self._write() as tx:
            freed = tx.execute(
                "UPDATE control_state SET phase = 'idle', lease_until = ?"
                " WHERE id = 1 AND correlation_id = ? AND phase <> 'idle' AND lease_until <= ?",
                (now, correlation_id, now),
            )
            if freed.rowcount != 1:
                return None
            first = tx.execute(
                "SELECT payload FROM control_events WHERE id = ?", (correlation_id,)
            ).fetchone()
            ended = replace(event, payload=None if first is None else first[0])
            _insert_control(tx, ended)
            self._apply(tx, Writes(audit=list(audit)), now)
        return ended

    def erase_deployments(self, reason: str, now: int, lease_for: int = 0) -> StoredEvent:
        """Erase deployment history (`ERASED_TABLES`) and log an `event: resync` (data
        `{"seq", "reason"}`) as the first event after it, in one transaction.

        The event sequence is not restarted (SQLite's AUTOINCREMENT and PostgreSQL's
        `event_head` keep their value): ids stay increasing, so a client resuming from a
        position before the reset is told to resync instead of seeing new rows under old ids.

        With `lease_for` (microseconds), the operation holding the control slot gets its lease
        renewed by the same commit, to `lease_for` after the erase ended: an erase longer than
        the lease is not mistaken by another replica for a saga whose replica stopped (that
        replica's check waits for this commit and then finds the lease current).
        """
        started = time.monotonic()
        with self._write() as tx:
            for table in ERASED_TABLES:
                tx.execute(f"DELETE FROM {table}")  # fixed names, never input
            (stored,) = self._apply(tx, Writes(events=[NewEvent("resync", None, "")]), now)
            # Its data names its own position, known once it is numbered.
            data = json.dumps({"seq": stored.seq, "reason": reason})
            tx.execute("UPDATE events SET data = ? WHERE seq = ?", (data, stored.seq))
            if lease_for:
                took = int((time.monotonic() - started) * 1_000_000)
                tx.execute(
                    "UPDATE control_state SET lease_until = ? WHERE id = 1 AND phase <> 'idle'",
                    (now + took + lease_for,),
                )
        return StoredEvent(stored.seq, stored.type, stored.service, data)


def _insert_control(tx: Any, row: ControlEventRow) -> None:
    tx.execute(
        f"INSERT INTO control_events ({_CONTROL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (row.id, row.type, row.component, row.correlation_id, row.occurred_at, row.payload),
    )


__all__ = [
    "ERASED_TABLES",
    "ComponentEventRow",
    "ControlEventRow",
    "ControlOperation",
    "ControlQueries",
    "ControlStore",
]
