"""Durable state: the storage interface and its backends."""

from .base import Store
from .records import (
    ApprovalRecord,
    AuditEntry,
    AuditRecord,
    Committed,
    DeploymentQuery,
    EnvironmentRecord,
    ExecutionRecord,
    IdempotencyConflict,
    KeyRecord,
    NewDeploymentRow,
    NewEvent,
    NewLogLine,
    PromotionRecord,
    SlotRecord,
    StoredEvent,
    StoredLogLine,
    StoreError,
    Writes,
)
from .sqlite import GENESIS_HASH, SQLiteStore, chain_hash, sqlite_path


def open_store(url: str) -> Store:
    """Open the store a database URL names (only `sqlite:///…` so far)."""
    return SQLiteStore(url)


__all__ = [
    "GENESIS_HASH",
    "ApprovalRecord",
    "AuditEntry",
    "AuditRecord",
    "Committed",
    "DeploymentQuery",
    "EnvironmentRecord",
    "ExecutionRecord",
    "IdempotencyConflict",
    "KeyRecord",
    "NewDeploymentRow",
    "NewEvent",
    "NewLogLine",
    "PromotionRecord",
    "SQLiteStore",
    "SlotRecord",
    "Store",
    "StoreError",
    "StoredEvent",
    "StoredLogLine",
    "Writes",
    "chain_hash",
    "open_store",
    "sqlite_path",
]
