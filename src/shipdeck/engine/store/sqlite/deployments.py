"""Deployment rows and the slots they fold into."""

from __future__ import annotations

import sqlite3
import time

from ....domain import SlotEntry, SlotState, fold_slot, to_micros
from ..codec import SLOT_COLUMNS, columns, placeholders, slot_from_row, slot_values, where
from ..records import AuditEntry, DeploymentQuery, NewDeploymentRow, SlotRecord, StoredEvent
from .audit import append_audit
from .connection import Connections

_SELECT_SLOTS = f"SELECT {columns(SLOT_COLUMNS)} FROM slots"
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
        _SELECT_SLOTS + " WHERE service = ? AND environment = ?",
        (row.service, row.environment),
    ).fetchone()
    state: SlotState[str] = SlotState() if found is None else slot_from_row(found).state
    state = fold_slot(state, SlotEntry(row.happened_at, arrival, row.status, row.doc))
    conn.execute(_PUT_SLOT, slot_values(row.service, row.environment, state, seq))
    return StoredEvent(seq, "deployment", row.service, row.doc)


class Deployments(Connections):
    """Deployment rows and slots."""

    def append_deployment(
        self, row: NewDeploymentRow, audit: AuditEntry | None = None
    ) -> StoredEvent:
        with self._write() as conn:
            stored = append_row(conn, row, time.time_ns() // 1000)
            if audit is not None:
                append_audit(conn, audit)
            return stored

    def list_deployments(self, query: DeploymentQuery) -> list[tuple[int, str, str]]:
        filters = query.filters
        text = None
        if filters.text:
            escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            text = f"%{escaped}%"
        sql, args = where(
            ("service = ?", filters.service),
            ("environment = ?", filters.environment),
            ("deployment_id = ?", filters.deployment_id),
            ("actor = ?", filters.actor),
            ("doc LIKE ? ESCAPE '\\'", text),
            ("status = ?", None if filters.status is None else filters.status.value),
            ("happened_at >= ?", None if filters.since is None else to_micros(filters.since)),
            ("happened_at < ?", None if filters.until is None else to_micros(filters.until)),
            # A row value, not `a < ? OR (a = ? AND b < ?)`: SQLite seeks the index to the
            # position instead of scanning from the top (0.1 ms at any depth, not 128 ms).
            ("(happened_at, id) < (?, ?)", query.before),
        )
        sql = "SELECT happened_at, id, doc FROM deployments" + sql
        sql += " ORDER BY happened_at DESC, id DESC LIMIT ?"
        args.append(query.limit)
        return [
            (int(happened_at), str(row_id), str(doc))
            for happened_at, row_id, doc in self._conn.execute(sql, args)
        ]

    def get_deployment(self, row_id: str) -> str | None:
        row = self._conn.execute("SELECT doc FROM deployments WHERE id = ?", (row_id,)).fetchone()
        return None if row is None else str(row[0])

    def slots(
        self, service: str | None = None, *, changed_after: int | None = None
    ) -> list[SlotRecord]:
        sql, args = where(("service = ?", service), ("changed_seq > ?", changed_after))
        sql = _SELECT_SLOTS + sql + " ORDER BY service, environment"
        return [slot_from_row(row) for row in self._conn.execute(sql, args)]

    def services(self) -> list[str]:
        return [str(s) for (s,) in self._conn.execute("SELECT DISTINCT service FROM slots")]

    def environments(self) -> list[str]:
        return [str(e) for (e,) in self._conn.execute("SELECT DISTINCT environment FROM slots")]
