"""The engine facade: what the TUI (embedded) and the HTTP server both call.

`Engine` owns the store's threads (one writer, a few readers), commits and publishes events,
ingests rows and serves reads; its parts are attributes: `actions`, `governance`, `matrix`,
`keys`, `audit` (and `deployment_logs`, `executor`, `rate_limiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from ..domain import (
    FINAL,
    DeploymentEvent,
    DeploymentEventIngest,
    DeploymentFilters,
    LogLine,
    LogLineIngest,
    LogPage,
    to_micros,
    utc_now,
    who_am_i,
)
from ..domain.actions import WhoAmI
from ..domain.authz import Permission
from .actions import Actions
from .analytics import AnalyticsReader
from .approvals import PromotionDecider
from .audit import AuditTrail
from .config import EngineConfig
from .control import ControlPlane
from .cursors import MAX_PAGE
from .decisions import ActionDecider
from .deployments import DeploymentReader
from .exclusion import exclusion_of
from .executor import Executor
from .fetchers import FetcherCursors
from .gate import PolicyGate
from .governance import Governance
from .group_commit import GroupCommit
from .ingest import TRIGGER, ingest_row
from .keys import Keys, Principal, local_user
from .logs import DeploymentLogs, LogFollower
from .matrix import MatrixDocument, MatrixReader
from .ratelimit import RateLimiter
from .store import (
    Committed,
    ExecutionRecord,
    NewDeploymentRow,
    Store,
    StoredEvent,
    Writes,
    open_store,
)
from .subscriptions import EventHub, Subscription

T = TypeVar("T")
FINAL_STATUSES = frozenset(status.value for status in FINAL)
log = logging.getLogger(__name__)

PRUNE_EVERY_S = 300.0
EXPIRE_EVERY_S = 30.0
"""How often promotions past their approval time are ended."""
CHECKPOINT_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class EngineStats:
    """What `/metrics` reports of an engine, read at scrape time."""

    event_head: int
    """Sequence number of the newest event this engine committed."""
    subscribers: int
    """Live event subscriptions (SSE streams, embedded TUIs)."""
    log_followers: int
    """Live log followers (WebSocket streams)."""
    running_deployments: int
    """Deployments the executor is running now."""


class Engine:
    """One engine over one store: ingest, reads, keys and live subscriptions.

    Store calls run on worker threads (one writer, a few readers), never on the event loop.
    `clock` is the engine's one notion of now (every part reads it).
    """

    def __init__(
        self,
        store: Store,
        config: EngineConfig | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.config = config or EngineConfig()
        self.clock = clock
        config = self.config
        self.replica = config.cluster.replica or f"{socket.gethostname()}:embedded"
        """This engine's name among replicas (in run leases and their messages)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self._again = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="shipdeck-writer")
        self._rows = GroupCommit(store, self._write, self._row_committed)
        """Concurrent ingests, committed together."""
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="shipdeck-reader")
        self._committed = store.last_seq()
        """The newest event this engine published (delivery may lag by a tick)."""
        self._read_through = self._committed
        """Every event up to this one is published by this engine: its own, or read."""
        self._own_ahead: set[int] = set()
        """Its own events published past `_read_through` (a gap before them: events
        committed elsewhere, not read yet)."""
        self._hub = EventHub(
            self._committed,
            config.stream.subscriber_queue,
            config.stream.coalesce_ms / 1000,
            config.stream.max_wakeups_per_second,
        )
        self._pruner: asyncio.Task[None] | None = None
        self.deployment_logs = DeploymentLogs(
            store,
            config.logs,
            read=self._read,
            write=self._write,
            queue_size=config.stream.subscriber_queue,
            clock=self._now,
        )
        limits = config.rate_limit
        self.rate_limiter = RateLimiter(limits.per_second, limits.burst)
        """Per-key limits on mutating requests (the HTTP layer applies them)."""
        gate = PolicyGate(store, config.policies, self._now)
        promotions = PromotionDecider(store, gate, self._now)
        decider = ActionDecider(store, config.environment_order, gate, promotions, self._now)
        self.executor = Executor(
            config, decider, self.commit, self._append_run_logs, replica=self.replica
        )
        self.audit = AuditTrail(store, self._read, self.commit, self._now)
        self.keys = Keys(store, self._read, self._write, self._now)
        self.deployments = DeploymentReader(
            store, config.environment_order, self._read, exclusion_of(config.ingest)
        )
        self.fetchers = FetcherCursors(store, self._read, self._write, self._now)
        self.analytics = AnalyticsReader(
            store, config.analytics, config.ingest, self._read, self._now
        )
        """`/api/analytics/*`: documents read from the rollups the store keeps on append."""
        self.matrix = self._new_matrix()
        self.actions = Actions(
            decider, gate, self.executor, self.audit, read=self._read, commit=self.commit
        )
        self.governance = Governance(
            store,
            promotions,
            gate,
            self.executor,
            self.audit,
            policies=config.policies,
            environment_order=config.environment_order,
            read=self._read,
            commit=self.commit,
            clock=self._now,
        )
        self._recovery: asyncio.Task[list[ExecutionRecord]] | None = None
        self.control = ControlPlane(
            store,
            config.control,
            self.audit,
            read=self._read,
            write=self._write,
            erased=self._erased,
        )
        """The control surface: component events, control stream, reset and recover."""

    def _now(self) -> datetime:
        return self.clock()  # looked up per call: replacing `engine.clock` reaches every part

    @classmethod
    async def open(cls, url: str, config: EngineConfig | None = None) -> Engine:
        """Open (and migrate) the store at `url`, start the engine and its executor."""
        store = await asyncio.to_thread(open_store, url)
        engine = cls(store, config)
        engine.start()
        await engine.recovered()
        return engine

    def start(self) -> None:
        """Start background housekeeping (event retention), the executor, and listening for
        what other replicas commit."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self.store.watch(self._store_changed)
        if self._pruner is None:
            self._pruner = asyncio.get_running_loop().create_task(self._prune_forever())
            self.control.start()
        if self._recovery is None:
            self._recovery = asyncio.get_running_loop().create_task(self.executor.start())

    async def recovered(self) -> list[ExecutionRecord]:
        """Wait for the executor's start: runs a crash left in progress (now failed)."""
        if self._recovery is None:
            return []
        return await self._recovery

    # -- other replicas --------------------------------------------------------------

    def _store_changed(self, topic: str, detail: str) -> None:
        """From the store's listener thread: another replica committed."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._on_change, topic, detail)

    def _on_change(self, topic: str, detail: str) -> None:
        if topic == "events":
            # A notice names the head its commit made (PostgreSQL; the store keeps this
            # engine's own commits to itself). One at or below `_read_through` was read
            # already: its events were found by a read begun for another notice, or for a
            # gap before an event of this engine's (see `_published`).
            if not (detail.isdigit() and int(detail) <= self._read_through):
                self.catch_up_elsewhere()
        elif topic == "logs":
            self.deployment_logs.lines_elsewhere(detail or None)
        elif topic == "keys":
            self.keys.forget()

    def catch_up_elsewhere(self) -> None:
        """Read and publish what other replicas committed (one reader however many nudges)."""
        if self._catching_up is not None and not self._catching_up.done():
            self._again = True
            return
        self._catching_up = asyncio.get_running_loop().create_task(self._read_elsewhere())

    async def _read_elsewhere(self) -> None:
        while True:
            self._again = False
            try:
                events = await self._read(self.store.events_after, self._read_through, 1000)
            except Exception as exc:  # the store is away: its listener tells again once back
                log.warning("could not read events committed elsewhere: %s", exc)
                return
            for event in events:
                if event.seq <= self._read_through:
                    continue  # published by this engine meanwhile
                self._read_through = event.seq
                if event.seq in self._own_ahead:
                    continue
                self._committed = max(self._committed, event.seq)
                self._hub.publish(event)
                if event.type == "resync":  # another replica's reset erased the log
                    self._forget_erased(event.seq)
                if event.type == "deployment":
                    self._row_elsewhere(event.data)
            self._own_ahead = {seq for seq in self._own_ahead if seq > self._read_through}
            if len(events) < 1000 and not self._again:
                return

    def _row_elsewhere(self, doc: str) -> None:
        """A row another replica appended: wake log followers; stop a run of ours that it
        ended (cancelled there: the driver here must stop too)."""
        try:
            row = json.loads(doc)
            deployment_id, status = str(row["deployment_id"]), str(row["status"])
        except (ValueError, KeyError, TypeError):
            return
        self.deployment_logs.row_appended(deployment_id)
        if status in FINAL_STATUSES and deployment_id in self.executor.running:
            self.executor.cancel(deployment_id, str(row.get("actor") or "another replica"))

    async def close(self) -> None:
        """Stop the executor and housekeeping, and release the store."""
        if self._recovery is not None:
            try:
                await self._recovery
            except Exception:  # closing anyway
                log.exception("the executor's start failed")
        await self.control.close()
        await self.executor.close()
        await self._rows.drain()  # rows accepted before closing are stored
        for task in (self._pruner, self._catching_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pruner = self._catching_up = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.store.close()

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def _write(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    # -- ingest ----------------------------------------------------------------------

    async def ingest(
        self,
        body: DeploymentEventIngest,
        *,
        progress_reporter: str | None = None,
        trigger: str = TRIGGER,
        principal: Principal | None = None,
    ) -> tuple[DeploymentEvent, str]:
        """Append one row; return it and its JSON document as stored, once committed."""
        row_id, doc = await self.ingest_document(
            body, progress_reporter=progress_reporter, trigger=trigger, principal=principal
        )
        # The body is already validated: the row is built without validating it again.
        fields = {k: v for k, v in body.__dict__.items() if v is not None}
        event = DeploymentEvent.model_construct(
            id=row_id, progress_reporter=progress_reporter, trigger=trigger, **fields
        )
        return event, doc

    async def ingest_document(
        self,
        body: DeploymentEventIngest,
        *,
        progress_reporter: str | None = None,
        trigger: str = TRIGGER,
        principal: Principal | None = None,
    ) -> tuple[str, str]:
        """`ingest`, answering the new row's id and its JSON document only (what the HTTP
        route sends back): the row is serialised once and built as no model.

        It returns once the row is committed (with the others arriving meanwhile, in one
        transaction: `GroupCommit`), so an answer means the row is durable.
        """
        self.admit(body)
        row = ingest_row(body, progress_reporter=progress_reporter, trigger=trigger)
        audit = (
            None
            if principal is None
            else self.audit.entry(principal, Permission.INGEST, row.deployment_id)
        )
        await self._rows.append(row, audit)  # published once committed: `_row_committed`
        return row.id, row.doc

    def _published(self, event: StoredEvent) -> None:
        """Publish an event this engine committed (they come in commit order).

        One that does not follow `_read_through` has events committed elsewhere before it.
        Their notice usually came first and they were read; when this engine's commit
        overtook it, they are read now (and the notice, when it comes, finds them read)."""
        self._committed = max(self._committed, event.seq)
        self._hub.publish(event)
        if event.seq == self._read_through + 1:
            self._read_through = event.seq
        elif event.seq > self._read_through:
            self._own_ahead.add(event.seq)
            self.catch_up_elsewhere()

    def _row_committed(self, row: NewDeploymentRow, stored: StoredEvent) -> None:
        """An ingested row is durable: publish it (also when its request went away)."""
        self._published(stored)
        self.deployment_logs.row_appended(row.deployment_id)

    def admit(self, body: DeploymentEventIngest) -> None:
        """Refuse a row no writer may append now, whichever path it comes by (the API,
        webhooks, the demo): every ingest asks here before it builds the row.

        Raises:
            IngestPaused: a reset is clearing deployment data (`503`, `Retry-After`).
            ServiceExcluded: the row's service is excluded by `[ingest] exclude_services`.
        """
        self.control.check_ingest()
        self.deployments.exclusion.check(body.service, body.namespace)

    async def commit(
        self,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        """Run `decide` in one write transaction (see `Store.commit`) and publish its rows."""
        decided: list[Writes] = []

        def run() -> Writes:
            writes = decide()
            decided.append(writes)
            return writes

        committed = await self._write(self.store.commit, run, idempotency)
        for event in committed.events:
            self._published(event)
        for writes in decided:
            for row in writes.rows:
                self.deployment_logs.row_appended(row.deployment_id)
        return committed

    # -- who acts ---------------------------------------------------------------------

    def local_principal(self) -> Principal:
        """Who acts through an embedded engine: the OS user, with the configured role."""
        return Principal(local_user(), self.config.auth.local_role, None)

    async def whoami(self, principal: Principal | None) -> WhoAmI:
        """Who the caller is and what it may do."""
        if principal is None:
            return who_am_i(None, None)
        return who_am_i(principal.name, principal.role, principal.scopes)

    async def _append_run_logs(self, deployment_id: str, lines: list[LogLineIngest]) -> None:
        await self.deployment_logs.append(deployment_id, lines)

    # -- events ----------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The sequence number of the newest event this engine committed."""
        return self._committed

    def flush_events(self) -> None:
        """Deliver events waiting for the coalescing tick now."""
        self._hub.flush()

    def close_subscriptions(self) -> None:
        """End every live subscription now (the server is shutting down)."""
        self._hub.close_all()
        self.deployment_logs.close_followers()

    @property
    def subscriber_count(self) -> int:
        """Live subscriptions (SSE streams, embedded TUIs)."""
        return self._hub.subscriber_count

    def subscribe(self, after: int | None = None) -> Subscription:
        """Events strictly after `after` (replayed from the store), then live ones.

        With `after=None` only events published from now on are delivered.
        """
        return Subscription(
            self._hub,
            lambda seq, limit: self._read(self.store.events_after, seq, limit),
            self._event_bounds,
            after,
            self.config.stream.catch_up_limit,
        )

    async def _event_bounds(self) -> tuple[int, int]:
        first = await self._read(self.store.first_seq)
        return first, max(first - 1, await self._read(self.store.last_seq))

    def _erased(self, notice: StoredEvent) -> None:
        """This engine's reset erased the log up to `notice` (an `event: resync`)."""
        self._forget_erased(notice.seq)
        self._published(notice)

    def _forget_erased(self, seq: int) -> None:
        """Nothing before `seq` is replayed from memory, and the matrix starts afresh."""
        self._hub.forget_before(seq)
        self.matrix = self._new_matrix()

    def _new_matrix(self) -> MatrixReader:
        """The matrix of what is stored, without the excluded services."""
        return MatrixReader(
            self.store,
            self.config.environment_order,
            self._read,
            lambda: self._committed,
            self._now,
            self.deployments.exclusion,
        )

    async def event_position_of_row(self, row_id: str) -> int | None:
        """The event sequence number that carried a deployment row, if still logged."""
        return await self._read(self.store.event_seq_of_row, row_id)

    async def prune_events(self, older_than: datetime | None = None) -> int:
        """Drop events past retention (or recorded before `older_than`)."""
        if older_than is None:
            cutoff = time.time() - self.config.stream.retention_hours * 3600
            older_than = datetime.fromtimestamp(cutoff, UTC)
        pruned = await self._write(self.store.prune_events, to_micros(older_than))
        if pruned:
            # What the store no longer replays is not served from memory either.
            self._hub.forget_before(await self._read(self.store.first_seq))
        return pruned

    async def _prune_forever(self) -> None:
        last_prune = last_expiry = time.monotonic()
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_S)
            try:
                # One replica at a time (an advisory lock on PostgreSQL).
                if not await self._read(self.store.lead):
                    continue
                await self._read(self.store.checkpoint)
                if time.monotonic() - last_expiry >= EXPIRE_EVERY_S:
                    last_expiry = time.monotonic()
                    await self.governance.expire_promotions()
                if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    await self.prune_events()
                    await self.control.prune()
            except Exception:  # housekeeping retries next round
                log.exception("engine housekeeping failed; retrying next round")

    # -- logs ------------------------------------------------------------------------

    async def append_logs(
        self, deployment_id: str, lines: Sequence[LogLineIngest], secrets: Iterable[str] = ()
    ) -> list[LogLine]:
        """Mask secrets (configured ones and `secrets`), then number and store lines."""
        return await self.deployment_logs.append(deployment_id, lines, secrets)

    async def logs(self, deployment_id: str, after: int = 0, limit: int = MAX_PAGE) -> LogPage:
        """A page of a deployment's lines numbered after `after`, oldest first."""
        return await self.deployment_logs.page(deployment_id, after, limit)

    def follow_logs(self, deployment_id: str, after: int = 0) -> LogFollower:
        """History after `after`, then live lines, until the deployment is over."""
        return self.deployment_logs.follow(deployment_id, after)

    async def ready(self) -> bool:
        """Whether the store answers."""
        try:
            await self._read(self.store.ping)
        except Exception:
            return False
        return True

    def stats(self) -> EngineStats:
        """The gauges `/metrics` reports."""
        return EngineStats(
            event_head=self._committed,
            subscribers=self._hub.subscriber_count,
            log_followers=self.deployment_logs.follower_count,
            running_deployments=len(self.executor.running),
        )


__all__ = ["DeploymentFilters", "Engine", "EngineStats", "MatrixDocument", "StoredEvent"]
