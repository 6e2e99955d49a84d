"""The slot reduction: incremental folding equals the contract's definition on the whole log."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from shipdeck.domain import (
    EFFECTIVE,
    NON_EFFECTIVE,
    SlotEntry,
    SlotState,
    Status,
    fold_slot,
    reduce_slot,
    view_slot,
)


@dataclass(frozen=True)
class Row:
    happened_at: int
    arrival: int
    status: Status


def expected_view(rows: list[Row]) -> tuple[Row, Row | None, Row | None, bool] | None:
    """`MatrixSlot` as openapi.yaml words it, computed from the whole log by sorting."""

    def order(row: Row) -> tuple[int, int]:
        return (row.happened_at, row.arrival)

    effective = sorted((r for r in rows if r.status in EFFECTIVE), key=order)
    if not effective:
        return None
    current = effective[-1]
    successes = sorted((r for r in rows if r.status is Status.SUCCESS), key=order)
    last_successful = successes[-1] if successes and current.status is not Status.SUCCESS else None
    others = sorted((r for r in rows if r.status in NON_EFFECTIVE), key=order)
    upcoming = others[-1] if others and order(others[-1]) > order(current) else None
    older_terminal = [
        r
        for r in rows
        if r.status in (Status.SUCCESS, Status.FAILURE) and order(r) < order(current)
    ]
    prev_failed = (
        current.status is Status.IN_PROGRESS
        and bool(older_terminal)
        and max(older_terminal, key=order).status is Status.FAILURE
    )
    return current, last_successful, upcoming, prev_failed


# Few distinct timestamps, so ties on happened_at are common.
rows_strategy = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(list(Status))), max_size=40
).map(lambda items: [Row(at, index, status) for index, (at, status) in enumerate(items)])


def entries(rows: list[Row]) -> list[SlotEntry[Row]]:
    return [SlotEntry(r.happened_at, r.arrival, r.status, r) for r in rows]


@given(rows_strategy, st.randoms(use_true_random=False))
@settings(max_examples=500)
def test_incremental_fold_equals_whole_log_reduction(rows: list[Row], rnd) -> None:
    """Rows arrive in any order (arrival still breaks ties): the answer is the same."""
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    state: SlotState[Row] = SlotState()
    for entry in entries(shuffled):
        state = fold_slot(state, entry)
    view = view_slot(state)
    expected = expected_view(rows)
    if expected is None:
        assert view is None
        return
    assert view is not None
    assert (view.current, view.last_successful, view.next, view.prev_failed) == expected
    assert state == reduce_slot(entries(rows))


def test_seed_example_slots() -> None:
    """The three slots of seeds/000 (dev success; qa with a queued next; prod failure)."""
    qa = reduce_slot(
        [SlotEntry(1, 1, Status.SUCCESS, "1.4.3"), SlotEntry(2, 2, Status.QUEUED, "1.4.4")]
    )
    view = view_slot(qa)
    assert view is not None and view.current == "1.4.3" and view.next == "1.4.4"
    assert view.last_successful is None and not view.prev_failed

    prod = reduce_slot(
        [SlotEntry(1, 1, Status.SUCCESS, "1.4.2"), SlotEntry(2, 2, Status.FAILURE, "1.4.3")]
    )
    view = view_slot(prod)
    assert view is not None and view.current == "1.4.3" and view.last_successful == "1.4.2"


def test_tie_on_happened_at_breaks_by_arrival() -> None:
    state = reduce_slot(
        [SlotEntry(5, 1, Status.IN_PROGRESS, "first"), SlotEntry(5, 2, Status.SUCCESS, "second")]
    )
    assert state.current is not None and state.current.ref == "second"


def test_next_needs_to_be_newer_than_current() -> None:
    state = reduce_slot(
        [SlotEntry(1, 1, Status.QUEUED, "old"), SlotEntry(2, 2, Status.SUCCESS, "live")]
    )
    view = view_slot(state)
    assert view is not None and view.next is None


def test_prev_failed_only_when_in_progress_after_a_failure() -> None:
    failed_then_running = reduce_slot(
        [SlotEntry(1, 1, Status.FAILURE, "a"), SlotEntry(2, 2, Status.IN_PROGRESS, "b")]
    )
    ok_then_running = reduce_slot(
        [SlotEntry(1, 1, Status.SUCCESS, "a"), SlotEntry(2, 2, Status.IN_PROGRESS, "b")]
    )
    assert view_slot(failed_then_running).prev_failed  # type: ignore[union-attr]
    assert not view_slot(ok_then_running).prev_failed  # type: ignore[union-attr]


def test_only_non_effective_rows_make_no_contract_slot() -> None:
    assert view_slot(reduce_slot([SlotEntry(1, 1, Status.WAITING, "w")])) is None
