"""The matrix reduction: one slot's state as a fold over its rows.

The same pure fold serves the store (applied once per append, inside the append's
transaction) and anyone reducing a whole log, so the two cannot disagree.
Order is by `happened_at`, ties broken by arrival. `fuzzy_match` is the one meaning of a
service filter (the engine's index and the dashboard's filter box).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from .status import EFFECTIVE, TERMINAL, Status

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SlotEntry(Generic[T]):
    """A row as the reduction sees it; `ref` is whatever the caller needs back."""

    happened_at: int
    """`happened_at` in microseconds since the epoch."""
    arrival: int
    """Arrival order in the log; breaks `happened_at` ties."""
    status: Status
    ref: T

    @property
    def key(self) -> tuple[int, int]:
        """The total order of rows within a slot."""
        return (self.happened_at, self.arrival)


@dataclass(frozen=True, slots=True)
class SlotState(Generic[T]):
    """Everything needed to answer a slot, kept up to date one row at a time."""

    current: SlotEntry[T] | None = None
    """Latest effective row (in-progress, success, failure)."""
    last_success: SlotEntry[T] | None = None
    """Latest success."""
    last_terminal: SlotEntry[T] | None = None
    """Latest success or failure."""
    latest_other: SlotEntry[T] | None = None
    """Latest non-effective row (pending, queued, waiting, cancelled, rejected)."""


@dataclass(frozen=True, slots=True)
class SlotView(Generic[T]):
    """A slot as the contract's `MatrixSlot` shows it."""

    current: T
    last_successful: T | None
    next: T | None
    prev_failed: bool


def _later(old: SlotEntry[T] | None, new: SlotEntry[T]) -> SlotEntry[T]:
    return new if old is None or new.key > old.key else old


def fold_slot(state: SlotState[T], entry: SlotEntry[T]) -> SlotState[T]:
    """Return the slot state after one more row, whatever order rows arrive in."""
    if entry.status not in EFFECTIVE:
        return replace(state, latest_other=_later(state.latest_other, entry))
    changes = {"current": _later(state.current, entry)}
    if entry.status in TERMINAL:
        changes["last_terminal"] = _later(state.last_terminal, entry)
    if entry.status is Status.SUCCESS:
        changes["last_success"] = _later(state.last_success, entry)
    return replace(state, **changes)


def reduce_slot(entries: Iterable[SlotEntry[T]]) -> SlotState[T]:
    """Reduce a slot's whole log."""
    state: SlotState[T] = SlotState()
    for entry in entries:
        state = fold_slot(state, entry)
    return state


def view_slot(state: SlotState[T]) -> SlotView[T] | None:
    """The contract's view of a slot; `None` while nothing effective happened there."""
    current = state.current
    if current is None:
        return None
    last_successful = None
    if state.last_success is not None and current.status is not Status.SUCCESS:
        last_successful = state.last_success.ref
    other = state.latest_other
    upcoming = other.ref if other is not None and other.key > current.key else None
    terminal = state.last_terminal
    prev_failed = (
        current.status is Status.IN_PROGRESS
        and terminal is not None
        and terminal.status is Status.FAILURE
    )
    return SlotView(current.ref, last_successful, upcoming, prev_failed)


def fuzzy_pattern(query: str) -> re.Pattern[str]:
    """`fuzzy_match(query, name)` as one compiled pattern: `.match(name.lower())` answers it.

    A substring is also a subsequence, so "the query's characters in order" is the whole
    test: `[^a]*+a[^b]*+b…`, anchored. Its runs are possessive, so it never backtracks:
    linear in the name whatever the query (10,000 names in ~3 ms).
    """
    return re.compile("".join(f"[^{c}]*+{c}" for c in map(re.escape, query.lower())))


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
