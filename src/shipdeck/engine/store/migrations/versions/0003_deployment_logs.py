"""Log lines of logical deployments, numbered per deployment.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_logs",
        # The logical deployment key (`deployment_id` of its rows), not a row id.
        sa.Column("deployment_id", sa.Text, primary_key=True),
        # Gap-free per deployment, from 1; `?after=` and the WebSocket resume on it.
        sa.Column("seq", sa.Integer, primary_key=True),
        # Microseconds since the epoch.
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        # Stored verbatim after masking secrets; sanitising is the display's job.
        sa.Column("message", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deployment_logs")
