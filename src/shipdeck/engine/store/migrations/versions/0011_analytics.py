"""Analytics rollups, kept on append, made here from the rows already stored.

Revision ID: 0011
Revises: 0010

The tables are described in `shipdeck/engine/store/rollup.py`. Every analytics read sums a
few thousand rollup rows, never the log; the append path keeps them in the same
transaction as the rows. This revision creates them and fills them from the existing log
(`rollup_rebuild`: one pass in arrival order, about 50 s per million rows on SQLite).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shipdeck.engine.store.rollup import RollupTx
from shipdeck.engine.store.rollup_rebuild import rebuild_rollups

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _tx(connection: sa.Connection) -> RollupTx:
    """The migration's connection as the rollups write through it (`?` placeholders)."""
    postgres = connection.dialect.name == "postgresql"

    def sql_of(sql: str) -> str:
        return sql.replace("?", "%s") if postgres else sql

    def rows(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        result = connection.exec_driver_sql(sql_of(sql), tuple(args))
        return [tuple(row) for row in result.fetchall()] if result.returns_rows else []

    def many(sql: str, args: Sequence[Sequence[Any]]) -> None:
        if args:
            connection.exec_driver_sql(sql_of(sql), [tuple(values) for values in args])

    return RollupTx(rows, many)


def _text(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Text, nullable=False)


def _count(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, nullable=False)


def _count_tables() -> None:
    """The counts, per service and per environment, and the scopes seen."""
    op.create_table(
        "analytics_counts",
        *(_text(n) for n in ("service", "kind")),
        _count("bucket"),
        *(_text(n) for n in ("namespace", "environment", "key")),
        *(_count(n) for n in ("n", "total")),
        sa.PrimaryKeyConstraint("service", "kind", "bucket", "namespace", "environment", "key"),
        sqlite_with_rowid=False,  # the key is the table: one B-tree to write, not two
    )
    op.create_index(
        "ix_analytics_counts_namespace", "analytics_counts", ["namespace", "kind", "bucket"]
    )
    op.create_table(
        "analytics_env_counts",
        _text("kind"),
        _count("bucket"),
        *(_text(n) for n in ("environment", "key")),
        *(_count(n) for n in ("n", "total")),
        # Key before environment: unfiltered reads group by bucket and key in index order.
        sa.PrimaryKeyConstraint("kind", "bucket", "key", "environment"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_scopes",
        *(_text(n) for n in ("service", "namespace", "environment")),
        sa.PrimaryKeyConstraint("service", "namespace", "environment"),
        sqlite_with_rowid=False,
    )


def _fact_tables() -> None:
    """Per logical deployment, per incident, per lead edge."""
    op.create_table(
        "analytics_deployments",
        sa.Column("deployment_id", sa.Text, primary_key=True),
        *(_text(n) for n in ("service", "namespace", "environment")),
        *(_count(n) for n in ("first_at", "first_arr")),
        sa.Column("actor", sa.Text, nullable=True),
        *(sa.Column(n, sa.BigInteger, nullable=True) for n in ("end_at", "success_at")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_incidents",
        *(_text(n) for n in ("service", "environment")),
        *(_count(n) for n in ("failed_at", "failed_arr")),
        _text("namespace"),
        *(sa.Column(n, sa.BigInteger, nullable=True) for n in ("restored_at", "restored_arr")),
        # restored_at − failed_at once restored: the worst incidents are an index's first.
        sa.Column("lasted", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("service", "environment", "failed_at", "failed_arr"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_analytics_incidents_restored", "analytics_incidents", ["restored_at"])
    op.create_index("ix_analytics_incidents_lasted", "analytics_incidents", ["lasted"])
    op.create_table(
        "analytics_lead_edges",
        _text("parent_id"),
        _count("child_arr"),
        *(_text(n) for n in ("service", "namespace", "environment")),
        _count("at"),
        sa.Column("first_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("parent_id", "child_arr"),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _count_tables()
    _fact_tables()
    rebuild_rollups(_tx(op.get_bind()))


def downgrade() -> None:
    for table in (
        "analytics_lead_edges",
        "analytics_incidents",
        "analytics_deployments",
        "analytics_scopes",
        "analytics_env_counts",
        "analytics_counts",
    ):
        op.drop_table(table)
