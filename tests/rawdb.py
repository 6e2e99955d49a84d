"""Straight SQL on a test database of either backend, behind the store's back (to inspect
or to tamper with what it wrote)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg


class RawDB:
    """A plain connection to `db_url`; `?` placeholders on both backends, autocommit."""

    def __init__(self, db_url: str) -> None:
        self.postgres = db_url.startswith(("postgresql://", "postgres://"))
        self._conn: Any
        if self.postgres:
            self._conn = psycopg.connect(db_url, autocommit=True)
        else:
            self._conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return list(self._conn.execute(sql, args).fetchall())

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._conn.execute(sql.replace("?", "%s") if self.postgres else sql, args)

    def head(self) -> int:
        """The last event number ever handed out."""
        if self.postgres:
            return int(self.rows("SELECT seq FROM event_head")[0][0])
        found = self.rows("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        return int(found[0][0]) if found else 0

    def integrity_ok(self) -> bool:
        """SQLite's own check of the file (PostgreSQL checks its pages itself)."""
        if self.postgres:
            return True
        return bool(self.rows("PRAGMA integrity_check")[0][0] == "ok")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RawDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
