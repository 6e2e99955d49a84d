"""Events name the deployment row they carry, so resuming from a row id is a lookup.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("row_id", sa.Text))
    op.execute(
        "UPDATE events SET row_id = (SELECT d.id FROM deployments d WHERE d.doc = events.data)"
        " WHERE type = 'deployment'"
    )
    op.create_index("ix_events_row_id", "events", ["row_id"])


def downgrade() -> None:
    op.drop_index("ix_events_row_id", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("row_id")
