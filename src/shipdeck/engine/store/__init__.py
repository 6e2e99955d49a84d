"""Durable state: the storage interface and its backends."""

from .base import Store
from .codec import GENESIS_HASH, chain_hash
from .records import (
    ApprovalRecord,
    AuditEntry,
    AuditRecord,
    Committed,
    DeploymentQuery,
    EnvironmentRecord,
    ExecutionRecord,
    IdempotencyConflict,
    ImportConflict,
    ImportProgress,
    KeyRecord,
    NewDeploymentRow,
    NewEvent,
    NewLogLine,
    PromotionRecord,
    SlotRecord,
    StoredEvent,
    StoredLogLine,
    StoreError,
    StoreUnavailable,
    Writes,
)
from .sqlite import SQLiteStore, sqlite_path
from .urls import SUPPORTED_URLS, is_postgres_url, redacted


def open_store(url: str) -> Store:
    """Open (and migrate) the store a database URL names.

    Raises:
        StoreError: the URL is not one of `SUPPORTED_URLS`, or the database cannot be
            opened (the message says why and what to do).
    """
    if is_postgres_url(url):
        from .postgres import PostgresStore  # psycopg is loaded only when it is used

        return PostgresStore(url)
    if url.startswith("sqlite:"):
        return SQLiteStore(url)
    raise StoreError(f"unsupported database URL {url!r}: use {SUPPORTED_URLS}")


__all__ = [
    "GENESIS_HASH",
    "SUPPORTED_URLS",
    "ApprovalRecord",
    "AuditEntry",
    "AuditRecord",
    "Committed",
    "DeploymentQuery",
    "EnvironmentRecord",
    "ExecutionRecord",
    "IdempotencyConflict",
    "ImportConflict",
    "ImportProgress",
    "KeyRecord",
    "NewDeploymentRow",
    "NewEvent",
    "NewLogLine",
    "PromotionRecord",
    "SQLiteStore",
    "SlotRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredEvent",
    "StoredLogLine",
    "Writes",
    "chain_hash",
    "is_postgres_url",
    "open_store",
    "redacted",
    "sqlite_path",
]
