"""Reset and recover: the control plane's two sagas, one at a time on every replica.

A saga is three phases on the control stream, driven by the replica that accepted it:
`*-initiated` (components drain and ack), `*-started` (the expected components' acks are in,
or the ack timeout passed) and `*-completed`. Its single-flight slot is the `control_state`
row: claimed with the first event and the audit entry in one transaction, moved on with a
new lease at each phase, freed at the end. A replica that stops mid-saga leaves a lease that
lapses within `gate_max_ttl_seconds`; any replica then ends the saga (`*-completed`, audited
as abandoned), so components never wait for it forever.

During a reset's `resetting` phase ingest answers `503`: on the driving replica from before
the erase until `reset-completed` is stored, on the others from the poll (`watch`, once a
second) that reads the slot. A write that slips past on another replica is still safe: the
erase is one write transaction, serialised with every other write, so a row lands wholly
before it (and is erased, as any row before a reset) or wholly after it (and is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import uuid_utils

from ..domain import Role
from .audit import AuditTrail
from .control_config import ControlConfig
from .control_errors import ControlBusy
from .control_hub import ControlFrame, control_frame
from .keys import Principal
from .store import AuditEntry, Store, StoredEvent
from .store.control import ComponentEventRow, ControlEventRow, ControlOperation

Runner = Callable[..., Awaitable[Any]]
log = logging.getLogger(__name__)

CONTROL_PRINCIPAL = Principal("control-key", Role.ADMIN)
"""Who acts with the control key (one shared secret: no finer identity to record)."""
ACK_OF = {"reset": "reset-ack", "recover": "recover-ack"}
"""The `event_type` a component acks each operation's `*-initiated` with."""


