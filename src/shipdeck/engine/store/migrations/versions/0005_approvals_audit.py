"""Key scopes, promotions awaiting approval, environment locks and policies, the audit log.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        # JSON lists; NULL: every service / environment.
        batch.add_column(sa.Column("services", sa.Text, nullable=True))
        batch.add_column(sa.Column("environments", sa.Text, nullable=True))
    op.create_table(
        "promotions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("from_environment", sa.Text, nullable=False),
        sa.Column("to_environment", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        # The source slot's deployment whose version is promoted.
        sa.Column("source_deployment_id", sa.Text, nullable=True),
        # The logical deployment in the target slot: `waiting`, then `queued`… or `rejected`.
        sa.Column("deployment_id", sa.Text, nullable=False, unique=True),
        sa.Column("requester", sa.Text, nullable=False),
        # awaiting-approval | approved | rejected | cancelled | expired
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("approvals_required", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("promotions_status", "promotions", ["status", "created_at"])
    op.create_table(
        "approvals",
        sa.Column("promotion_id", sa.Text, primary_key=True),
        # Counted once per principal, whichever of its keys was used.
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("key_id", sa.Text, nullable=True),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "environment_state",
        sa.Column("environment", sa.Text, primary_key=True),
        sa.Column("locked_by", sa.Text, nullable=True),
        sa.Column("lock_reason", sa.Text, nullable=True),
        sa.Column("locked_at", sa.BigInteger, nullable=True),
        # JSON of an EnvironmentPolicy set through the API (overrides the TOML's).
        sa.Column("policy", sa.Text, nullable=True),
    )
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("principal", sa.Text, nullable=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=True),
        # "ok" or "refused: <kind>"
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        # SHA-256 of the previous entry's hash and this entry's fields.
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("audit_principal", "audit", ["principal", "seq"])
    op.create_index("audit_action", "audit", ["action", "seq"])


def downgrade() -> None:
    op.drop_index("audit_action", "audit")
    op.drop_index("audit_principal", "audit")
    op.drop_table("audit")
    op.drop_table("environment_state")
    op.drop_table("approvals")
    op.drop_index("promotions_status", "promotions")
    op.drop_table("promotions")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("environments")
        batch.drop_column("services")
