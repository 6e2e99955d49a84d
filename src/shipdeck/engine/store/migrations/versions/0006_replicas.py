"""Several replicas: executions carry their owner and lease; PostgreSQL numbers events itself.

Revision ID: 0006
Revises: 0005

On SQLite one writer at a time is the file's own rule and `AUTOINCREMENT` numbers events
gap-free in commit order. On PostgreSQL a sequence is neither gap-free (a rolled-back
transaction burns its number) nor commit-ordered (a later number may commit first), so the
event log gets a one-row `event_head`: every write transaction locks it first, takes the
next numbers from it and releases it at commit. Numbers then follow commit order without a
gap, and a reader that has seen `n` has seen everything before it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        # The replica running it, and until when (µs) it holds it: past that, another
        # replica ends the run as lost.
        batch.add_column(sa.Column("owner", sa.Text, nullable=True))
        batch.add_column(sa.Column("lease_until", sa.BigInteger, nullable=True))
    if op.get_context().dialect.name == "postgresql":
        op.create_table(
            "event_head",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
        )
        op.execute("INSERT INTO event_head (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_table("event_head")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
