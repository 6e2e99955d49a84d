"""The values that cross the storage interface: rows, records, writes and errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...domain import Role, SlotState, Status
from ...domain.queries import NO_FILTERS, DeploymentFilters


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
    namespace: str | None = None
    """The row's `namespace` (its own column, so reads can filter by it)."""


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

    filters: DeploymentFilters = NO_FILTERS
    """`text` matches the row's document (any field); `since`/`until` bound `happened_at`."""
    before: tuple[int, str] | None = None
    """Only rows strictly after this `(happened_at, id)` in newest-first order."""
    limit: int = 100
    hidden_services: tuple[str, ...] = ()
    """Rows of these services are left out, in the query's `WHERE` (so a page holds `limit`
    rows whenever that many are left). The engine resolves exclusion patterns to exact
    stored names (`ServiceExclusion.hidden`): the database only compares names, which both
    backends do alike."""
    hidden_identities: tuple[tuple[str, str], ...] = ()
    """Rows of these `(namespace, service)` are left out too."""


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


class StoreUnavailable(StoreError):
    """The database cannot be reached now (down, restarting, network); retry later."""


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
    owner: str | None = None
    """The replica running it (`running` only)."""
    lease_until: int | None = None
    """µs: until when `owner` holds it; past this another replica may end it."""


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
    leases: Sequence[tuple[str, str | None, int | None]] = ()
    """`(deployment_id, owner, lease_until)` of executions claimed (or released)."""
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


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """How far `shipdeck import` got in one source, committed with each batch it imported."""

    source: str
    """The file's path, or a name given for the input."""
    line: int
    """The last line whose outcome is stored: every line up to it was imported or rejected."""
    bytes: int
    """The input's length up to the end of `line`."""
    digest: str
    """SHA-256 (hex) of those bytes: a resumed input must begin with the same ones."""
    imported: int
    """Rows imported from the source so far."""
    rejected: int
    """Lines refused so far."""
    rejections: tuple[tuple[int, str], ...]
    """The first refused lines, `(line, reason)`, as many as a summary lists."""
    started_at: int
    """µs: when the first batch of the source was committed."""
    updated_at: int
    """µs: when the last one was."""


class ImportConflict(StoreError):
    """Another import of the same source moved its progress meanwhile."""
