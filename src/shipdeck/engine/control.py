"""The control plane: component events, the orchestration stream, reset and recover.

Components report on `POST /api/control/events` and follow `GET /api/control/stream`; an
operator starts a reset (erases deployment history) or a recover (non-destructive: tells
components to re-ingest from a point in time). Both are sagas (`control_saga.py`), one at a
time on every replica.

Security: the control key is compared as a SHA-256 in constant time (`hmac.compare_digest`)
and never stored, logged or echoed; a reset runs only with `[control] allow_reset = true`;
accepted operations are audited in the transaction that claims them, refusals on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import uuid_utils

from ..domain import format_rfc3339, to_micros
from .audit import AuditTrail
from .control_config import ControlConfig
from .control_errors import ControlDisabled, IngestPaused
from .control_hub import (
    REPLAY_LIMIT,
    ControlFeed,
    ControlFrame,
    component_frame,
    control_frame,
    ids_now,
    micros_text,
)
from .control_models import (
    ComponentEvent,
    RecoverAccepted,
    RecoverRequest,
    ResetAccepted,
)
from .control_saga import CONTROL_PRINCIPAL, ControlSagas
from .errors import Unauthorized
from .keys import Principal
from .store import Store, StoredEvent
from .store.control import ComponentEventRow, ControlEventRow

Runner = Callable[..., Awaitable[Any]]
log = logging.getLogger(__name__)

POLL_S = 1.0
"""How often the slot is read (the ingest gate of other replicas' resets, abandoned sagas)
and, while anyone follows a control stream, frames other replicas stored."""

_Row = TypeVar("_Row", ComponentEventRow, ControlEventRow)


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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.audit = audit
        self._read = read
        self._write = write
        self.clock = clock or audit.clock
        """The engine's notion of now (by default the audit trail's, which is the engine's):
        received times, retention, a recover's `days_back`, saga leases."""
        self.components = ControlFeed(self._components_after, on_follow=self._ensure_polling)
        """`GET /api/control/events/stream`."""
        self.stream = ControlFeed(self._control_after)
        """`GET /api/control/stream`."""
        self.sagas = ControlSagas(
            store,
            config,
            audit,
            write=write,
            publish=self.stream.publish,
            erased=erased,
            clock=self._micros,
        )
        """Reset and recover."""
        self._started = False
        self._poller: asyncio.Task[None] | None = None
        self._round = asyncio.Lock()
        """One poll at a time: two interleaved would deliver out of order."""

    def _micros(self) -> int:
        return to_micros(self.clock())

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

    async def authorize(self, presented: str | None, action: str) -> Principal:
        """`check_key`, auditing a refusal (who probes for the control key leaves a trace).

        Raises:
            ControlDisabled: no control key is configured.
            Unauthorized: none presented, or another one.
        """
        try:
            return self.check_key(presented)
        except (ControlDisabled, Unauthorized) as exc:
            await self.audit.refusal(None, action, "*", exc.kind, str(exc))
            raise

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
            received_at=self._micros(),
            payload=payload,
        )
        await self._write(self.store.append_component_event, row)
        self._arrived(row)
        return row

    def _arrived(self, row: ComponentEventRow) -> None:
        """A stored component event (this replica's or another's), once."""
        if self.components.publish(component_frame(row)):
            self.sagas.acked(row)

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
        return self._micros() - int(self.config.retention_hours * 3_600_000_000)

    # -- reset and recover -----------------------------------------------------------

    def check_ingest(self) -> None:
        """Raise `IngestPaused` while a reset clears data (here, or on another replica)."""
        if self.sagas.ingest_closed:
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
        correlation_id, accepted = await self.sagas.begin(principal, "reset", None)
        return ResetAccepted(
            correlation_id=correlation_id,
            reset_id=correlation_id,
            state="draining",
            accepted_at=micros_text(accepted),
        )

    async def recover(self, principal: Principal, request: RecoverRequest) -> RecoverAccepted:
        """Start a recover: components rewind to `since` and re-ingest; nothing is erased.

        Raises:
            ControlBusy: a reset or recover is in flight.
        """
        since = format_rfc3339(request.resolve(self.clock()))
        correlation_id, accepted = await self.sagas.begin(principal, "recover", {"since": since})
        return RecoverAccepted(
            correlation_id=correlation_id,
            state="draining",
            since=since,
            accepted_at=micros_text(accepted),
        )

    # -- housekeeping ----------------------------------------------------------------

    @property
    def polling(self) -> bool:
        """Whether the poller runs: always with a control key; without one (reset, recover
        and the control stream are off) only while someone follows component events."""
        return self._poller is not None and not self._poller.done()

    def start(self) -> None:
        """Start polling the store (the slot, and other replicas' frames)."""
        self._started = True
        if self.config.key_sha256 is not None:
            self._ensure_polling()

    def _ensure_polling(self) -> None:
        if self._started and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            if self.config.key_sha256 is None and not self.components.subscriber_count:
                self._poller = None  # with the check, in one step: a new follower restarts it
                return
            try:
                await self.poll()
            except Exception as exc:  # the store is away: try again next round
                log.warning("could not read the control plane's state: %s", exc)

    async def poll(self) -> None:
        """One round: follow the slot (`ControlSagas.watch`) and, while anyone follows a
        stream or an ack is awaited, publish the frames other replicas stored since the
        last round, oldest first, page after page until caught up."""
        async with self._round:
            if self.config.key_sha256 is not None:
                await self.sagas.watch(await self._read(self.store.control_operation))
            now = ids_now()
            if self.components.subscriber_count or self.sagas.driving:
                await self._catch_up(
                    self.components, self.store.component_events_after, self._arrived
                )
            else:
                self.components.skip_to(now)
            if self.stream.subscriber_count:
                await self._catch_up(self.stream, self.store.control_events_after, self._relayed)
            else:
                self.stream.skip_to(now)

    async def _catch_up(
        self,
        feed: ControlFeed,
        read: Callable[[str, int, int], list[_Row]],
        deliver: Callable[[_Row], None],
    ) -> None:
        after = feed.resume_after()
        while True:
            rows = await self._read(read, after, self._retained_since(), REPLAY_LIMIT)
            for row in rows:
                deliver(row)
            if len(rows) < REPLAY_LIMIT:
                return
            after = rows[-1].id

    def _relayed(self, row: ControlEventRow) -> None:
        self.stream.publish(control_frame(row))

    async def prune(self) -> int:
        """Drop component and control events past retention."""
        return int(await self._write(self.store.prune_control, self._retained_since()))

    async def close(self) -> None:
        """Stop the poller and running sagas; end every control stream."""
        self._started = False
        self.components.close_all()
        self.stream.close_all()
        await self.sagas.close()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None


__all__ = ["CONTROL_PRINCIPAL", "ControlPlane", "component_frame", "control_frame"]
