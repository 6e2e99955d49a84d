"""The storage interface the engine uses; SQLite and PostgreSQL implement it.

Methods are synchronous: the engine runs them on its own worker threads (one writer,
several readers), so a backend never sees the asyncio loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ...domain import Role
from .control import ControlStore
from .records import (
    ApprovalRecord,
    AuditEntry,
    AuditRecord,
    Committed,
    DeploymentQuery,
    EnvironmentRecord,
    ExecutionRecord,
    ImportProgress,
    KeyRecord,
    NewDeploymentRow,
    NewLogLine,
    PromotionRecord,
    SlotRecord,
    StoredEvent,
    StoredLogLine,
    Writes,
)
from .rollup_reads import AnalyticsStore

SlotSummary = tuple[str, str, str, int, int]
"""A slot from its light columns: `(service, environment, current status, last change,
changed_seq)`; the last change (µs) is the later of `cur_at` and `oth_at`: of the slot's
current row and its latest non-effective one. Plain tuples: the matrix index reads 80,000
of them at its first build."""


class Store(ControlStore, AnalyticsStore, Protocol):
    """Durable state of one engine (the control plane's part: `control.ControlStore`; the
    analytics rollups': `rollup_reads.AnalyticsStore`)."""

    def append_deployment(
        self, row: NewDeploymentRow, audit: AuditEntry | None = None
    ) -> StoredEvent:
        """Append the row, fold it into its slot, log the event and the audit entry, in one
        transaction."""
        ...

    def append_deployments(
        self, items: Sequence[tuple[NewDeploymentRow, AuditEntry | None]]
    ) -> list[StoredEvent]:
        """`append_deployment` of several rows in one transaction (group commit): all are
        stored or none."""
        ...

    def promotion(self, promotion_id: str) -> PromotionRecord | None:
        """One promotion."""
        ...

    def promotion_of_deployment(self, deployment_id: str) -> PromotionRecord | None:
        """The promotion whose target deployment is `deployment_id`."""
        ...

    def promotions(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[PromotionRecord]:
        """Promotions, newest first (ids are time-ordered), after the id `before`."""
        ...

    def approvals(self, promotion_id: str) -> list[ApprovalRecord]:
        """A promotion's decisions, oldest first."""
        ...

    def environment_records(self) -> list[EnvironmentRecord]:
        """Every environment with a lock or an API-set policy."""
        ...

    def audit_entries(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit entries newest first (`before`) or, with `after`, oldest first."""
        ...

    def commit(
        self,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        """Call `decide` inside one write transaction and apply what it returns.

        `decide` may read the store (its reads see the transaction) and raise to write
        nothing. With `idempotency = (principal, key, fingerprint)`, a key already used by
        the same request returns its kept answer without calling `decide`; used by another
        request it raises `IdempotencyConflict`.
        """
        ...

    def execution(self, deployment_id: str) -> ExecutionRecord | None:
        """One execution, or `None` when the engine never ran that deployment."""
        ...

    def executions(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        states: Sequence[str] = (),
    ) -> list[ExecutionRecord]:
        """Executions (of one slot, in some states), oldest request first."""
        ...

    def list_deployments(self, query: DeploymentQuery) -> list[tuple[int, str, str]]:
        """Rows as `(happened_at, id, doc)`, newest first, at most `query.limit`."""
        ...

    def get_deployment(self, row_id: str) -> str | None:
        """One row's document, or `None`."""
        ...

    def slots(
        self, service: str | None = None, *, changed_after: int | None = None
    ) -> list[SlotRecord]:
        """Every slot (of one service), ordered by service then environment.

        With `changed_after`, only slots whose `changed_seq` is greater: event sequence
        numbers follow commit order, so a reader that remembers the largest `changed_seq`
        it has seen gets every later change on its next call.
        """
        ...

    def slot_summaries(self, *, changed_after: int | None = None) -> list[SlotSummary]:
        """The light columns of every slot that has an effective row (a current one), in no
        order: what the matrix index needs, without the row documents.

        `changed_after` as in `slots`.
        """
        ...

    def service_changes(self) -> list[tuple[str, int]]:
        """Every service that has an effective row in some slot, with its last change (µs):
        the newest `happened_at` of its slots' current and latest other rows, in no order.

        One aggregate over the slot table's light columns: at 80,000 slots a fraction of
        reading `slot_summaries` into Python.
        """
        ...

    def service_slots(self, services: Sequence[str]) -> list[SlotRecord]:
        """Every slot of these services (unknown ones have none), in no order."""
        ...

    def services(self) -> list[str]:
        """Distinct services, sorted."""
        ...

    def environments(self) -> list[str]:
        """Distinct environments, unordered."""
        ...

    def last_seq(self) -> int:
        """The newest event's sequence number (0 before the first)."""
        ...

    def first_seq(self) -> int:
        """The oldest event still kept (`last_seq() + 1` when none are)."""
        ...

    def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Events with a sequence number strictly greater than `seq`, oldest first."""
        ...

    def prune_events(self, older_than: int) -> int:
        """Drop events recorded before `older_than` (µs); return how many."""
        ...

    def event_seq_of_row(self, row_id: str) -> int | None:
        """The sequence number of the event that carried a deployment row."""
        ...

    def append_logs(self, deployment_id: str, lines: Sequence[NewLogLine]) -> list[StoredLogLine]:
        """Append lines to a deployment's log, numbered on from its last, in one transaction.

        Concurrent appends to one deployment never share or skip a number.
        """
        ...

    def logs(self, deployment_id: str, after_seq: int, limit: int) -> list[StoredLogLine]:
        """A deployment's lines numbered after `after_seq`, oldest first, at most `limit`."""
        ...

    def last_log_seq(self, deployment_id: str) -> int:
        """The number of a deployment's newest line (0 before the first)."""
        ...

    def get_fetcher_state(self, adapter: str) -> tuple[str, int] | None:
        """`(cursor, updated_at µs)` or `None`."""
        ...

    def put_fetcher_state(self, adapter: str, cursor: str, updated_at: int) -> None:
        """Upsert an adapter's cursor."""
        ...

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
        """Store a key for a principal (created with `role` when new), optionally scoped."""
        ...

    def find_key(self, key_id: str) -> KeyRecord | None:
        """Look a key up by its public id."""
        ...

    def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        ...

    def revoke_key(self, key_id: str, revoked_at: int) -> bool:
        """Revoke a key; `False` if there is no such key."""
        ...

    def watch(self, callback: Callable[[str, str], None]) -> None:
        """Call `callback(topic, detail)`, from a background thread, when another process
        (a replica) has committed: topic `events` (read `events_after` your head), `logs`
        (detail: the deployment id whose lines grew) or `keys` (detail: a key id). Once
        listening, and again after losing touch with the database, every topic is told
        once with detail `""` (read all: what was committed before may not have been
        heard). A backend without other writers never calls it."""
        ...

    def lead(self) -> bool:
        """Whether this process is the one that does housekeeping now (one at a time)."""
        ...

    def checkpoint(self) -> None:
        """Background housekeeping of the write-ahead log (a no-op where there is none)."""
        ...

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...

    def import_deployments(
        self,
        rows: Sequence[NewDeploymentRow],
        audit: AuditEntry | None,
        progress: ImportProgress,
        after: int,
    ) -> int:
        """Append a batch of imported rows as `append_deployments` does (each folded into its
        slot and logged as an event), the batch's audit entry and the new `progress` of their
        source, in one transaction: after a crash the stored progress names exactly the last
        line whose rows are stored. Returns the last event's number (0 without rows).

        Raises:
            ImportConflict: the source's stored progress is not at line `after` (0: none);
                nothing is written.
        """
        ...

    def import_progress(self, source: str) -> ImportProgress | None:
        """How far the imports of `source` got, or `None` before its first batch."""
        ...
