"""How records become table rows and back: the part of the schema every backend shares.

Backends differ in SQL (placeholders, upserts, locking); the columns, their order and the
encodings of slots, executions, keys and audit hashes are the same on every one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from typing import Any

from ...domain import Role, SlotEntry, SlotState, Status
from .records import AuditEntry, ExecutionRecord, KeyRecord, SlotRecord

# -- SQL pieces ------------------------------------------------------------------------


def where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """` WHERE a AND b` (or nothing) and its arguments, from `(clause, value)` pairs whose
    value is not `None`; a tuple value gives one argument an element (`(a, b) < (?, ?)`)."""
    given = [(clause, value) for clause, value in conditions if value is not None]
    sql = " WHERE " + " AND ".join(clause for clause, _ in given) if given else ""
    args: list[Any] = []
    for _, value in given:
        if isinstance(value, tuple):
            args.extend(value)
        else:
            args.append(value)
    return sql, args


def columns(names: tuple[str, ...]) -> str:
    """`a, b, c`: the column list of a `SELECT` or an `INSERT`."""
    return ", ".join(names)


def placeholders(names: tuple[str, ...], mark: str = "?") -> str:
    """`?, ?, ?` (or `%s, %s, %s`): one placeholder a column."""
    return ", ".join([mark] * len(names))


def field_names(record: type[Any]) -> tuple[str, ...]:
    """A record dataclass's field names: the columns of a table that stores it as is."""
    return tuple(f.name for f in fields(record))


# -- slots -----------------------------------------------------------------------------

SLOT_COLUMNS = (
    "service",
    "environment",
    "cur_at",
    "cur_arr",
    "cur_status",
    "cur_doc",
    "suc_at",
    "suc_arr",
    "suc_doc",
    "term_at",
    "term_arr",
    "term_status",
    "oth_at",
    "oth_arr",
    "oth_status",
    "oth_doc",
    "changed_seq",
)
"""The columns of `slots`, in the order `slot_from_row` and `slot_values` use."""

_STATUSES = {status.value: status for status in Status}
"""A dict lookup is ~10x cheaper than `Status(value)`, and the matrix reads 8,000 a call."""


def _entry(at: Any, arr: Any, status: Any, doc: Any) -> SlotEntry[str] | None:
    if at is None:
        return None
    return SlotEntry(int(at), int(arr), _STATUSES[status], doc or "")


def slot_from_row(row: tuple[Any, ...]) -> SlotRecord:
    """A slot from its `SLOT_COLUMNS` values."""
    # Unpacked, not wrapped in a named tuple: the matrix decodes 2,000 of these a call.
    (
        service,
        environment,
        cur_at,
        cur_arr,
        cur_status,
        cur_doc,
        suc_at,
        suc_arr,
        suc_doc,
        term_at,
        term_arr,
        term_status,
        oth_at,
        oth_arr,
        oth_status,
        oth_doc,
        changed_seq,
    ) = row
    state = SlotState(
        current=_entry(cur_at, cur_arr, cur_status, cur_doc),
        last_success=_entry(suc_at, suc_arr, Status.SUCCESS.value, suc_doc),
        last_terminal=_entry(term_at, term_arr, term_status, None),
        latest_other=_entry(oth_at, oth_arr, oth_status, oth_doc),
    )
    return SlotRecord(str(service), str(environment), state, int(changed_seq))


def _entry_values(entry: SlotEntry[str] | None, *, status: bool, doc: bool) -> list[Any]:
    values: list[Any] = [None, None] if entry is None else [entry.happened_at, entry.arrival]
    if status:
        values.append(None if entry is None else entry.status.value)
    if doc:
        values.append(None if entry is None else entry.ref)
    return values


def slot_values(service: str, environment: str, state: SlotState[str], seq: int) -> tuple[Any, ...]:
    """A slot's `SLOT_COLUMNS` values."""
    return (
        service,
        environment,
        *_entry_values(state.current, status=True, doc=True),
        *_entry_values(state.last_success, status=False, doc=True),
        *_entry_values(state.last_terminal, status=True, doc=False),
        *_entry_values(state.latest_other, status=True, doc=True),
        seq,
    )


# -- executions ------------------------------------------------------------------------

EXECUTION_COLUMNS = field_names(ExecutionRecord)


def execution_values(e: ExecutionRecord) -> tuple[Any, ...]:
    """An execution's `EXECUTION_COLUMNS` values (parents as a JSON list)."""
    return (
        e.deployment_id,
        e.service,
        e.environment,
        e.version,
        e.action,
        e.actor,
        json.dumps(list(e.parents)),
        e.state,
        e.requested_at,
        e.owner,
        e.lease_until,
    )


def execution_from_row(row: tuple[Any, ...]) -> ExecutionRecord:
    """An execution from its `EXECUTION_COLUMNS` values."""
    (
        deployment_id,
        service,
        environment,
        version,
        action,
        actor,
        parents,
        state,
        requested_at,
        owner,
        lease_until,
    ) = row
    return ExecutionRecord(
        str(deployment_id),
        str(service),
        str(environment),
        str(version),
        str(action),
        None if actor is None else str(actor),
        tuple(json.loads(parents)),
        str(state),
        int(requested_at),
        None if owner is None else str(owner),
        None if lease_until is None else int(lease_until),
    )


# -- keys ------------------------------------------------------------------------------

SELECT_KEYS = (
    "SELECT k.key_id, k.principal, p.role, k.secret_hash, k.created_at, k.revoked_at,"
    " k.services, k.environments FROM api_keys k JOIN principals p ON p.name = k.principal"
)


def scope_value(names: Any) -> str | None:
    """A scope as stored: a sorted JSON list, `NULL` for all."""
    return None if not names else json.dumps(sorted(names))


def _scope(names: Any) -> tuple[str, ...] | None:
    return None if names is None else tuple(json.loads(names))


def key_from_row(row: tuple[Any, ...]) -> KeyRecord:
    """A key from a `SELECT_KEYS` row."""
    key_id, principal, role, secret_hash, created_at, revoked_at, services, environments = row
    return KeyRecord(
        str(key_id),
        str(principal),
        Role(role),
        str(secret_hash),
        int(created_at),
        None if revoked_at is None else int(revoked_at),
        _scope(services),
        _scope(environments),
    )


# -- audit -----------------------------------------------------------------------------

GENESIS_HASH = "0" * 64
"""`prev_hash` of the first audit entry."""

AUDIT_COLUMNS = field_names(AuditEntry)


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    """The hash of an audit entry: SHA-256 over the previous hash and the entry's fields."""
    # The fields are named one by one: their order is part of every stored hash.
    canonical = json.dumps(
        [
            prev_hash,
            entry.at,
            entry.principal,
            entry.action,
            entry.target,
            entry.request_id,
            entry.outcome,
            entry.reason,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
