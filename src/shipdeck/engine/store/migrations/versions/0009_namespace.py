"""Deployments: an optional `namespace` column, filterable.

Revision ID: 0009
Revises: 0008

Upstream's ingest body gained an optional `namespace` (the same service name under two
repositories or orgs). The row document already carries it as sent; the column is what
`GET /api/deployments?namespace=` filters on, with an index shaped like the other filters'
(`(column, happened_at, id)`: the listing's newest-first keyset order). Rows stored before
this revision have none: the column is nullable and left empty, never guessed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("namespace", sa.Text, nullable=True))
    op.create_index("ix_deployments_namespace", "deployments", ["namespace", "happened_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_deployments_namespace", table_name="deployments")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("namespace")
