"""Schema migrations, run with Alembic.

Alembic and SQLAlchemy are imported only when the database is not at the newest revision,
so opening an up-to-date store stays fast (the TUI's start-up depends on it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

HEAD_REVISION = "0012"
"""The newest migration; a test keeps it equal to Alembic's head."""

SCRIPT_LOCATION = str(Path(__file__).with_name("migrations"))


def current_revision(conn: sqlite3.Connection) -> str | None:
    """The revision a SQLite database is at, or `None` before the first migration."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def alembic_head() -> str:
    """Alembic's own idea of the head revision (slow: loads the migration scripts)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def upgrade(url: str) -> None:
    """Bring the database at `url` (a SQLAlchemy URL) to the newest revision."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", SCRIPT_LOCATION)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def postgres_revision(conn: Any) -> str | None:
    """The revision a PostgreSQL database is at (a psycopg connection), or `None`."""
    row = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
    if row is None or row[0] is None:
        return None
    found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if found is None else str(found[0])


def check_revision(current: str | None, where: str) -> None:
    """Refuse a database migrated by a newer shipdeck (this one cannot read it).

    Raises:
        StoreError: `current` is newer than `HEAD_REVISION`.
    """
    from .records import StoreError

    if current is not None and (not current.isdigit() or current > HEAD_REVISION):
        raise StoreError(
            f"{where} is at schema revision {current}, newer than this shipdeck knows "
            f"({HEAD_REVISION}): upgrade shipdeck, or point it at another database"
        )
