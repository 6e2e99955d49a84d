"""Imports: how far `shipdeck import` got in each source, so a re-run resumes exactly.

Revision ID: 0007
Revises: 0006

One row per source (a file's path, or a name given with `--source`). It is written in the
same transaction as each batch of imported rows, so after a crash it names exactly the last
line whose rows are stored: a resumed import starts on the line after it, once the input's
bytes up to there hash to what was imported.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_sources",
        sa.Column("source", sa.Text, primary_key=True),
        # The last line whose outcome (imported or rejected) is committed.
        sa.Column("line", sa.BigInteger, nullable=False),
        # The input's bytes up to the end of that line: how many, and their SHA-256.
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("imported", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        # JSON: the first rejected lines as [[line, reason], ...] (a summary's worth).
        sa.Column("rejections", sa.Text, nullable=False),
        # Microseconds since the epoch.
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_sources")
