"""What a PostgreSQL write transaction appends: rows, events, governance, audit."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from operator import attrgetter
from typing import Any

from ....domain import SlotEntry, SlotState, fold_slot
from ..codec import (
    AUDIT_COLUMNS,
    EXECUTION_COLUMNS,
    GENESIS_HASH,
    SLOT_COLUMNS,
    chain_hash,
    columns,
    execution_values,
    field_names,
    placeholders,
    slot_from_row,
    slot_values,
)
from ..records import (
    ApprovalRecord,
    AuditEntry,
    EnvironmentRecord,
    NewDeploymentRow,
    NewEvent,
    PromotionRecord,
    StoredEvent,
    Writes,
)
from ..rollup import TABLE_ROWS, Later, RollupTx, TableRows
from ..rollup_fold import AppendFold, fold_appended
from .connection import Transaction
from .setwise import arrays_of, insert_rows
from .text import pg_sql


def _replacing(names: tuple[str, ...], key: tuple[str, ...]) -> str:
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name not in key)
    return f"ON CONFLICT ({columns(key)}) DO UPDATE SET {updates}"


def _upsert(table: str, names: tuple[str, ...], key: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({columns(names)}) VALUES ({placeholders(names, '%s')}) "
        + _replacing(names, key)
    )


def _insert(table: str, names: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({columns(names)}) VALUES ({placeholders(names, '%s')})"


_SLOT_KEY = ("service", "environment")
_PUT_SLOT = _upsert("slots", SLOT_COLUMNS, _SLOT_KEY)
_PUT_SLOTS = insert_rows(
    "slots",
    SLOT_COLUMNS,
    ["bigint" if name.endswith(("_at", "_arr", "_seq")) else "text" for name in SLOT_COLUMNS],
    _replacing(SLOT_COLUMNS, _SLOT_KEY),
)
_ROW_COLUMNS = (
    *("id", "deployment_id", "service", "environment", "status", "happened_at", "actor"),
    *("doc", "namespace"),
)
_ADD_ROWS = insert_rows(
    "deployments",
    _ROW_COLUMNS,
    ["bigint" if name == "happened_at" else "text" for name in _ROW_COLUMNS],
    "RETURNING id, arrival",
    ordered=True,  # arrival numbers in the rows' order
)
_ADD_EVENTS = insert_rows(
    "events",
    ("seq", "service", "data", "row_id"),
    ("bigint", "text", "text", "text"),
    given={"type": "%s::text", "recorded_at": "%s::bigint"},
)
_SLOT_OF = ", ".join(f"s.{name}" for name in SLOT_COLUMNS)
_PROMOTION_COLUMNS = field_names(PromotionRecord)
_APPROVAL_COLUMNS = field_names(ApprovalRecord)
_ENVIRONMENT_COLUMNS = field_names(EnvironmentRecord)
_PUT_PROMOTION = _upsert("promotions", _PROMOTION_COLUMNS, ("id",))
_ADD_APPROVAL = _insert("approvals", _APPROVAL_COLUMNS)
_PUT_ENVIRONMENT = _upsert("environment_state", _ENVIRONMENT_COLUMNS, ("environment",))
_ADD_EXECUTION = _insert("executions", EXECUTION_COLUMNS)
_promotion_values = attrgetter(*_PROMOTION_COLUMNS)
_approval_values = attrgetter(*_APPROVAL_COLUMNS)
_environment_values = attrgetter(*_ENVIRONMENT_COLUMNS)
_audit_values = attrgetter(*AUDIT_COLUMNS)


_PROBES_ONLY = "SET LOCAL enable_seqscan = off"
"""Sent first in an append. Its reads are prepared statements, and a plan kept from when a
table was small scans it whole until its next `ANALYZE`, while the table grows with every
append. Each read is a key probe at any size: the planner is told to use the index always.
(Planned anew each time instead, the three reads cost ~0.45 ms of planning per batch under
the write lock.)"""


def rollup_tx(txn: Transaction) -> RollupTx:
    """A write transaction as the analytics rollups use it (a pipelined one is already
    in pipeline mode: a nested pipeline would only add round trips)."""

    def rows(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return txn.execute(sql, args).fetchall()

    def many(sql: str, args: Sequence[Sequence[Any]]) -> None:
        if not args:
            return
        table = TABLE_ROWS.get(sql)
        if table is None:
            txn.conn.cursor().executemany(pg_sql(sql), args)
        else:  # one statement, whatever the number of rows
            txn.execute(_insert_table_rows(table), arrays_of(args, len(table.columns)))

    def later(sql: str, args: Sequence[Any]) -> Later:
        # Prepared, planned for index probes (`_PROBES_ONLY`).
        return txn.execute(sql, args).fetchall

    return RollupTx(
        rows,
        many,
        nullcontext if txn.pipelined else txn.conn.pipeline,
        later,
        facts_read=_facts_read,
        incidents_read=_incidents_read,
    )


# The append's two reads of the rollups' stored facts (in its first round trip, under the
# write lock), worded for PostgreSQL: one plan however many values, and a primary-key probe
# per value. The shared statements bind an `IN` list, or a `UNION ALL` branch, per value:
# planned anew at each append (`later`), the branches took 0.2–0.7 ms to plan, and for the
# `IN` list the planner scanned `analytics_deployments` whole (0.6 ms at 7,000 rows, more
# as it grows) rather than make thirty probes (0.1 ms). `LIMIT 1` (a primary key) and
# `OFFSET 0` keep each lateral subquery a probe per value, not a join over the table.
_FACTS = (
    "SELECT 0, d.deployment_id, d.service, d.namespace, d.environment, d.first_at,"
    " d.first_arr, d.actor, d.end_at, d.success_at FROM unnest(%b::text[]) AS w(id)"
    " CROSS JOIN LATERAL (SELECT * FROM analytics_deployments"
    " WHERE deployment_id = w.id LIMIT 1) AS d"
    " UNION ALL SELECT 1, e.parent_id, e.service, e.namespace, e.environment, e.at,"
    " e.child_arr, NULL, e.first_at, NULL FROM unnest(%b::text[]) AS w(id)"
    " CROSS JOIN LATERAL (SELECT * FROM analytics_lead_edges"
    " WHERE parent_id = w.id OFFSET 0) AS e"
)
_LATEST_INCIDENTS = (
    "SELECT s.service, s.environment, i.failed_at, i.failed_arr, i.namespace, i.restored_at,"
    " i.restored_arr FROM unnest(%b::text[], %b::text[]) AS s(service, environment)"
    " CROSS JOIN LATERAL (SELECT a.failed_at, a.failed_arr, a.namespace, a.restored_at,"
    " a.restored_arr FROM analytics_incidents a"
    " WHERE a.service = s.service AND a.environment = s.environment"
    " ORDER BY a.failed_at DESC, a.failed_arr DESC LIMIT 1) AS i"
)


_SLOTS_OF = (
    f"SELECT {_SLOT_OF} FROM unnest(%b::text[], %b::text[]) AS k(service, environment)"
    " CROSS JOIN LATERAL (SELECT * FROM slots"
    " WHERE service = k.service AND environment = k.environment LIMIT 1) AS s"
)
"""The slots an append's rows touch: a primary-key probe each (an `IN` list may be planned
as a join over a whole index, which a kept plan would go on doing as the table grows)."""


def _facts_read(deployments: Sequence[str]) -> tuple[str, Sequence[Any]]:
    return _FACTS, (list(deployments), list(deployments))


def _incidents_read(slots: Sequence[tuple[str, str]]) -> tuple[str, Sequence[Any]]:
    return _LATEST_INCIDENTS, ([slot[0] for slot in slots], [slot[1] for slot in slots])


@functools.cache
def _insert_table_rows(table: TableRows) -> str:
    return insert_rows(table.table, table.names, table.types, table.tail)


def append_row(txn: Transaction, row: NewDeploymentRow, now: int) -> StoredEvent:
    """Insert a row, log its event and fold it into its slot: two round trips, and the
    analytics rollups' (`rollup_fold`: a read and one pipelined batch of writes)."""
    txn.execute(_PROBES_ONLY)
    found = txn.execute(
        "WITH row AS (INSERT INTO deployments (id, deployment_id, service, environment,"
        " status, happened_at, actor, doc, namespace)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING arrival) SELECT row.arrival, {_SLOT_OF} FROM row"
        " LEFT JOIN slots s ON s.service = %s AND s.environment = %s",
        (
            row.id,
            row.deployment_id,
            row.service,
            row.environment,
            row.status.value,
            row.happened_at,
            row.actor,
            row.doc,
            row.namespace,
            row.service,
            row.environment,
        ),
    ).fetchone()
    assert found is not None
    arrival, *slot = found
    seq = txn.next_seq()
    state: SlotState[str] = SlotState() if slot[0] is None else slot_from_row(tuple(slot)).state
    terminals = {(row.service, row.environment): state.last_terminal}
    fold_appended(rollup_tx(txn), [row], [int(arrival)], terminals)
    state = fold_slot(state, SlotEntry(row.happened_at, int(arrival), row.status, row.doc))
    txn.execute(
        "WITH event AS (INSERT INTO events (seq, type, service, data, recorded_at, row_id)"
        " VALUES (%s, %s, %s, %s, %s, %s)) " + _PUT_SLOT,
        (
            seq,
            "deployment",
            row.service,
            row.doc,
            now,
            row.id,
            *slot_values(row.service, row.environment, state, seq),
        ),
    )
    return StoredEvent(seq, "deployment", row.service, row.doc)


