"""The analytics rollups as stored, and as a rebuild from the log would make them.

Every test that changes the log can ask whether the rollups the append path kept equal the
ones `rebuild_rollups` makes from the rows alone: the two implementations of one definition
must agree, whatever order the rows came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipdeck.engine.store.rollup import ANALYTICS_TABLES, RollupTx
from shipdeck.engine.store.rollup_rebuild import rebuild_rollups

from ..rawdb import RawDB

_COUNTS = ("analytics_counts", "analytics_env_counts")


def rollup_tables(db: RawDB) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup table's rows, sorted; counts that cancelled out to zero are left out
    (the append path keeps them, a rebuild never writes them)."""
    found = {}
    for table in ANALYTICS_TABLES:
        where = " WHERE n <> 0 OR total <> 0" if table in _COUNTS else ""
        rows = db.rows(f"SELECT * FROM {table}{where}")
        found[table] = sorted(tuple(row) for row in rows)
    return found


def _tx(db: RawDB) -> RollupTx:
    def rows(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if sql.lstrip().upper().startswith("SELECT"):
            return db.rows(sql, args)
        db.execute(sql, args)
        return []

    def many(sql: str, args: Sequence[Sequence[Any]]) -> None:
        for values in args:
            db.execute(sql, values)

    return RollupTx(rows, many)


def kept_and_rebuilt(db_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rollups as kept on append, and as a rebuild makes them (rolled back after)."""
    with RawDB(db_url) as db:
        kept = rollup_tables(db)
        db.execute("BEGIN")
        try:
            rebuild_rollups(_tx(db))
            rebuilt = rollup_tables(db)
        finally:
            db.execute("ROLLBACK")
    return kept, rebuilt


def assert_rollups_follow_the_log(db_url: str) -> None:
    """The rollups kept on append are exactly what a rebuild from the log makes."""
    kept, rebuilt = kept_and_rebuilt(db_url)
    for table in ANALYTICS_TABLES:
        assert kept[table] == rebuilt[table], table
