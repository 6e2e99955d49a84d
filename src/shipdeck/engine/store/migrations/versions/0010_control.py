"""Control plane: component events, control-stream events, and the one control operation.

Revision ID: 0010
Revises: 0009

`component_events` and `control_events` are short-lived (two hours, the contract's replay
window): ids are UUIDv7, so `id > ?` is the `Last-Event-ID` replay on both. `control_state`
holds at most one row: the control operation in flight (a reset or a recover) with a lease,
so one runs at a time across every replica and a replica that died mid-way cannot block the
next one past its lease.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "component_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("component_id", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        # As the component sent it (RFC 3339 text, echoed verbatim).
        sa.Column("occurred_at", sa.Text, nullable=False),
        # Microseconds since the epoch.
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=True),
    )
    op.create_index("component_events_received", "component_events", ["received_at"])
    op.create_table(
        "control_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("component", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.BigInteger, nullable=False),
        # JSON object or NULL (e.g. a recover's `since`).
        sa.Column("payload", sa.Text, nullable=True),
    )
    op.create_index("control_events_occurred", "control_events", ["occurred_at"])
    op.create_table(
        "control_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("operation", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        # Microseconds since the epoch after which the operation no longer holds the slot.
        sa.Column("lease_until", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("control_state")
    op.drop_index("control_events_occurred", table_name="control_events")
    op.drop_table("control_events")
    op.drop_index("component_events_received", table_name="component_events")
    op.drop_table("component_events")