def append_rows(txn: Transaction, rows: Sequence[NewDeploymentRow], now: int) -> list[StoredEvent]:
    """Insert many rows, their events and their slots, and fold them into the rollups.

    Everything this reads is sent before the first answer is awaited — the slots the rows
    touch, the rollups' stored facts (`AppendFold`), then the rows themselves, whose
    arrival numbers come back — so in a pipelined transaction (`Connections._pipelined`)
    the reads are one round trip and the writes travel with the `COMMIT`; only a row
    arriving out of order or closing an incident makes the rollups ask more. The slots,
    the rollups' facts and the audit chain are not written by the insert: reading them
    before it reads what it would read after.

    Each table is written by one statement (`setwise`), however many rows. The reads are
    prepared statements planned for index probes (`_PROBES_ONLY`)."""
    if not rows:
        return []
    keys = sorted({(r.service, r.environment) for r in rows})
    txn.execute(_PROBES_ONLY)
    slots = txn.execute(_SLOTS_OF, ([k[0] for k in keys], [k[1] for k in keys]))
    fold = AppendFold(rollup_tx(txn), rows)
    inserted = txn.execute(
        _ADD_ROWS,
        arrays_of(
            [
                (
                    r.id,
                    r.deployment_id,
                    r.service,
                    r.environment,
                    r.status.value,
                    r.happened_at,
                    r.actor,
                    r.doc,
                    r.namespace,
                )
                for r in rows
            ],
            len(_ROW_COLUMNS),
        ),
    )
    numbered = dict(inserted.fetchall())  # the wait for the server: the reads above too
    arrivals = [int(numbered[r.id]) for r in rows]
    states: dict[tuple[str, str], SlotState[str]] = {key: SlotState() for key in keys}
    for slot in slots.fetchall():
        record = slot_from_row(slot)
        states[(record.service, record.environment)] = record.state
    fold.run(arrivals, {key: state.last_terminal for key, state in states.items()})
    stored: list[StoredEvent] = []
    last_seq: dict[tuple[str, str], int] = {}
    for row, arrival in zip(rows, arrivals, strict=True):
        key = (row.service, row.environment)
        states[key] = fold_slot(
            states[key], SlotEntry(row.happened_at, arrival, row.status, row.doc)
        )
        seq = txn.next_seq()
        last_seq[key] = seq
        stored.append(StoredEvent(seq, "deployment", row.service, row.doc))
    txn.execute(
        _ADD_EVENTS,
        (
            "deployment",
            now,
            [e.seq for e in stored],
            [r.service for r in rows],
            [r.doc for r in rows],
            [r.id for r in rows],
        ),
    )
    txn.execute(
        _PUT_SLOTS,
        arrays_of(
            [slot_values(k[0], k[1], states[k], last_seq[k]) for k in keys], len(SLOT_COLUMNS)
        ),
    )
    return stored


