"""Appending to the global event log."""

from __future__ import annotations

import sqlite3

from ..records import NewEvent, StoredEvent


def append_event(conn: sqlite3.Connection, event: NewEvent, now: int) -> StoredEvent:
    """Log an event that is not a deployment row (inside a write)."""
    seq = int(
        conn.execute(
            "INSERT INTO events (type, service, data, recorded_at) VALUES (?, ?, ?, ?)",
            (event.type, event.service, event.data, now),
        ).lastrowid
        or 0
    )
    return StoredEvent(seq, event.type, event.service, event.data)
