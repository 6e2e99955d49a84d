"""The engine: the store, the event log and its subscriptions, keys. No HTTP, no UI."""

from .config import ConfigError, EngineConfig, load_config
from .engine import DeploymentFilters, Engine, EngineStats, MatrixDocument
from .errors import ActionRefused, EngineError, Forbidden, InvalidRequest, NotFound, Unauthorized
from .keys import Principal
from .store import StoredEvent, StoreError
from .subscriptions import Resync, StreamItem, Subscription

__all__ = [
    "ActionRefused",
    "ConfigError",
    "DeploymentFilters",
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineStats",
    "Forbidden",
    "InvalidRequest",
    "MatrixDocument",
    "NotFound",
    "Principal",
    "Resync",
    "StoreError",
    "StoredEvent",
    "StreamItem",
    "Subscription",
    "Unauthorized",
    "load_config",
]