class ControlSagas:
    """The reset and recover sagas of one engine (`engine.control.sagas`)."""

    def __init__(
        self,
        store: Store,
        config: ControlConfig,
        audit: AuditTrail,
        *,
        write: Runner,
        publish: Callable[[ControlFrame], bool],
        erased: Callable[[StoredEvent], None],
        clock: Callable[[], int],
    ) -> None:
        self.store = store
        self.config = config
        self.audit = audit
        self._write = write
        self._publish = publish
        self._erased = erased
        self._now = clock
        """Now in microseconds, on the engine's clock (event times and leases)."""
        self._awaited: dict[str, tuple[str, set[str], asyncio.Event]] = {}
        """Sagas this engine drives, by correlation id: operation, components that acked,
        and whether all the expected ones have."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._clearing = False
        """This engine's reset is between `reset-started` and `reset-completed`."""
        self._clearing_elsewhere = False
        """Another replica's reset was in its `resetting` phase at the last `watch`."""

    @property
    def ingest_closed(self) -> bool:
        """Whether ingest must answer `503` now."""
        return self._clearing or self._clearing_elsewhere

    @property
    def driving(self) -> bool:
        """Whether this engine drives a saga (and so wants other replicas' acks read)."""
        return bool(self._awaited)

    # -- acks ------------------------------------------------------------------------

    def acked(self, row: ComponentEventRow) -> None:
        """Count a component event if it is an awaited ack: the operation's ack type, from
        an expected component, naming the saga in `X-Correlation-Id`. The contract makes
        that header the only key: a payload is opaque and never read, and an ack without
        the header is stored but does not count."""
        awaited = self._awaited.get(row.correlation_id or "")
        if awaited is None or row.component_id not in self.config.expected_components:
            return
        operation, acked, all_in = awaited
        if row.event_type != ACK_OF[operation]:
            return
        acked.add(row.component_id)
        if acked >= set(self.config.expected_components):
            all_in.set()

    # -- a saga ----------------------------------------------------------------------

    async def begin(
        self, principal: Principal, operation: str, payload: dict[str, str] | None
    ) -> tuple[str, int]:
        """Claim the slot for `operation`, store and publish `*-initiated` (audited in the
        same transaction) and run the rest of the saga; its correlation id and when.

        Raises:
            ControlBusy: a reset or recover holds the slot (on any replica).
        """
        now = self._now()
        correlation_id = str(uuid_utils.uuid7())
        first = _event(correlation_id, f"{operation}-initiated", now, payload, correlation_id)
        lease = now + int(self.config.gate_max_ttl_seconds * 1_000_000)
        claim = ControlOperation(operation, correlation_id, "draining", lease)
        action = f"control.{operation}"
        accepted = self.audit.entry(principal, action, "*", f"accepted {correlation_id}")
        # Awaited before the claim commits: an ack racing the 202 is not lost.
        self._awaited[correlation_id] = (operation, set(), asyncio.Event())
        if not await self._write(self.store.claim_control, claim, first, now, [accepted]):
            self._awaited.pop(correlation_id, None)
            detail = "a reset or recover is in flight; wait for its *-completed frame"
            await self.audit.refusal(principal, action, "*", "control-busy", detail)
            raise ControlBusy(detail)
        self._publish(control_frame(first))
        task = asyncio.get_running_loop().create_task(self._run(operation, correlation_id, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return correlation_id, now

    async def _run(
        self, operation: str, correlation_id: str, payload: dict[str, str] | None
    ) -> None:
        """After `*-initiated`: the acks (or the timeout), `*-started`, the erase of a
        reset, `*-completed`. A failure leaves the lease to lapse: the saga is then ended
        as abandoned (by `watch`, on any replica)."""
        try:
            if self.config.expected_components:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._awaited[correlation_id][2].wait(), self.config.ack_timeout_seconds
                    )
            if not await self._advance(operation, correlation_id, "started", payload):
                return
            detail = correlation_id
            if operation == "reset":
                self._clearing = True
                erase = self.store.erase_deployments
                lease_for = int(self.config.gate_max_ttl_seconds * 1_000_000)
                stored = await self._write(erase, "reset: refetch state", self._now(), lease_for)
                self._erased(stored)
                detail += f" (events up to {stored.seq - 1} erased)"
            completed = self.audit.entry(
                CONTROL_PRINCIPAL, f"control.{operation}.completed", "*", detail
            )
            await self._advance(operation, correlation_id, "completed", payload, [completed])
        except Exception:
            log.exception("control %s %s failed; its lease will lapse", operation, correlation_id)
        finally:
            self._clearing = False  # after reset-completed is stored, or the saga failed
            self._awaited.pop(correlation_id, None)

    async def _advance(
        self,
        operation: str,
        correlation_id: str,
        step: str,
        payload: dict[str, str] | None,
        audit: Sequence[AuditEntry] = (),
    ) -> bool:
        """Store and publish `{operation}-{step}` with a new lease; `False` when the saga
        lost its slot (its lease lapsed and another replica ended it)."""
        now = self._now()
        event = _event(correlation_id, f"{operation}-{step}", now, payload)
        phase = "idle" if step == "completed" else "resetting"
        lease = now + int(self.config.gate_max_ttl_seconds * 1_000_000)
        moved = await self._write(
            self.store.advance_control, correlation_id, phase, lease, event, list(audit)
        )
        if not moved:
            log.warning("control %s %s was ended elsewhere", operation, correlation_id)
            return False
        self._publish(control_frame(event))
        return True

    # -- every replica ---------------------------------------------------------------

    async def watch(self, operation: ControlOperation | None) -> None:
        """Follow the slot as last read: close ingest while another replica's reset clears
        data, and end a saga whose replica stopped (its lease lapsed)."""
        now = self._now()
        ours = operation is not None and operation.correlation_id in self._awaited
        self._clearing_elsewhere = (
            operation is not None
            and not ours
            and operation.operation == "reset"
            and operation.phase == "resetting"
            and operation.lease_until > now
        )
        if operation is None or ours or operation.phase == "idle" or operation.lease_until > now:
            return
        ended = _event(operation.correlation_id, f"{operation.operation}-completed", now, None)
        entry = self.audit.entry(
            CONTROL_PRINCIPAL,
            f"control.{operation.operation}.abandoned",
            "*",
            f"{operation.correlation_id}: its replica stopped in phase {operation.phase};"
            " ended when its lease lapsed",
        )
        stored = await self._write(
            self.store.abandon_control, operation.correlation_id, ended, now, [entry]
        )
        if stored is not None:
            self._clearing_elsewhere = False
            self._publish(control_frame(stored))

    async def close(self) -> None:
        """Stop the sagas this engine drives (their leases lapse; another replica, or this
        one restarted, ends them)."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _event(
    correlation_id: str,
    kind: str,
    now: int,
    payload: dict[str, str] | None,
    event_id: str | None = None,
) -> ControlEventRow:
    return ControlEventRow(
        event_id or str(uuid_utils.uuid7()),
        kind,
        "*",
        correlation_id,
        now,
        None if payload is None else json.dumps(payload),
    )


__all__ = ["ACK_OF", "CONTROL_PRINCIPAL", "ControlSagas"]
