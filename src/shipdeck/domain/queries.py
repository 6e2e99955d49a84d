"""What a deployment listing asks for: one filters object for the engine, its store and the
clients (embedded and remote). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .status import Status


@dataclass(frozen=True, slots=True)
class DeploymentFilters:
    """Filters of a deployment listing (all optional, combined with AND)."""

    service: str | None = None
    environment: str | None = None
    status: Status | None = None
    deployment_id: str | None = None
    actor: str | None = None
    text: str | None = None
    """Case-insensitive substring of any field (an additive filter)."""
    since: datetime | None = None
    """Inclusive lower bound on `happened_at`."""
    until: datetime | None = None
    """Exclusive upper bound on `happened_at`."""
    namespace: str | None = None
    """Only rows of this namespace (rows without one never match)."""


NO_FILTERS = DeploymentFilters()
"""A listing of every row."""

__all__ = ["NO_FILTERS", "DeploymentFilters"]
