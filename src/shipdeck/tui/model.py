"""The matrix as the TUI holds it: a snapshot kept current by live rows.

Each cell keeps the domain's `SlotState`, so a live row is folded in with the same pure
reduction the engine uses; a snapshot from the API is turned back into a state first.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from ..client import MatrixIndex, MatrixWindow
from ..domain import (
    TERMINAL,
    DeploymentEvent,
    Matrix,
    MatrixSlot,
    SlotEntry,
    SlotState,
    Status,
    fold_slot,
    fuzzy_pattern,
    to_micros,
)
from ..domain import fuzzy_match as fuzzy_match  # moved to the domain; imported from here

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


RECENT_ROWS = 5_000
"""Live rows kept to replay on rows loaded after them (25 s at 200 rows/s)."""

LOADED_SERVICES = 3_000
"""Services whose cells are kept; beyond, the longest-loaded are dropped (and refetched
when they come back on screen)."""


@dataclass(repr=False)
class MatrixModel:
    """Services × environments with per-cell state and each service's last change.

    Every service is known by name and last change (the engine's index); cells are held
    only for the services loaded (`windowed`: the rows on screen, fetched as they come into
    view). Live rows fold into loaded cells; for the others they move the last change and
    are kept in `recent`, to be replayed on their rows once loaded.
    """

    environments: list[str] = field(default_factory=list)
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    """Per loaded service: its slots' states."""
    last_change: dict[str, int] = field(default_factory=dict)
    """Per service: the newest `happened_at` (µs) in any of its cells."""
    pending: dict[tuple[str, str], PendingAction] = field(default_factory=dict)
    """Per (service, environment): the action sent there that no row has confirmed yet."""
    windowed: bool = False
    """Only some services' cells are loaded (False: every service's are)."""
    names: list[str] = field(default_factory=list)
    """Every service, by name."""
    by_change: list[tuple[int, str]] | None = None
    """Every service as `(-last_change, name)`, newest first: the engine's order by last
    change, kept as rows arrive (`None` until asked for)."""
    recent: deque[tuple[int, DeploymentEvent]] = field(
        default_factory=lambda: deque(maxlen=RECENT_ROWS)
    )
    """The latest live rows with their event positions."""
    recent_floor: int = 0
    """The newest position dropped from `recent` (a window older than it may miss rows)."""
    _loaded: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _arrivals: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __repr__(self) -> str:
        # Short on purpose: Textual's `@work` describes a worker by its arguments' reprs, and
        # a dataclass repr of 10,000 services' cells took 0.1–0.7 s on every window fetch.
        loaded = len(self._loaded) if self.windowed else len(self.cells)
        return (
            f"<MatrixModel {len(self.names)} services × {len(self.environments)} environments,"
            f" {loaded} loaded>"
        )

    @classmethod
    def from_matrix(cls, matrix: Matrix) -> MatrixModel:
        """The model of a whole API snapshot (every service loaded)."""
        model = cls(environments=list(matrix.environments))
        model._load_rows(matrix)
        model.names = sorted(model.cells)
        return model

    @classmethod
    def from_index(cls, index: MatrixIndex) -> MatrixModel:
        """The model of an index: every service known, none loaded (unless `index.full`)."""
        if index.full is not None:
            return cls.from_matrix(index.full)
        model = cls(environments=list(index.environments), windowed=True)
        model.last_change = dict(index.last_change)
        model.names = sorted(index.services)
        return model

    def _load_rows(self, matrix: Matrix) -> None:
        for row in matrix.rows:
            cells = self.cells.setdefault(row.service, {})
            newest = 0
            for env, slot in row.slots.items():
                cells[env] = state_from_slot(slot)
                newest = max(newest, to_micros(slot.current.happened_at))
                if slot.next is not None:
                    newest = max(newest, to_micros(slot.next.happened_at))
            if newest:
                self._set_change(row.service, max(newest, self.last_change.get(row.service, 0)))

    # -- loading what is on screen -------------------------------------------------------

    def loaded(self, service: str) -> bool:
        """Whether `service`'s cells are here (always, when not windowed)."""
        return not self.windowed or service in self._loaded

    def missing(self, services: list[str]) -> list[str]:
        """Those of `services` whose cells are not loaded."""
        if not self.windowed:
            return []
        return [name for name in services if name not in self._loaded]

    def load(self, window: MatrixWindow, services: list[str]) -> bool:
        """Take the rows of `services` from `window`, then replay the live rows that came
        after it; False when rows it may lack were already dropped from `recent` (ask again).
        """
        if window.seq < self.recent_floor:
            return False
        for name in services:
            self.cells[name] = {}
        self._load_rows(window.matrix)
        wanted = set(services)
        guessed: set[str] = set()
        for seq, event in self.recent:
            if seq > window.seq and event.service in wanted:
                if self._guessed(event):
                    guessed.add(event.service)
                self._fold(event)
        for name in services:
            if name in guessed:  # not what the engine shows: asked for again
                self._forget(name)
                continue
            self._loaded[name] = None
            self._loaded.move_to_end(name)
            self._set_change(name, self._change_of(name), exact=True)
        while len(self._loaded) > LOADED_SERVICES:
            dropped, _ = self._loaded.popitem(last=False)
            self.cells.pop(dropped, None)
        for env in window.matrix.environments:
            if env not in self.environments:
                self.environments.append(env)
        return True

    def set_order_by_change(self, index: MatrixIndex) -> None:
        """Take the engine's order by last change (and any newer changes seen here)."""
        for name, at in index.last_change.items():
            if at > self.last_change.get(name, 0):
                self.last_change[name] = at
        for name in index.services:
            if name not in self.last_change:
                self.last_change[name] = 0
        known = set(index.services)
        self.names = sorted(set(self.names) | known)
        order = [(-self.last_change.get(name, 0), name) for name in index.services]
        # Rows that arrived while the index was on its way may have moved some services.
        extra = [(-self.last_change.get(n, 0), n) for n in self.names if n not in known]
        if extra or any(order[i] > order[i + 1] for i in range(len(order) - 1)):
            order = sorted(order + extra)
        self.by_change = order

    def _set_change(self, service: str, at: int, *, exact: bool = False) -> None:
        """Move `service`'s last change to `at` (only forward, unless `exact`)."""
        before = self.last_change.get(service)
        if before is None:
            insort(self.names, service)
        elif at == before or (at < before and not exact):
            return
        self.last_change[service] = at
        order = self.by_change
        if order is not None:
            if before is not None:
                spot = bisect_left(order, (-before, service))
                if spot < len(order) and order[spot] == (-before, service):
                    del order[spot]
            insort(order, (-at, service))

    def apply(self, event: DeploymentEvent, seq: int = 0) -> CellChange:
        """Fold one live row into its cell (or, for a service not loaded, keep it for later)."""
        recent = self.recent
        if len(recent) == recent.maxlen:
            self.recent_floor = recent[0][0]
        recent.append((seq, event))
        if event.environment not in self.environments:
            self.environments.append(event.environment)
        at = to_micros(event.happened_at)
        if self.windowed and self._guessed(event):
            self._forget(event.service)  # the engine knows: its row is fetched again
        elif self.windowed and event.service not in self.last_change:
            # A service new since the index: the engine has no more of it than its rows here.
            self._loaded[event.service] = None
            self.cells[event.service] = {}
        if not self.loaded(event.service):
            # The engine counts a row only in a slot with a current row, which is not known
            # here: counted (a slot without one is rare; corrected when the row is loaded).
            self._set_change(event.service, at)
            self._confirm(event)
            # Not known: what the row did to the cell (shown once the row is loaded).
            return CellChange(event.service, event.environment, None, event.status, event)
        before, after = self._fold(event)
        if after.current is not None:
            self._set_change(event.service, at)
        elif event.service not in self.last_change:
            self._set_change(event.service, 0)
        self._confirm(event)
        return CellChange(
            event.service,
            event.environment,
            None if before.current is None else before.current.status,
            None if after.current is None else after.current.status,
            event,
        )

    def _change_of(self, service: str) -> int:
        """A loaded service's last change as the engine counts it: the newest current or
        latest other row of its slots that have a current row."""
        newest = 0
        for cell in self.cells.get(service, {}).values():
            if cell.current is not None:
                newest = max(newest, cell.current.happened_at)
                if cell.latest_other is not None:
                    newest = max(newest, cell.latest_other.happened_at)
        return newest or self.last_change.get(service, 0)

    def _guessed(self, event: DeploymentEvent) -> bool:
        """Whether folding `event` depends on what a snapshot could not say: when the last
        failure before an in-progress row was (`prev_failed` has no time)."""
        cell = self.cells.get(event.service, {}).get(event.environment)
        terminal = None if cell is None else cell.last_terminal
        return terminal is not None and terminal.happened_at == 0 and event.status in TERMINAL

    def _forget(self, service: str) -> None:
        self._loaded.pop(service, None)
        self.cells.pop(service, None)

    def _fold(self, event: DeploymentEvent) -> tuple[Cell, Cell]:
        cells = self.cells.setdefault(event.service, {})
        before = cells.get(event.environment, SlotState())
        after = fold_slot(before, _entry(event, next(self._arrivals)))
        cells[event.environment] = after
        return before, after

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
        """Every service, by name (the model's own list: do not change it)."""
        return self.names

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


@lru_cache(maxsize=64)
def matcher(query: str) -> Callable[[str], bool]:
    """`fuzzy_match` of `query` as one compiled test (10,000 names a keystroke, ~3 ms)."""
    match = fuzzy_pattern(query).match
    return lambda name: match(name.lower()) is not None


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
