"""The audit log: one hash-chained entry a decision on a mutating request."""

from __future__ import annotations

import sqlite3
from operator import attrgetter

from ..codec import GENESIS_HASH, chain_hash, columns, field_names
from ..records import AuditEntry

_ENTRY_COLUMNS = field_names(AuditEntry)
_entry_values = attrgetter(*_ENTRY_COLUMNS)
_APPEND = (
    f"INSERT INTO audit ({columns(_ENTRY_COLUMNS)}, prev_hash, hash)"
    f" VALUES ({', '.join('?' * (len(_ENTRY_COLUMNS) + 2))})"
)
_SELECT = f"SELECT seq, {columns(_ENTRY_COLUMNS)}, prev_hash, hash FROM audit"


def append_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    """Chain an entry onto the newest one (inside a write)."""
    last = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    prev = GENESIS_HASH if last is None else str(last[0])
    conn.execute(_APPEND, (*_entry_values(entry), prev, chain_hash(prev, entry)))
