"""The deployment log, the slot table, the event log, fetcher state and API keys.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _entry(prefix: str, *, status: bool = True, doc: bool = True) -> list[sa.Column[Any]]:
    cols: list[sa.Column[Any]] = [
        sa.Column(f"{prefix}_at", sa.BigInteger),
        sa.Column(f"{prefix}_arr", sa.BigInteger),
    ]
    if status:
        cols.append(sa.Column(f"{prefix}_status", sa.Text))
    if doc:
        cols.append(sa.Column(f"{prefix}_doc", sa.Text))
    return cols


def upgrade() -> None:
    op.create_table(
        "deployments",
        # Arrival order; breaks happened_at ties.
        sa.Column("arrival", sa.Integer, primary_key=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("deployment_id", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("happened_at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text),
        # The row exactly as the API returns it.
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_deployments_order", "deployments", ["happened_at", "id"])
    for column in ("service", "environment", "deployment_id", "status"):
        op.create_index(f"ix_deployments_{column}", "deployments", [column, "happened_at", "id"])
    op.create_table(
        "slots",
        sa.Column("service", sa.Text, primary_key=True),
        sa.Column("environment", sa.Text, primary_key=True),
        *_entry("cur"),
        *_entry("suc", status=False),
        *_entry("term", doc=False),
        *_entry("oth"),
        sa.Column("changed_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("service", sa.Text),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        # Never reuse a sequence number, even after retention empties the table.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_recorded_at", "events", ["recorded_at"])
    op.create_table(
        "fetcher_state",
        sa.Column("adapter", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "principals",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("principal", sa.Text, sa.ForeignKey("principals.name"), nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
    )


def downgrade() -> None:
    for table in ("api_keys", "principals", "fetcher_state", "events", "slots", "deployments"):
        op.drop_table(table)
