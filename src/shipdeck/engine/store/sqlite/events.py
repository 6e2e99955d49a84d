"""The global event log, and the fetchers' cursors."""

from __future__ import annotations

import sqlite3

from ..records import NewEvent, StoredEvent
from .connection import Connections


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


class Events(Connections):
    """The event log and the fetcher cursors."""

    def last_seq(self) -> int:
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    def first_seq(self) -> int:
        conn = self._conn
        conn.execute("BEGIN")  # one snapshot for both reads
        try:
            row = conn.execute("SELECT MIN(seq) FROM events").fetchone()
            first = self.last_seq() + 1 if row[0] is None else int(row[0])
        finally:
            conn.execute("COMMIT")
        return first

    def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        rows = self._conn.execute(
            "SELECT seq, type, service, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [
            StoredEvent(int(event_seq), str(type_), service, str(data))
            for event_seq, type_, service, data in rows
        ]

    def prune_events(self, older_than: int) -> int:
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM events WHERE recorded_at < ?", (older_than,))
        return int(cursor.rowcount)

    def event_seq_of_row(self, row_id: str) -> int | None:
        row = self._conn.execute("SELECT seq FROM events WHERE row_id = ?", (row_id,)).fetchone()
        return None if row is None else int(row[0])

    # -- fetcher state ---------------------------------------------------------------

    def get_fetcher_state(self, adapter: str) -> tuple[str, int] | None:
        row = self._conn.execute(
            "SELECT cursor, updated_at FROM fetcher_state WHERE adapter = ?", (adapter,)
        ).fetchone()
        if row is None:
            return None
        cursor, updated_at = row
        return str(cursor), int(updated_at)

    def put_fetcher_state(self, adapter: str, cursor: str, updated_at: int) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO fetcher_state (adapter, cursor, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (adapter) DO UPDATE SET cursor = excluded.cursor,"
                " updated_at = excluded.updated_at",
                (adapter, cursor, updated_at),
            )
