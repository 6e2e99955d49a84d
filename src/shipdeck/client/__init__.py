"""How the TUI reaches an engine: in-process or over HTTP, through one protocol."""

from .base import (
    Capabilities,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    EngineClient,
    EngineError,
    FeedItem,
    HistoryFilters,
    LinkState,
    ResyncNeeded,
)

__all__ = [
    "Capabilities",
    "ConnectionChanged",
    "ConnectionStatus",
    "DeploymentArrived",
    "EngineClient",
    "EngineError",
    "FeedItem",
    "HistoryFilters",
    "LinkState",
    "ResyncNeeded",
]
