"""Appending a deployment row: the row, its event, and the slot it folds into."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ....domain import SlotEntry, SlotState, Status, fold_slot
from ..codec import SLOT_COLUMNS, columns, placeholders, slot_from_row, slot_values
from ..queries import SELECT_SLOTS
from ..records import NewDeploymentRow, StoredEvent
from ..rollup import RollupTx
from ..rollup_fold import fold_appended

_PUT_SLOT = (
    f"INSERT OR REPLACE INTO slots ({columns(SLOT_COLUMNS)}) VALUES ({placeholders(SLOT_COLUMNS)})"
)


def rollup_tx(conn: sqlite3.Connection) -> RollupTx:
    """A write transaction as the analytics rollups use it."""

    def many(sql: str, args: Sequence[Sequence[Any]]) -> None:
        conn.executemany(sql, args)

    return RollupTx(lambda sql, args: conn.execute(sql, args).fetchall(), many)


def append_row(conn: sqlite3.Connection, row: NewDeploymentRow, now: int) -> StoredEvent:
    """Insert a row, log its event and fold it into its slot (inside a write)."""
    cursor = conn.execute(
        "INSERT INTO deployments (id, deployment_id, service, environment, status,"
        " happened_at, actor, doc, namespace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )
    arrival = int(cursor.lastrowid or 0)
    seq = int(
        conn.execute(
            "INSERT INTO events (type, service, data, recorded_at, row_id) VALUES (?, ?, ?, ?, ?)",
            ("deployment", row.service, row.doc, now, row.id),
        ).lastrowid
        or 0
    )
    found = conn.execute(
        SELECT_SLOTS + " WHERE service = ? AND environment = ?",
        (row.service, row.environment),
    ).fetchone()
    state: SlotState[str] = SlotState() if found is None else slot_from_row(found).state
    slot = (row.service, row.environment)
    fold_appended(rollup_tx(conn), [row], [arrival], {slot: state.last_terminal})
    state = fold_slot(state, SlotEntry(row.happened_at, arrival, row.status, row.doc))
    conn.execute(_PUT_SLOT, slot_values(row.service, row.environment, state, seq))
    return StoredEvent(seq, "deployment", row.service, row.doc)


def append_rows(conn: sqlite3.Connection, rows: Sequence[NewDeploymentRow], now: int) -> int:
    """`append_row` of many rows (inside a write), in a few statements; returns the last
    event's number (0 without rows). Arrivals and event numbers are those SQLite gives one
    by one (one more than the largest so far: no other writer can insert meanwhile); each
    slot touched is read once, folded and written once."""
    if not rows:
        return 0
    (last_arrival,) = conn.execute("SELECT COALESCE(MAX(arrival), 0) FROM deployments").fetchone()
    found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    first_seq = (0 if found is None else int(found[0])) + 1
    first_arrival = int(last_arrival) + 1
    inserts = []
    events = []
    changed: dict[tuple[str, str], int] = {}
    # `fold_slot` keeps per kind of status the latest row, whatever the order rows come
    # in: of a slot's rows with one status only the latest can change it.
    latest: dict[tuple[str, str, Status], tuple[int, int, NewDeploymentRow]] = {}
    for offset, r in enumerate(rows):
        arrival, seq = first_arrival + offset, first_seq + offset
        service, environment, status, at = r.service, r.environment, r.status, r.happened_at
        values = (arrival, r.id, r.deployment_id, service, environment, status.value, at, r.actor)
        inserts.append((*values, r.doc, r.namespace))
        events.append((seq, "deployment", service, r.doc, now, r.id))
        changed[(service, environment)] = seq
        kind = (service, environment, status)
        held = latest.get(kind)
        if held is None or (at, arrival) > held[:2]:
            latest[kind] = (at, arrival, r)
    conn.executemany(
        "INSERT INTO deployments (arrival, id, deployment_id, service, environment, status,"
        " happened_at, actor, doc, namespace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        inserts,
    )
    conn.executemany(
        "INSERT INTO events (seq, type, service, data, recorded_at, row_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        events,
    )
    select = SELECT_SLOTS + " WHERE service = ? AND environment = ?"
    states: dict[tuple[str, str], SlotState[str]] = {}
    for key in changed:
        slot = conn.execute(select, key).fetchone()
        states[key] = SlotState() if slot is None else slot_from_row(slot).state
    arrivals = range(first_arrival, first_arrival + len(rows))
    terminals = {key: state.last_terminal for key, state in states.items()}
    fold_appended(rollup_tx(conn), rows, arrivals, terminals)
    for at, arrival, r in latest.values():
        key = (r.service, r.environment)
        states[key] = fold_slot(states[key], SlotEntry(at, arrival, r.status, r.doc))
    conn.executemany(
        _PUT_SLOT, [slot_values(key[0], key[1], states[key], seq) for key, seq in changed.items()]
    )
    return first_seq + len(rows) - 1
