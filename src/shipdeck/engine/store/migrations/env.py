"""Alembic environment: runs shipdeck's migrations on the connection it is handed."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Replicas starting together on a new database migrate it one after the other.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(1397245262)")
    context.run_migrations()
