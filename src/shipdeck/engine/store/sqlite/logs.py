"""Deployment logs: lines numbered per logical deployment."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..records import NewLogLine, StoredLogLine
from .connection import Connections


def _last_log_seq(conn: sqlite3.Connection, deployment_id: str) -> int:
    row = conn.execute(
        "SELECT MAX(seq) FROM deployment_logs WHERE deployment_id = ?", (deployment_id,)
    ).fetchone()
    return 0 if row[0] is None else int(row[0])


class Logs(Connections):
    """Deployment logs."""

    def append_logs(self, deployment_id: str, lines: Sequence[NewLogLine]) -> list[StoredLogLine]:
        with self._write() as conn:
            # Inside BEGIN IMMEDIATE no other writer (thread or process) can number lines
            # between this read and the inserts: numbers stay unique and gap-free.
            last = _last_log_seq(conn, deployment_id)
            stored = [
                StoredLogLine(last + offset, line.at, line.level, line.stream, line.message)
                for offset, line in enumerate(lines, start=1)
            ]
            conn.executemany(
                "INSERT INTO deployment_logs (deployment_id, seq, at, level, stream, message)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (deployment_id, line.seq, line.at, line.level, line.stream, line.message)
                    for line in stored
                ],
            )
        return stored

    def logs(self, deployment_id: str, after_seq: int, limit: int) -> list[StoredLogLine]:
        rows = self._conn.execute(
            "SELECT seq, at, level, stream, message FROM deployment_logs"
            " WHERE deployment_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (deployment_id, after_seq, limit),
        )
        return [
            StoredLogLine(int(seq), int(at), str(level), str(stream), str(message))
            for seq, at, level, stream, message in rows
        ]

    def last_log_seq(self, deployment_id: str) -> int:
        return _last_log_seq(self._conn, deployment_id)
