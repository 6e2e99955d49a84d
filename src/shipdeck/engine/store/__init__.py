"""Durable state: the storage interface and its backends."""

from .base import (
    DeploymentQuery,
    KeyRecord,
    NewDeploymentRow,
    SlotRecord,
    Store,
    StoredEvent,
    StoreError,
)
from .sqlite import SQLiteStore, sqlite_path


def open_store(url: str) -> Store:
    """Open the store a database URL names (only `sqlite:///…` so far)."""
    return SQLiteStore(url)


__all__ = [
    "DeploymentQuery",
    "KeyRecord",
    "NewDeploymentRow",
    "SQLiteStore",
    "SlotRecord",
    "Store",
    "StoreError",
    "StoredEvent",
    "open_store",
    "sqlite_path",
]
