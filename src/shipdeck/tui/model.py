"""The matrix as the TUI holds it: a snapshot kept current by live rows.

Each cell keeps the domain's `SlotState`, so a live row is folded in with the same pure
reduction the engine uses; a snapshot from the API is turned back into a state first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

from ..domain import (
    DeploymentEvent,
    Matrix,
    MatrixSlot,
    SlotEntry,
    SlotState,
    Status,
    fold_slot,
    to_micros,
)

Cell = SlotState[DeploymentEvent]


def _entry(event: DeploymentEvent, arrival: int) -> SlotEntry[DeploymentEvent]:
    return SlotEntry(to_micros(event.happened_at), arrival, event.status, event)


def state_from_slot(slot: MatrixSlot) -> Cell:
    """Rebuild a slot state from the API's view of it (all of it arrived before now)."""
    current = _entry(slot.current, 0)
    last_success = current if slot.current.status is Status.SUCCESS else None
    if slot.last_successful is not None:
        last_success = _entry(slot.last_successful, 0)
    terminal: SlotEntry[DeploymentEvent] | None = None
    if slot.current.status in (Status.SUCCESS, Status.FAILURE):
        terminal = current
    elif slot.prev_failed:
        # Only its status is known: older than anything live.
        terminal = SlotEntry(0, 0, Status.FAILURE, slot.current)
    elif last_success is not None:
        terminal = last_success
    upcoming = None if slot.next is None else _entry(slot.next, 0)
    return SlotState(current, last_success, terminal, upcoming)


@dataclass(frozen=True, slots=True)
class CellChange:
    """What a live row did to a cell (for notifications)."""

    service: str
    environment: str
    before: Status | None
    after: Status | None
    event: DeploymentEvent


_TERMINAL = frozenset({Status.SUCCESS, Status.FAILURE, Status.CANCELLED, Status.REJECTED})


@dataclass(eq=False)
class PendingAction:
    """An action the user asked for in a slot that the engine's rows have not confirmed yet.

    The row that confirms it may come through the feed before the engine's answer names its
    `deployment_id`, so until then the slot's arriving deployment ids are remembered in `seen`.
    """

    action: str
    version: str | None
    final_only: bool = False
    """Only a terminal row confirms it (a cancel of a running deployment)."""
    deployment_id: str | None = None
    """The engine's answer: the deployment whose rows confirm the action."""
    seen: set[str] = field(default_factory=set)

    def confirmed_by(self, event: DeploymentEvent) -> bool:
        """Whether `event` (a row of this slot) confirms the action."""
        return event.deployment_id == self.deployment_id and self.counts(event)

    def counts(self, event: DeploymentEvent) -> bool:
        """Whether a row of this status may confirm the action."""
        return not self.final_only or event.status in _TERMINAL


