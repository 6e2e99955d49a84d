"""The storage interface the engine uses; SQLite implements it now, PostgreSQL later.

Methods are synchronous: the engine runs them on its own worker threads (one writer,
several readers), so a backend never sees the asyncio loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...domain import Role, SlotState, Status


@dataclass(frozen=True, slots=True)
class NewDeploymentRow:
    """A row about to be appended, already validated and serialised."""

    id: str
    deployment_id: str
    service: str
    environment: str
    status: Status
    happened_at: int
    """Microseconds since the epoch."""
    actor: str | None
    doc: str
    """The row's JSON exactly as the API returns it."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One entry of the event log."""

    seq: int
    """Gap-free, monotonic; SSE ids and replay use it."""
    type: str
    service: str | None
    data: str


@dataclass(frozen=True, slots=True)
class DeploymentQuery:
    """Filters and a keyset position for listing rows newest first."""

    service: str | None = None
    environment: str | None = None
    status: Status | None = None
    deployment_id: str | None = None
    actor: str | None = None
    text: str | None = None
    """Case-insensitive substring of the row's document (any field)."""
    since: int | None = None
    """Inclusive lower bound on `happened_at` (µs)."""
    until: int | None = None
    """Exclusive upper bound on `happened_at` (µs)."""
    before: tuple[int, str] | None = None
    """Only rows strictly after this `(happened_at, id)` in newest-first order."""
    limit: int = 100


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """One slot's state as stored (entry refs are row documents)."""

    service: str
    environment: str
    state: SlotState[str]
    changed_seq: int


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as stored: never the secret itself."""

    key_id: str
    principal: str
    role: Role
    secret_hash: str
    created_at: int
    revoked_at: int | None
    services: tuple[str, ...] | None = None
    """The services the key may act on (`None`: all)."""
    environments: tuple[str, ...] | None = None
    """The environments the key may act on (`None`: all)."""


@dataclass(frozen=True, slots=True)
class NewLogLine:
    """A log line about to be appended, secrets already masked."""

    at: int
    """Microseconds since the epoch."""
    level: str
    stream: str
    message: str


@dataclass(frozen=True, slots=True)
class StoredLogLine:
    """A log line as stored, numbered within its logical deployment."""

    seq: int
    """From 1, without gaps, per `deployment_id`."""
    at: int
    """Microseconds since the epoch."""
    level: str
    stream: str
    message: str


class StoreError(Exception):
    """The store could not do what was asked (the message says why)."""


class IdempotencyConflict(StoreError):
    """An `Idempotency-Key` already answered another request."""


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """A deployment the executor runs (or ran)."""

    deployment_id: str
    service: str
    environment: str
    version: str
    action: str
    """`deploy`, `promote`, `rollback` or `retry`."""
    actor: str | None
    parents: tuple[str, ...]
    state: str
    """`queued`, `running` or `done`."""
    requested_at: int
    """Microseconds since the epoch."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One decision on a mutating request, as it is appended to the audit log."""

    at: int
    """Microseconds since the epoch."""
    principal: str | None
    action: str
    target: str
    request_id: str | None
    outcome: str
    """`ok`, or `refused: <kind>`."""
    reason: str | None = None
    """A reason the caller gave (a lock, a freeze override, a rejection), or the refusal's."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit entry as stored: numbered and hash-chained."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event on the global stream that is not a deployment row (`promotion`, `environment`)."""

    type: str
    service: str | None
    data: str


@dataclass(frozen=True, slots=True)
class PromotionRecord:
    """A promotion into an environment whose policy asks for approvals."""

    id: str
    service: str
    from_environment: str
    to_environment: str
    version: str
    source_deployment_id: str | None
    deployment_id: str
    """The logical deployment in the target slot (`waiting`, then `queued`…)."""
    requester: str
    status: str
    """`awaiting-approval`, `approved`, `rejected`, `cancelled` or `expired`."""
    approvals_required: int
    created_at: int
    expires_at: int
    decided_at: int | None = None
    decided_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """One principal's decision on a promotion (one per principal)."""

    promotion_id: str
    principal: str
    decision: str
    """`approve` or `reject`."""
    comment: str | None
    key_id: str | None
    at: int


@dataclass(frozen=True, slots=True)
class EnvironmentRecord:
    """An environment's lock and API-set policy."""

    environment: str
    locked_by: str | None = None
    lock_reason: str | None = None
    locked_at: int | None = None
    policy: str | None = None
    """JSON of an `EnvironmentPolicy` set through the API (`None`: the TOML's)."""


@dataclass(frozen=True, slots=True)
class Writes:
    """What one transaction appends and changes, decided inside it (see `Store.commit`)."""

    rows: Sequence[NewDeploymentRow] = ()
    """Rows to append, in order (each folded into its slot and logged as an event)."""
    executions: Sequence[ExecutionRecord] = ()
    """Executions to insert."""
    states: Sequence[tuple[str, str]] = ()
    """`(deployment_id, state)` changes of existing executions."""
    events: Sequence[NewEvent] = ()
    """Other events for the global stream, after the rows' events."""
    promotions: Sequence[PromotionRecord] = ()
    """Promotions to insert or replace."""
    approvals: Sequence[ApprovalRecord] = ()
    """Approvals to insert."""
    environments: Sequence[EnvironmentRecord] = ()
    """Environment states to insert or replace."""
    audit: Sequence[AuditEntry] = ()
    """Audit entries, appended to the hash chain in this transaction."""
    response: str = ""
    """The answer to keep for the request's `Idempotency-Key`, if it has one."""
    value: object = field(default=None, compare=False)
    """Anything the deciding function wants handed back to its caller."""


@dataclass(frozen=True, slots=True)
class Committed:
    """What `Store.commit` did."""

    events: list[StoredEvent]
    response: str
    value: object = None
    replayed: bool = False
    """True when an earlier answer to the same `Idempotency-Key` was returned instead."""


class Store(Protocol):
    """Durable state of one engine."""

    def append_deployment(
        self, row: NewDeploymentRow, audit: AuditEntry | None = None
    ) -> StoredEvent:
        """Append the row, fold it into its slot, log the event and the audit entry, in one
        transaction."""
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

    def checkpoint(self) -> None:
        """Background housekeeping of the write-ahead log (a no-op where there is none)."""
        ...

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...
