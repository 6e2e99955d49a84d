"""The rows a connector makes of another platform's deployments, and what they reduce to.

A foreign platform keeps deployments, each with its current status; shipdeck's screens read
a log of rows. A connector turns every status it sees a deployment in into one row (the
deployment's id is the row's `deployment_id`; the row id names the deployment and the
status, or the timeline entry), so a deployment followed from queued to success leaves the
rows a shipdeck engine would have written, and the matrix is the same pure reduction
(`reduce_slot`) over them. Rows are kept for the session; a refresh that no longer lists a
deployment drops its rows (the platform restarted, pruned or wiped it) and says so, so the
TUI refetches instead of showing what is gone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..domain import (
    DeploymentEvent,
    DeploymentEventPage,
    Matrix,
    MatrixRow,
    MatrixSlot,
    SlotEntry,
    order_environments,
    reduce_slot,
    to_micros,
    utc_now,
    view_slot,
)
from .base import DeploymentFilters, EngineError

_FIELDS = ("service", "environment", "deployment_id", "actor", "namespace")
_LIMITS = {
    "deployment_id": 200,
    "service": 128,
    "environment": 64,
    "version": 50,
    "actor": 128,
    "ref": 256,
    "sha": 128,
    "phase": 64,
    "message": 4096,
}
"""The longest value of each row field (a row's own limits)."""


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one refresh changed."""

    fresh: list[DeploymentEvent]
    """Rows not seen before, oldest first."""
    gone: bool
    """Rows (or services) the platform no longer lists were dropped."""


class RowLog:
    """Every row seen this session, by row id, in arrival order."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, DeploymentEvent]] = {}
        self._arrivals = itertools.count()
        self.services: list[str] = []
        """Every service the platform lists (some may have no deployment yet)."""
        self.environments: list[str] = []
        """Every environment the platform lists, in display order."""
        self.filled = False
        """Whether a refresh has been taken at least once."""

    def refresh(
        self,
        latest: Iterable[DeploymentEvent],
        services: Iterable[str],
        environments: Iterable[str],
        *,
        complete: bool = True,
    ) -> Refreshed:
        """Take the platform's current rows (one per deployment it lists).

        Args:
            latest: each listed deployment's row for its status now.
            services: every service the platform lists.
            environments: every environment it lists.
            complete: the listing holds every deployment; when it is only the newest ones,
                deployments older than the oldest listed are kept, not dropped.
        """
        latest = sorted(latest, key=lambda row: row.happened_at)
        listed = {row.deployment_id for row in latest}
        oldest = to_micros(latest[0].happened_at) if latest else None
        gone = {
            row_id
            for row_id, (_, row) in self._rows.items()
            if row.deployment_id not in listed
            and (complete or oldest is None or to_micros(row.happened_at) >= oldest)
        }
        for row_id in gone:
            del self._rows[row_id]
        names = sorted(set(services) | {row.service for row in latest})
        dropped = bool(set(self.services) - set(names)) and self.filled
        self.services = names
        self.environments = order_environments(
            set(environments) | {row.environment for row in latest}
        )
        fresh = [row for row in latest if self.add(row)]
        self.filled = True
        return Refreshed(fresh, bool(gone) or dropped)

    def add(self, row: DeploymentEvent) -> bool:
        """Keep a row; False when one with its id is already here."""
        if row.id in self._rows:
            return False
        self._rows[row.id] = (next(self._arrivals), row)
        return True

    def get(self, row_id: str) -> DeploymentEvent | None:
        """The row with this id, if seen."""
        found = self._rows.get(row_id)
        return None if found is None else found[1]

    def of(self, deployment_id: str) -> list[DeploymentEvent]:
        """A deployment's rows, oldest first."""
        rows = [entry for entry in self._rows.values() if entry[1].deployment_id == deployment_id]
        return [row for _, row in sorted(rows, key=_order)]

    def latest(self, deployment_id: str) -> DeploymentEvent | None:
        """A deployment's newest row."""
        rows = self.of(deployment_id)
        return rows[-1] if rows else None

    def slot(self, service: str, environment: str) -> list[DeploymentEvent]:
        """A slot's rows, oldest first."""
        rows = [
            entry
            for entry in self._rows.values()
            if entry[1].service == service and entry[1].environment == environment
        ]
        return [row for _, row in sorted(rows, key=_order)]

    def matrix(self) -> Matrix:
        """The matrix of every row: each slot reduced as the engine reduces it."""
        slots: dict[str, dict[str, list[SlotEntry[DeploymentEvent]]]] = {}
        for arrival, row in self._rows.values():
            entry = SlotEntry(to_micros(row.happened_at), arrival, row.status, row)
            slots.setdefault(row.service, {}).setdefault(row.environment, []).append(entry)
        rows = []
        for service in sorted(set(self.services) | set(slots)):
            cells: dict[str, MatrixSlot] = {}
            for environment, entries in slots.get(service, {}).items():
                view = view_slot(reduce_slot(entries))
                if view is not None:
                    cells[environment] = MatrixSlot(
                        current=view.current,
                        last_successful=view.last_successful,
                        next=view.next,
                        prev_failed=view.prev_failed or None,
                    )
            rows.append(MatrixRow(service=service, slots=cells))
        environments = order_environments(
            set(self.environments) | {env for cells in slots.values() for env in cells}
        )
        return Matrix(generated_at=utc_now(), environments=environments, rows=rows)

    def page(
        self, filters: DeploymentFilters, cursor: str | None, limit: int
    ) -> DeploymentEventPage:
        """Rows newest first, filtered; `cursor` is where the previous page stopped.

        Raises:
            EngineError: the cursor is not one this log gave.
        """
        try:
            start = int(cursor or "0")
        except ValueError:
            raise EngineError(f"not a cursor of this listing: {cursor!r}") from None
        found = [
            row
            for _, row in sorted(self._rows.values(), key=_order, reverse=True)
            if matches(row, filters)
        ]
        end = start + max(1, limit)
        return DeploymentEventPage(
            items=found[start:end], next_cursor=str(end) if end < len(found) else None
        )


def fitted(fields: dict[str, Any]) -> DeploymentEvent | None:
    """A row of a foreign platform's values, each cut to what a row holds (`None` when
    one cannot be a row at all, e.g. an empty service name)."""
    for name, most in _LIMITS.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value) > most:
            fields[name] = value[: most - 1] + "…"
    if isinstance(fields.get("parent_deployments"), list):
        fields["parent_deployments"] = [p[:200] for p in fields["parent_deployments"][:32]]
    try:
        return DeploymentEvent.model_validate(fields)
    except ValidationError:
        return None


def _order(entry: tuple[int, DeploymentEvent]) -> tuple[int, int]:
    arrival, row = entry
    return (to_micros(row.happened_at), arrival)


def matches(row: DeploymentEvent, filters: DeploymentFilters) -> bool:
    """Whether `row` passes `filters` (text: a case-insensitive substring of any value)."""
    if any((v := getattr(filters, f)) is not None and getattr(row, f) != v for f in _FIELDS):
        return False
    if filters.status is not None and row.status is not filters.status:
        return False
    if filters.since is not None and row.happened_at < filters.since:
        return False
    if filters.until is not None and row.happened_at >= filters.until:
        return False
    if not filters.text:
        return True
    needle = filters.text.casefold()
    values: Sequence[object] = list(row.model_dump(mode="json").values())
    parts = [str(p) for v in values for p in (v if isinstance(v, list) else [v])]
    return any(needle in part.casefold() for part in parts)


__all__ = ["Refreshed", "RowLog", "fitted", "matches"]