@dataclass
class MatrixModel:
    """Services × environments with per-cell state and each service's last change."""

    environments: list[str] = field(default_factory=list)
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    last_change: dict[str, int] = field(default_factory=dict)
    """Per service: the newest `happened_at` (µs) in any of its cells."""
    pending: dict[tuple[str, str], PendingAction] = field(default_factory=dict)
    """Per (service, environment): the action sent there that no row has confirmed yet."""
    _arrivals: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def from_matrix(cls, matrix: Matrix) -> MatrixModel:
        """The model of an API snapshot."""
        model = cls(environments=list(matrix.environments))
        for row in matrix.rows:
            cells = model.cells.setdefault(row.service, {})
            for env, slot in row.slots.items():
                cells[env] = state_from_slot(slot)
                model._touch(row.service, slot.current)
                if slot.next is not None:
                    model._touch(row.service, slot.next)
        return model

    def _touch(self, service: str, event: DeploymentEvent) -> None:
        at = to_micros(event.happened_at)
        self.last_change[service] = max(self.last_change.get(service, at), at)

    def apply(self, event: DeploymentEvent) -> CellChange:
        """Fold one live row into its cell."""
        cells = self.cells.setdefault(event.service, {})
        if event.environment not in self.environments:
            self.environments.append(event.environment)
        before = cells.get(event.environment, SlotState())
        after = fold_slot(before, _entry(event, next(self._arrivals)))
        cells[event.environment] = after
        self._touch(event.service, event)
        self._confirm(event)
        return CellChange(
            event.service,
            event.environment,
            None if before.current is None else before.current.status,
            None if after.current is None else after.current.status,
            event,
        )

    # -- actions in flight ---------------------------------------------------------------

    def mark_pending(
        self, service: str, environment: str, action: str, version: str | None, *, final_only: bool
    ) -> PendingAction:
        """Show that `action` was sent to a slot (a newer one replaces an older mark)."""
        entry = PendingAction(action, version, final_only)
        self.pending[(service, environment)] = entry
        return entry

    def accepted(self, entry: PendingAction, deployment_id: str) -> bool:
        """The engine accepted `entry` as `deployment_id`; True when its rows already came."""
        entry.deployment_id = deployment_id
        key = next((k for k, shown in self.pending.items() if shown is entry), None)
        if key is None:
            return False
        if deployment_id in entry.seen or self._shows(key, entry):
            del self.pending[key]
            return True
        return False

    def drop_pending(self, entry: PendingAction) -> bool:
        """Forget `entry` (refused, confirmed or stale); False when it was already gone."""
        for key, shown in self.pending.items():
            if shown is entry:
                del self.pending[key]
                return True
        return False

    def keep_pending(self, older: MatrixModel) -> None:
        """Carry `older`'s marks over a refetched snapshot, dropping those it confirms."""
        for key, entry in older.pending.items():
            if not self._shows(key, entry):
                self.pending[key] = entry

    def _shows(self, key: tuple[str, str], entry: PendingAction) -> bool:
        """Whether the slot's state already holds a row confirming `entry`."""
        cell = self.cell(*key)
        shown = [] if cell is None else [cell.current, cell.latest_other]
        return entry.deployment_id is not None and any(
            row is not None and entry.confirmed_by(row.ref) for row in shown
        )

    def _confirm(self, event: DeploymentEvent) -> None:
        entry = self.pending.get((event.service, event.environment))
        if entry is None:
            return
        if entry.deployment_id is None:
            if entry.counts(event):
                entry.seen.add(event.deployment_id)
        elif entry.confirmed_by(event):
            del self.pending[(event.service, event.environment)]

    def services(self) -> list[str]:
        """Every service, by name."""
        return sorted(self.cells)

    def cell(self, service: str, environment: str) -> Cell | None:
        """One cell's state, if anything happened there."""
        return self.cells.get(service, {}).get(environment)


def upcoming(cell: Cell) -> DeploymentEvent | None:
    """The `next` of a cell: its latest non-effective row when newer than current."""
    other = cell.latest_other
    if other is None:
        return None
    if cell.current is None or other.key > cell.current.key:
        return other.ref
    return None


def previous_failed(cell: Cell) -> bool:
    """The contract's `prev_failed`."""
    current, terminal = cell.current, cell.last_terminal
    return (
        current is not None
        and current.status is Status.IN_PROGRESS
        and terminal is not None
        and terminal.status is Status.FAILURE
    )


def last_successful(cell: Cell) -> DeploymentEvent | None:
    """The last success when it is not the current row."""
    if cell.last_success is None or cell.current is cell.last_success:
        return None
    if cell.current is not None and cell.current.status is Status.SUCCESS:
        return None
    return cell.last_success.ref


def fuzzy_match(query: str, name: str) -> bool:
    """Substring, or the query's characters in order (`chkapi` finds `checkout-api`)."""
    query, name = query.lower(), name.lower()
    if query in name:
        return True
    position = 0
    for char in query:
        position = name.find(char, position) + 1
        if position == 0:
            return False
    return True


@dataclass(frozen=True, slots=True)
class SeenVersion:
    """A version of a service and where the matrix shows it."""

    version: str
    places: tuple[tuple[str, Status], ...]
    """(environment, status) of each slot showing it, in environment order."""
    newest: datetime
    """The newest `happened_at` among those rows."""


def versions_seen(model: MatrixModel, service: str) -> list[SeenVersion]:
    """Versions of `service` in any environment (current, next, last successful), newest first."""
    places: dict[str, list[tuple[str, Status]]] = {}
    newest: dict[str, datetime] = {}
    for env in model.environments:
        cell = model.cell(service, env)
        if cell is None:
            continue
        shown = [row.ref for row in (cell.current, cell.last_success) if row is not None]
        for event in [*shown, upcoming(cell)]:
            if event is None or not event.version:
                continue
            where = places.setdefault(event.version, [])
            if all(place != env for place, _ in where):
                where.append((env, event.status))
            newest[event.version] = max(
                newest.get(event.version, event.happened_at), event.happened_at
            )
    found = [SeenVersion(v, tuple(where), newest[v]) for v, where in places.items()]
    return sorted(found, key=lambda seen: (-to_micros(seen.newest), seen.version))
