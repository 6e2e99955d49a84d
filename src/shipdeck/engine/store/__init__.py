"""Durable state: the storage interface and its backends."""

from .base import (
    Committed,
    DeploymentQuery,
    ExecutionRecord,
    IdempotencyConflict,
    KeyRecord,
    NewDeploymentRow,
    NewLogLine,
    SlotRecord,
    Store,
    StoredEvent,
    StoredLogLine,
    StoreError,
    Writes,
)
from .sqlite import SQLiteStore, sqlite_path


def open_store(url: str) -> Store:
    """Open the store a database URL names (only `sqlite:///…` so far)."""
    return SQLiteStore(url)


__all__ = [
    "Committed",
    "DeploymentQuery",
    "ExecutionRecord",
    "IdempotencyConflict",
    "KeyRecord",
    "NewDeploymentRow",
    "NewLogLine",
    "SQLiteStore",
    "SlotRecord",
    "Store",
    "StoreError",
    "StoredEvent",
    "StoredLogLine",
    "Writes",
    "open_store",
    "sqlite_path",
]
