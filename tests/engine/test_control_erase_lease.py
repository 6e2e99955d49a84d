"""A reset's erase renews the saga's lease in its own commit (both backends).

An erase can outlast the lease it started under (a big history, 15 s by default). Another
replica that found the lease lapsed waits for the erase's commit to end the saga; it must
then find the lease current, or a reset that completed would be recorded as abandoned.
"""

from __future__ import annotations

import uuid

from shipdeck.engine import Engine
from shipdeck.engine.store.control import ControlEventRow, ControlOperation

NOW = 1_800_000_000_000_000
SECOND = 1_000_000


def _row(correlation_id: str, kind: str) -> ControlEventRow:
    return ControlEventRow(str(uuid.uuid4()), kind, "*", correlation_id, NOW, None)


async def _claimed(db_url: str) -> tuple[Engine, str]:
    engine = await Engine.open(db_url)
    cid = str(uuid.uuid4())
    claim = ControlOperation("reset", cid, "resetting", NOW + SECOND)
    assert engine.store.claim_control(claim, _row(cid, "reset-initiated"), NOW)
    return engine, cid


async def test_an_erase_renews_the_lease_so_the_saga_is_not_taken_for_abandoned(
    db_url: str,
) -> None:
    engine, cid = await _claimed(db_url)
    try:
        engine.store.erase_deployments("reset", NOW, 15 * SECOND)
        operation = engine.store.control_operation()
        assert operation is not None and operation.correlation_id == cid
        assert operation.lease_until >= NOW + 15 * SECOND
        # Another replica, 2 s later (after the lease it saw had lapsed): nothing to end.
        later = NOW + 2 * SECOND
        assert engine.store.abandon_control(cid, _row(cid, "reset-completed"), later, []) is None
    finally:
        await engine.close()


async def test_without_a_lease_to_renew_the_erase_leaves_the_slot_as_it_was(
    db_url: str,
) -> None:
    """`lease_for=0` (a plain erase) touches no lease: a lapsed one can still be ended."""
    engine, cid = await _claimed(db_url)
    try:
        engine.store.erase_deployments("reset", NOW)
        later = NOW + 2 * SECOND
        ended = engine.store.abandon_control(cid, _row(cid, "reset-completed"), later, [])
        assert ended is not None and ended.correlation_id == cid
        idle = engine.store.control_operation()
        assert idle is not None and idle.phase == "idle"
        # An idle slot is never given a lease by an erase.
        engine.store.erase_deployments("reset", later, 15 * SECOND)
        still = engine.store.control_operation()
        assert still is not None and still.phase == "idle" and still.lease_until == later
    finally:
        await engine.close()
