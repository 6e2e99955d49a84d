"""Appending a deployment row: the row, its event, and the slot it folds into."""

from __future__ import annotations

import sqlite3

from ....domain import SlotEntry, SlotState, fold_slot
from ..codec import SLOT_COLUMNS, columns, placeholders, slot_from_row, slot_values
from ..queries import SELECT_SLOTS
from ..records import NewDeploymentRow, StoredEvent

_PUT_SLOT = (
    f"INSERT OR REPLACE INTO slots ({columns(SLOT_COLUMNS)}) VALUES ({placeholders(SLOT_COLUMNS)})"
)


def append_row(conn: sqlite3.Connection, row: NewDeploymentRow, now: int) -> StoredEvent:
    """Insert a row, log its event and fold it into its slot (inside a write)."""
    cursor = conn.execute(
        "INSERT INTO deployments (id, deployment_id, service, environment, status,"
        " happened_at, actor, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row.id,
            row.deployment_id,
            row.service,
            row.environment,
            row.status.value,
            row.happened_at,
            row.actor,
            row.doc,
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
    state = fold_slot(state, SlotEntry(row.happened_at, arrival, row.status, row.doc))
    conn.execute(_PUT_SLOT, slot_values(row.service, row.environment, state, seq))
    return StoredEvent(seq, "deployment", row.service, row.doc)
