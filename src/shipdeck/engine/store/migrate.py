"""Schema migrations, run with Alembic.

Alembic and SQLAlchemy are imported only when the database is not at the newest revision,
so opening an up-to-date store stays fast (the TUI's start-up depends on it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

HEAD_REVISION = "0005"
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
