"""The control plane: component events, the orchestration stream, reset and recover.

Components report on `POST /api/control/events` and follow `GET /api/control/stream`; an
operator starts a reset (erases deployment history) or a recover (non-destructive: tells
components to re-ingest from a point in time). Both are one saga of three phases —
`*-initiated` (components drain and ack) → `*-started` (acks in, or the ack timeout) →
`*-completed` — of which one runs at a time on every replica (`control_state`, leased).

Security: the control key is compared as a SHA-256 in constant time (`hmac.compare_digest`)
and never stored, logged or echoed; a reset runs only with `[control] allow_reset = true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import uuid_utils

from ..domain import Role, format_rfc3339
from .audit import AuditTrail
from .control_config import ControlConfig
from .control_errors import ControlBusy, ControlDisabled, IngestPaused
from .control_hub import REPLAY_LIMIT, ControlFeed, ControlFrame
from .control_models import (
    ComponentEvent,
    ComponentEventRecord,
    ControlStreamEvent,
    RecoverAccepted,
    RecoverRequest,
    ResetAccepted,
)
from .errors import Unauthorized
from .keys import Principal
from .store import Store, StoredEvent, Writes
from .store.control import ComponentEventRow, ControlEventRow, ControlOperation

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]
log = logging.getLogger(__name__)

CONTROL_PRINCIPAL = Principal("control-key", Role.ADMIN)
"""Who acts with the control key (one shared secret: no finer identity to record)."""
POLL_S = 1.0
"""How often, while anyone follows a control stream, frames of other replicas are read."""
POLL_LOOKBACK_US = 15_000_000
ACKS = {"reset": "reset-ack", "recover": "recover-ack"}


def _micros_text(micros: int) -> str:
    return format_rfc3339(datetime.fromtimestamp(micros / 1_000_000, UTC))


def component_frame(row: ComponentEventRow) -> ControlFrame:
    """A stored component event as its `event: component` frame."""
    record = ComponentEventRecord(
        id=row.id,
        component_id=row.component_id,
        correlation_id=row.correlation_id,
        event_type=row.event_type,
        state=row.state,
        detail=row.detail,
        occurred_at=row.occurred_at,
        received_at=_micros_text(row.received_at),
        payload=None if row.payload is None else json.loads(row.payload),
    )
    return ControlFrame(row.id, "component", record.model_dump_json(), row.component_id)


def control_frame(row: ControlEventRow) -> ControlFrame:
    """A stored control event as its frame on the control stream."""
    event = ControlStreamEvent(
        id=row.id,
        type=row.type,
        component=row.component,
        correlation_id=row.correlation_id,
        occurred_at=_micros_text(row.occurred_at),
        reset_id=row.correlation_id if row.type.startswith("reset-") else None,
        payload=None if row.payload is None else json.loads(row.payload),
    )
    return ControlFrame(row.id, row.type, event.model_dump_json(exclude_none=True), row.component)


class ControlPlane:
    """The engine's control surface (`engine.control`)."""

    def __init__(
        self,
        store: Store,
        config: ControlConfig,
        audit: AuditTrail,
        *,
        read: Runner,
        write: Runner,
        erased: Callable[[StoredEvent], None],
    ) -> None:
        self.store = store
        self.config = config
        self.audit = audit
        self._read = read
        self._write = write
        self._erased = erased
        self.components = ControlFeed(self._components_after)
        """`GET /api/control/events/stream`."""
        self.stream = ControlFeed(self._control_after)
        """`GET /api/control/stream`."""
        self._ingest_closed = False
        self._acks: dict[str, set[str]] = {}
        """Per operation this engine drives (by correlation id): the components that acked."""
        self._all_acked: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None

    # -- keys ------------------------------------------------------------------------

    def check_key(self, presented: str | None) -> Principal:
        """The control principal if `presented` is the control key.

        Raises:
            ControlDisabled: no control key is configured.
            Unauthorized: none presented, or another one.
        """
        expected = self.config.key_sha256
        if expected is None:
            raise ControlDisabled(
                "the control surface has no key: set [control] key_sha256 (or the"
                " SHIPDECK_CONTROL__KEY variable) in the engine's configuration"
            )
        if not presented:
            raise Unauthorized("send the control key in the X-Control-API-Key header")
        digest = hashlib.sha256(presented.encode()).hexdigest()
        if not hmac.compare_digest(digest.encode(), expected.encode()):
            raise Unauthorized("the X-Control-API-Key is not the control key")
        return CONTROL_PRINCIPAL

    # -- component events ------------------------------------------------------------

    async def report(
        self, component_id: str, correlation_id: str | None, body: ComponentEvent
    ) -> ComponentEventRow:
        """Store a component's event, fan it out, and count it if it is an awaited ack."""
        payload = None if body.payload is None else json.dumps(body.payload, separators=(",", ":"))
        row = ComponentEventRow(
            id=str(uuid_utils.uuid7()),
            component_id=component_id,
            correlation_id=correlation_id,
            event_type=body.event_type,
            state=body.state,
            detail=body.detail,
            occurred_at=body.occurred_at,
            received_at=time.time_ns() // 1000,
            payload=payload,
        )
        await self._write(self.store.append_component_event, row)
        self._arrived(row)
        return row

    def _arrived(self, row: ComponentEventRow) -> None:
        if self.components.publish(component_frame(row)):
            self._count_ack(row)

    def _count_ack(self, row: ComponentEventRow) -> None:
        """An ack counts when it names the operation in flight (`X-Correlation-Id`, or
        the `reset_id` of its payload as earlier clients send it) and comes from an
        expected component."""
        if (
            row.event_type not in ACKS.values()
            or row.component_id not in self.config.expected_components
        ):
            return
        keys = {row.correlation_id}
        if row.payload:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                keys.add(str(json.loads(row.payload).get("reset_id")))
        for correlation_id, acked in self._acks.items():
            if correlation_id in keys:
                acked.add(row.component_id)
                if acked >= set(self.config.expected_components):
                    self._all_acked[correlation_id].set()

    async def _components_after(self, after: str) -> list[ControlFrame]:
        rows = await self._read(
            self.store.component_events_after, after, self._retained_since(), REPLAY_LIMIT
        )
        return [component_frame(row) for row in rows]

    async def _control_after(self, after: str) -> list[ControlFrame]:
        rows = await self._read(
            self.store.control_events_after, after, self._retained_since(), REPLAY_LIMIT
        )
        return [control_frame(row) for row in rows]

    def _retained_since(self) -> int:
        return time.time_ns() // 1000 - int(self.config.retention_hours * 3_600_000_000)

    # -- reset and recover -----------------------------------------------------------

    def check_ingest(self) -> None:
        """Raise `IngestPaused` while this engine's reset clears data."""
        if self._ingest_closed:
            raise IngestPaused(
                "a reset is clearing deployment data; retry after the control stream's"
                " reset-completed",
                self.config.retry_after_seconds,
            )

    async def reset(self, principal: Principal) -> ResetAccepted:
        """Start a reset (erases deployment history and fetcher cursors).

        Raises:
            ControlDisabled: `[control] allow_reset` is off.
            ControlBusy: a reset or recover is in flight.
        """
        if not self.config.allow_reset:
            detail = (
                "reset erases deployment history and is off by default: set"
                " [control] allow_reset = true (or SHIPDECK_CONTROL__ALLOW_RESET=true)"
                " in the engine's configuration to enable it"
            )
            await self.audit.refusal(principal, "control.reset", "*", "control-disabled", detail)
            raise ControlDisabled(detail)
        correlation_id, accepted = await self._begin(principal, "reset", None)
        return ResetAccepted(
            correlation_id=correlation_id,
            reset_id=correlation_id,
            state="draining",
            accepted_at=_micros_text(accepted),
        )

    async def recover(self, principal: Principal, request: RecoverRequest) -> RecoverAccepted:
        """Start a recover: components rewind to `since` and re-ingest; nothing is erased.

        Raises:
            ControlBusy: a reset or recover is in flight.
        """
        since = format_rfc3339(request.resolve(datetime.now(UTC)))
        correlation_id, accepted = await self._begin(principal, "recover", {"since": since})
        return RecoverAccepted(
            correlation_id=correlation_id,
            state="draining",
            since=since,
            accepted_at=_micros_text(accepted),
        )

    async def _begin(
        self, principal: Principal, operation: str, payload: dict[str, str] | None
    ) -> tuple[str, int]:
        now = time.time_ns() // 1000
        correlation_id = str(uuid_utils.uuid7())
        first = self._event(correlation_id, f"{operation}-initiated", now, payload, correlation_id)
        lease = now + int(self.config.gate_max_ttl_seconds * 1_000_000)
        claim = ControlOperation(operation, correlation_id, "draining", lease)
        self._acks[correlation_id] = set()
        self._all_acked[correlation_id] = asyncio.Event()
        if not await self._write(self.store.claim_control, claim, first, now):
            self._forget(correlation_id)
            detail = "a reset or recover is in flight; wait for its *-completed frame"
            await self.audit.refusal(principal, f"control.{operation}", "*", "control-busy", detail)
            raise ControlBusy(detail)
        entry = self.audit.entry(
            principal, f"control.{operation}", "*", f"accepted {correlation_id}"
        )
        await self._write(self.store.commit, lambda: Writes(audit=[entry]), None)
        self.stream.publish(control_frame(first))
        task = asyncio.get_running_loop().create_task(self._run(operation, correlation_id, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return correlation_id, now

    def _event(
        self,
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

    async def _run(
        self, operation: str, correlation_id: str, payload: dict[str, str] | None
    ) -> None:
        """The saga after `*-initiated`: wait for acks (or the timeout), then the rest."""
        try:
            if self.config.expected_components:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._all_acked[correlation_id].wait(), self.config.ack_timeout_seconds
                    )
            await self._advance(operation, correlation_id, "resetting", "started", payload)
            erased = ""
            if operation == "reset":
                self._ingest_closed = True
                try:
                    erased = await self._erase(correlation_id)
                finally:
                    self._ingest_closed = False
            await self._advance(operation, correlation_id, "idle", "completed", payload)
            entry = self.audit.entry(
                CONTROL_PRINCIPAL,
                f"control.{operation}.completed",
                "*",
                f"{correlation_id}{erased}",
            )
            await self._write(self.store.commit, lambda: Writes(audit=[entry]), None)
        except Exception:  # the lease lapses; the next operation may start then
            log.exception("control %s %s failed", operation, correlation_id)
        finally:
            self._forget(correlation_id)

    async def _advance(
        self,
        operation: str,
        correlation_id: str,
        phase: str,
        step: str,
        payload: dict[str, str] | None,
    ) -> None:
        now = time.time_ns() // 1000
        event = self._event(correlation_id, f"{operation}-{step}", now, payload)
        lease = now + int(self.config.gate_max_ttl_seconds * 1_000_000)
        await self._write(self.store.advance_control, correlation_id, phase, lease, event)
        self.stream.publish(control_frame(event))

    async def _erase(self, correlation_id: str) -> str:
        now = time.time_ns() // 1000
        stored = await self._write(self.store.erase_deployments, "reset: refetch state", now)
        self._erased(stored)
        return f" (events up to {stored.seq - 1} erased)"

    def _forget(self, correlation_id: str) -> None:
        self._acks.pop(correlation_id, None)
        self._all_acked.pop(correlation_id, None)

    # -- housekeeping ----------------------------------------------------------------

    def start(self) -> None:
        """Start reading other replicas' frames while anyone listens."""
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            if not (self.components.subscriber_count or self.stream.subscriber_count or self._acks):
                continue
            since = time.time_ns() // 1000 - POLL_LOOKBACK_US
            try:
                for row in await self._read(
                    self.store.component_events_after, "", since, REPLAY_LIMIT
                ):
                    self._arrived(row)
                for event in await self._read(
                    self.store.control_events_after, "", since, REPLAY_LIMIT
                ):
                    self.stream.publish(control_frame(event))
            except Exception as exc:  # the store is away: try again next round
                log.warning("could not read control events: %s", exc)

    async def prune(self) -> int:
        """Drop component and control events past retention."""
        return int(await self._write(self.store.prune_control, self._retained_since()))

    async def close(self) -> None:
        """Stop the poller and running sagas; end every control stream."""
        self.components.close_all()
        self.stream.close_all()
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poller = None


__all__ = ["CONTROL_PRINCIPAL", "ControlPlane", "component_frame", "control_frame"]
