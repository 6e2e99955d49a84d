"""Deployments the executor runs, and answers kept for `Idempotency-Key`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executions",
        # The logical deployment key of the rows the executor appends for this run.
        sa.Column("deployment_id", sa.Text, primary_key=True),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        # deploy | promote | rollback | retry
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=True),
        # JSON list of the deployments it came from.
        sa.Column("parents", sa.Text, nullable=False),
        # queued -> running -> done; `running` rows at start were interrupted by a crash.
        sa.Column("state", sa.Text, nullable=False),
        # Microseconds since the epoch; queued runs of a slot start oldest first.
        sa.Column("requested_at", sa.BigInteger, nullable=False),
    )
    op.create_index("executions_slot_state", "executions", ["service", "environment", "state"])
    op.create_index("executions_state", "executions", ["state"])
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        # SHA-256 of the request (action, target, body): another request with the key is refused.
        sa.Column("fingerprint", sa.Text, nullable=False),
        # The answer's JSON, sent again for a repeated request.
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("executions_state", "executions")
    op.drop_index("executions_slot_state", "executions")
    op.drop_table("executions")
