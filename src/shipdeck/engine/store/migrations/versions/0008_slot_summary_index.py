"""Slot summaries: a covering index for the matrix index and its catch-up.

Revision ID: 0008
Revises: 0007

The matrix index (`engine/matrix_index.py`) reads the light columns of every slot once, then
only the slots changed since its last read (`changed_seq > ?`), on every index request and
every window. Without an index each catch-up scanned the whole slot table with its row
documents (33–50 ms at 80,000 slots, SQLite). This index leads with `changed_seq` and holds
every column those reads take, so the catch-up is a range and the first read an index-only
scan. A second one answers the distinct environments (every window names them) without
the table.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "slots_summary",
        "slots",
        ["changed_seq", "service", "environment", "cur_status", "cur_at", "oth_at"],
    )
    op.create_index("slots_environment", "slots", ["environment"])


def downgrade() -> None:
    op.drop_index("slots_environment", table_name="slots")
    op.drop_index("slots_summary", table_name="slots")
