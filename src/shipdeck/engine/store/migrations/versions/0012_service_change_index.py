"""Slots by service with their times: each service's last change in one index-only pass.

Revision ID: 0012
Revises: 0011

A dashboard in the engine's own process loads every service's last change before its first
paint (`Store.service_changes`: `MAX` of the slots' current and latest other row times,
`GROUP BY service`). Without this index that aggregate walked the slot table with its row
documents (60–90 ms at 80,000 slots, cold) or sorted the summary index (`slots_summary`
leads with `changed_seq`); in service order with the two times it is one index-only scan
with no sort (about 14 ms). Not partial: a partial index on `cur_at IS NOT NULL` would draw
the summary reads (which say the same condition) away from their covering index.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("slots_service_change", "slots", ["service", "cur_at", "oth_at"])


def downgrade() -> None:
    op.drop_index("slots_service_change", table_name="slots")