def append_event(txn: Transaction, event: NewEvent, now: int) -> StoredEvent:
    """Log an event that is not a deployment row."""
    seq = txn.next_seq()
    txn.execute(
        "INSERT INTO events (seq, type, service, data, recorded_at) VALUES (%s, %s, %s, %s, %s)",
        (seq, event.type, event.service, event.data, now),
    )
    return StoredEvent(seq, event.type, event.service, event.data)


def append_audit(txn: Transaction, entry: AuditEntry) -> None:
    """Chain an entry onto the newest one (inserted with the others at the end)."""
    if txn.audit_hash is None:
        txn.audit_hash = txn.last_audit_hash() or GENESIS_HASH
    prev = txn.audit_hash
    txn.audit_hash = chain_hash(prev, entry)
    txn.audit.append((*_audit_values(entry), prev, txn.audit_hash))


def write_governance(txn: Transaction, writes: Writes) -> None:
    """Apply the executions, promotions, approvals and environments of `writes`."""
    cur = txn.conn.cursor()
    if writes.executions:
        cur.executemany(_ADD_EXECUTION, [execution_values(e) for e in writes.executions])
    if writes.states:
        cur.executemany(
            "UPDATE executions SET state = %s WHERE deployment_id = %s",
            [(state, deployment_id) for deployment_id, state in writes.states],
        )
    if writes.leases:
        cur.executemany(
            "UPDATE executions SET owner = %s, lease_until = %s WHERE deployment_id = %s",
            [(owner, until, deployment_id) for deployment_id, owner, until in writes.leases],
        )
    if writes.promotions:
        cur.executemany(_PUT_PROMOTION, [_promotion_values(p) for p in writes.promotions])
    if writes.approvals:
        cur.executemany(_ADD_APPROVAL, [_approval_values(a) for a in writes.approvals])
    if writes.environments:
        cur.executemany(_PUT_ENVIRONMENT, [_environment_values(e) for e in writes.environments])
