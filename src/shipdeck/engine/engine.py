"""The engine facade: what the TUI (embedded) and the HTTP server both call."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

import uuid_utils

from ..domain import (
    Action,
    ActionProblem,
    ActionResult,
    DeploymentEvent,
    DeploymentEventIngest,
    DeploymentEventPage,
    FetcherState,
    LogLine,
    LogLineIngest,
    LogPage,
    Matrix,
    PolicySummary,
    PromotionPlanDoc,
    Role,
    RollbackPlanDoc,
    SlotView,
    Status,
    format_rfc3339,
    order_environments,
    to_micros,
    utc_now,
    view_slot,
    who_am_i,
)
from ..domain.actions import (
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    WhoAmI,
    request_fingerprint,
)
from ..domain.audit import AUDIT_CURSOR_PATTERN, AuditPage, AuditVerdict
from ..domain.authz import Permission, Scopes
from ..domain.authz import decide as decide_permission
from ..domain.policy import EnvironmentPolicy
from ..domain.promotions import AWAITING, EnvironmentView, PromotionPage, PromotionView
from .actions import RUNNING, Desk
from .audit import audit_view, current_request_id, verify_chain
from .config import EngineConfig
from .cursors import decode_cursor, encode_cursor
from .errors import ActionRefused, Forbidden, InvalidRequest, NotFound
from .executor import Executor
from .governance import Guard, Promotions, environment_view
from .keys import IssuedKey, Principal, hash_secret, issue_key, secret_matches, split_token
from .logs import DeploymentLogs, LogFollower
from .ratelimit import RateLimiter
from .store import (
    AuditEntry,
    Committed,
    DeploymentQuery,
    ExecutionRecord,
    IdempotencyConflict,
    KeyRecord,
    NewDeploymentRow,
    NewEvent,
    PromotionRecord,
    Store,
    StoredEvent,
    Writes,
    open_store,
)
from .subscriptions import EventHub, Subscription

T = TypeVar("T")

MAX_PAGE = 500
PRUNE_EVERY_S = 300.0
EXPIRE_EVERY_S = 30.0
"""How often promotions past their approval time are ended."""
CHECKPOINT_EVERY_S = 1.0
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_AUDIT_CURSOR = re.compile(AUDIT_CURSOR_PATTERN)
KEY_CACHE_S = 0.5
"""How long a verified key is trusted without asking the store (revocation takes effect
within this time)."""


@dataclass(frozen=True, slots=True)
class DeploymentFilters:
    """Filters of a deployment listing (all optional, combined with AND)."""

    service: str | None = None
    environment: str | None = None
    status: Status | None = None
    deployment_id: str | None = None
    actor: str | None = None
    text: str | None = None
    """Case-insensitive substring of any field (an additive filter)."""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class MatrixDocument:
    """The matrix as the API sends it, with the event position it reflects."""

    seq: int
    body: bytes

    @property
    def etag(self) -> str:
        """Weak ETag: the snapshot changes exactly when the event log moves."""
        return f'W/"m-{self.seq}"'


def _new_row_id() -> str:
    return str(uuid_utils.uuid7())


class _MatrixFragments:
    """Each slot's `"environment":{…}` JSON, refreshed from the slots that changed.

    A matrix snapshot then costs reading the slots changed since the previous snapshot
    plus joining every slot's fragment, instead of rebuilding all slots from the store.
    Slots are never deleted and their `changed_seq` follows commit order, so remembering
    the largest `changed_seq` seen is enough to pick up every later change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = 0
        self._by_service: dict[str, dict[str, str]] = {}

    def rows_json(self, store: Store, service: str | None, rank: dict[str, int]) -> bytes:
        """The matrix's `rows` array (of one service), environments in `rank` order."""
        with self._lock:  # reader threads may race; one refresh at a time
            for record in store.slots(changed_after=self._seen):
                self._seen = max(self._seen, record.changed_seq)
                view = view_slot(record.state)
                if view is not None:
                    slots = self._by_service.setdefault(record.service, {})
                    slots[record.environment] = _slot_json(record.environment, view)
            names = sorted(self._by_service) if service is None else [service]
            rows = [(name, self._by_service.get(name)) for name in names]
        last = len(rank)
        out = [
            f'{{"service":{json.dumps(name)},"slots":{{'
            + ",".join(slots[env] for env in sorted(slots, key=lambda e: rank.get(e, last)))
            + "}}"
            for name, slots in rows
            if slots
        ]
        return f"[{','.join(out)}]".encode()


def _slot_json(environment: str, view: SlotView[str]) -> str:
    parts = [f'"current":{view.current}']
    if view.last_successful is not None:
        parts.append(f'"last_successful":{view.last_successful}')
    if view.next is not None:
        parts.append(f'"next":{view.next}')
    if view.prev_failed:
        parts.append('"prev_failed":true')
    return f"{json.dumps(environment)}:{{{','.join(parts)}}}"


class Engine:
    """One engine over one store: ingest, reads, keys and live subscriptions.

    Store calls run on worker threads (one writer, a few readers), never on the event loop.
    """

    def __init__(self, store: Store, config: EngineConfig | None = None) -> None:
        self.store = store
        self.config = config or EngineConfig()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="shipdeck-writer")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="shipdeck-reader")
        self._committed = store.last_seq()
        """The newest event this engine committed (delivery may lag by a tick)."""
        self._hub = EventHub(
            self._committed,
            self.config.stream.subscriber_queue,
            self.config.stream.coalesce_ms / 1000,
            self.config.stream.max_wakeups_per_second,
        )
        self._matrix_cache: dict[str | None, tuple[int, bytes, bytes]] = {}
        self._matrix_fragments = _MatrixFragments()
        self._pruner: asyncio.Task[None] | None = None
        self.deployment_logs = DeploymentLogs(
            store,
            self.config.logs,
            read=self._read,
            write=self._write,
            queue_size=self.config.stream.subscriber_queue,
        )
        self._keys: dict[str, tuple[float, Principal]] = {}
        limits = self.config.rate_limit
        self.rate_limiter = RateLimiter(limits.per_second, limits.burst)
        """Per-key limits on mutating requests (the HTTP layer applies them)."""
        self.guard = Guard(store, self.config.policies, utc_now)
        self.desk = Desk(store, self.config.environment_order, self.guard)
        self.promotions = Promotions(self.desk, self.guard)
        self.desk.promotions = self.promotions
        self.executor = Executor(self.config, self.desk, self.commit, self._append_run_logs)
        self._recovery: asyncio.Task[list[ExecutionRecord]] | None = None

    @classmethod
    async def open(cls, url: str, config: EngineConfig | None = None) -> Engine:
        """Open (and migrate) the store at `url`, start the engine and its executor."""
        store = await asyncio.to_thread(open_store, url)
        engine = cls(store, config)
        engine.start()
        await engine.recovered()
        return engine

    def start(self) -> None:
        """Start background housekeeping (event retention) and the executor."""
        if self._pruner is None:
            self._pruner = asyncio.get_running_loop().create_task(self._prune_forever())
        if self._recovery is None:
            self._recovery = asyncio.get_running_loop().create_task(self.executor.start())

    async def recovered(self) -> list[ExecutionRecord]:
        """Wait for the executor's start: runs a crash left in progress (now failed)."""
        if self._recovery is None:
            return []
        return await self._recovery

    async def close(self) -> None:
        """Stop the executor and housekeeping, and release the store."""
        if self._recovery is not None:
            with contextlib.suppress(Exception):
                await self._recovery
        await self.executor.close()
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None
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
        trigger: str = "ingest",
        principal: Principal | None = None,
    ) -> tuple[DeploymentEvent, str]:
        """Append one row; return it and its JSON document as stored."""
        # The body is already validated: build the row without validating it again.
        event = DeploymentEvent.model_construct(
            id=_new_row_id(),
            progress_reporter=progress_reporter,
            trigger=trigger,
            **{k: v for k, v in body if v is not None},
        )
        doc = event.model_dump_json()
        row = NewDeploymentRow(
            id=event.id,
            deployment_id=event.deployment_id,
            service=event.service,
            environment=event.environment,
            status=event.status,
            happened_at=to_micros(event.happened_at),
            actor=event.actor,
            doc=doc,
        )
        audit = None if principal is None else self._audit(principal, "ingest", row.deployment_id)
        stored = await self._write(self.store.append_deployment, row, audit)
        self._committed = max(self._committed, stored.seq)
        self._hub.publish(stored)
        self.deployment_logs.row_appended(event.deployment_id)
        return event, doc

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
            self._committed = max(self._committed, event.seq)
            self._hub.publish(event)
        for writes in decided:
            for row in writes.rows:
                self.deployment_logs.row_appended(row.deployment_id)
        return committed

    # -- actions ---------------------------------------------------------------------

    def local_principal(self) -> Principal:
        """Who acts through an embedded engine: the OS user, with the configured role."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (some containers)
            name = "local"
        return Principal(name, self.config.auth.local_role, None)

    async def whoami(self, principal: Principal | None) -> WhoAmI:
        """Who the caller is and what it may do."""
        if principal is None:
            return who_am_i(None, None)
        return who_am_i(principal.name, principal.role, principal.scopes)

    def _audit(
        self, principal: Principal | None, action: str, target: str, reason: str | None = None
    ) -> AuditEntry:
        """An `ok` audit entry for a request handled now (refusals replace the outcome)."""
        return AuditEntry(
            to_micros(utc_now()),
            None if principal is None else principal.name,
            action,
            target,
            current_request_id.get(),
            "ok",
            reason,
        )

    async def audit_refusal(
        self, principal: Principal | None, action: str, target: str, kind: str, detail: str
    ) -> None:
        """Record a refused mutating request (the refusal had no other effect)."""
        entry = replace(
            self._audit(principal, action, target), outcome=f"refused: {kind}", reason=detail
        )
        with contextlib.suppress(Exception):  # never turn a refusal into a 500
            await self.commit(lambda: Writes(audit=[entry]))

    async def deploy(
        self,
        principal: Principal,
        service: str,
        environment: str,
        version: str,
        *,
        idempotency_key: str | None = None,
        override_reason: str | None = None,
    ) -> ActionResult:
        """Queue `version` of `service` in `environment` (`202` semantics)."""
        body = {"service": service, "environment": environment, "version": version}
        audit = self._audit(principal, "deploy", f"{service}/{environment}", override_reason)
        return await self._act(
            principal,
            Action.DEPLOY,
            audit,
            body,
            idempotency_key,
            lambda: self._checked(
                self.desk.decide_deploy(
                    principal, service, environment, version, audit, override_reason
                )
            ),
        )

    async def promote(
        self,
        principal: Principal,
        service: str,
        from_environment: str,
        to_environment: str | None = None,
        *,
        idempotency_key: str | None = None,
        override_reason: str | None = None,
    ) -> ActionResult:
        """Queue `from_environment`'s current success in the next (or named) environment;
        into an environment that asks for approvals, create a promotion that waits."""
        body = {
            "service": service,
            "from_environment": from_environment,
            "to_environment": to_environment,
        }
        target = f"{service}/{from_environment}->{to_environment or 'next'}"
        audit = self._audit(principal, "promote", target, override_reason)
        return await self._act(
            principal,
            Action.PROMOTE,
            audit,
            body,
            idempotency_key,
            lambda: self._checked(
                self.desk.decide_promote(
                    principal, service, from_environment, to_environment, audit, override_reason
                )
            ),
        )

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlanDoc:
        """What `promote` would do, without doing it."""
        try:
            target, version = await self._read(
                self.desk.promotion, service, from_environment, to_environment
            )
            policy = await self._read(self.guard.policy, target)
        except ActionProblem as exc:
            raise ActionRefused(exc.kind, exc.detail, exc.status) from exc
        driver = self.executor.driver_name(service, target)
        summary = policy.summary()
        summary += f"; runs with the {driver} driver" if driver else "; no driver is configured"
        return PromotionPlanDoc(
            service=service,
            from_environment=from_environment,
            to_environment=target,
            version=version,
            policy=PolicySummary(approvals_required=policy.approvals_required, summary=summary),
        )

    async def rollback_plan(
        self, deployment_id: str, version: str | None = None
    ) -> RollbackPlanDoc:
        """What `rollback` would deploy, without doing it."""
        try:
            return await self._read(self.desk.rollback_plan, deployment_id, version)
        except ActionProblem as exc:
            raise ActionRefused(exc.kind, exc.detail, exc.status) from exc

    async def rollback(
        self,
        principal: Principal,
        deployment_id: str,
        version: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        """Queue the slot's previous successful version (or `version`)."""
        audit = self._audit(principal, "rollback", deployment_id)
        return await self._act(
            principal,
            Action.ROLLBACK,
            audit,
            {"version": version},
            idempotency_key,
            lambda: self._checked(
                self.desk.decide_rollback(principal, deployment_id, version, audit)
            ),
        )

    async def retry(
        self, principal: Principal, deployment_id: str, *, idempotency_key: str | None = None
    ) -> ActionResult:
        """Queue a finished deployment's version in its slot again."""
        audit = self._audit(principal, "retry", deployment_id)
        return await self._act(
            principal,
            Action.RETRY,
            audit,
            {},
            idempotency_key,
            lambda: self._checked(self.desk.decide_retry(principal, deployment_id, audit)),
        )

    async def cancel(
        self, principal: Principal, deployment_id: str, *, idempotency_key: str | None = None
    ) -> ActionResult:
        """End a queued run at once, or stop a running one."""
        audit = self._audit(principal, "cancel", deployment_id)
        return await self._act(
            principal,
            Action.CANCEL,
            audit,
            {},
            idempotency_key,
            lambda: self.desk.decide_cancel(principal, deployment_id, audit),
        )

    def _check_driver(self, service: str, environment: str) -> None:
        if self.executor.driver_name(service, environment) is None:
            raise ActionRefused(
                "no-driver",
                f"no driver is configured to run {service} in {environment}; set "
                "[executor] driver (or a per-environment or per-service one) in the engine's "
                "TOML file",
            )

    def _checked(self, writes: Writes) -> Writes:
        """`writes` if its new run has a driver (checked inside the transaction)."""
        execution = writes.value
        if isinstance(execution, ExecutionRecord):
            self._check_driver(execution.service, execution.environment)
        elif isinstance(execution, PromotionRecord):
            self._check_driver(execution.service, execution.to_environment)
        return writes

    async def _act(
        self,
        principal: Principal,
        action: Action,
        audit: AuditEntry,
        body: Mapping[str, str | None],
        idempotency_key: str | None,
        decide: Callable[[], Writes],
    ) -> ActionResult:
        role_only = decide_permission(
            principal.name, principal.role, principal.scopes, Permission(action.value)
        )
        if not role_only.allowed:  # before anything else: a viewer learns nothing more
            await self.audit_refusal(
                principal, audit.action, audit.target, "forbidden", role_only.reason
            )
            raise Forbidden(role_only.reason)
        idempotency = None
        if idempotency_key is not None:
            if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
                raise InvalidRequest(
                    f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII "
                    "characters that neither start nor end with a space",
                    pointer="/headers/Idempotency-Key",
                )
            fingerprint = request_fingerprint(action, audit.target, body)
            idempotency = (principal.name, idempotency_key, fingerprint)
        committed = await self._decided(principal, audit, decide, idempotency)
        result = ActionResult.model_validate_json(committed.response)
        if committed.replayed:
            return result
        execution = committed.value
        if isinstance(execution, ExecutionRecord):
            if action is Action.CANCEL and execution.state == RUNNING:
                if not self.executor.cancel(execution.deployment_id, principal.name):
                    await self.commit(
                        lambda: self.desk.decide_finish(
                            execution,
                            Status.FAILURE,
                            f"cancelled by {principal.name}: stopped before completing",
                        )
                    )
            else:
                self.executor.kick(execution.service, execution.environment)
        return result

    async def _decided(
        self,
        principal: Principal | None,
        audit: AuditEntry,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        """Commit a decision; a refusal is audited (alone) and raised as `ActionRefused`."""
        try:
            return await self.commit(decide, idempotency)
        except ActionProblem as exc:
            await self.audit_refusal(principal, audit.action, audit.target, exc.kind, exc.detail)
            if exc.kind == "forbidden":
                raise Forbidden(exc.detail) from exc
            raise ActionRefused(exc.kind, exc.detail, exc.status) from exc
        except IdempotencyConflict as exc:
            raise ActionRefused("idempotency-key-reused", str(exc), 422) from exc
        except ActionRefused as exc:
            await self.audit_refusal(principal, audit.action, audit.target, exc.kind, exc.detail)
            raise

    # -- promotions and environments -------------------------------------------------

    async def approve(
        self, principal: Principal, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        """Approve a promotion; at its quorum exactly one deployment is queued."""
        audit = self._audit(principal, "approve", promotion_id, comment)
        committed = await self._decided(
            principal,
            audit,
            lambda: self.promotions.decide_approve(principal, promotion_id, comment, audit),
        )
        if isinstance(committed.value, ExecutionRecord):
            self.executor.kick(committed.value.service, committed.value.environment)
        return await self.promotion(promotion_id)

    async def reject(
        self, principal: Principal, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        """Reject a promotion: its target slot gets a `rejected` row."""
        audit = self._audit(principal, "reject", promotion_id, comment)
        await self._decided(
            principal,
            audit,
            lambda: self.promotions.decide_reject(principal, promotion_id, comment, audit),
        )
        return await self.promotion(promotion_id)

    async def withdraw_promotion(
        self, principal: Principal, promotion_id: str, reason: str | None = None
    ) -> PromotionView:
        """The requester (or an admin) cancels a promotion awaiting approval."""
        audit = self._audit(principal, "cancel-promotion", promotion_id, reason)
        await self._decided(
            principal,
            audit,
            lambda: self.promotions.decide_withdraw(principal, promotion_id, reason, audit),
        )
        return await self.promotion(promotion_id)

    async def promotion(self, promotion_id: str) -> PromotionView:
        """One promotion with its decisions.

        Raises:
            NotFound: no promotion has that id.
        """

        def read() -> PromotionView:
            return self.promotions.view(self.promotions.get(promotion_id))

        try:
            return await self._read(read)
        except ActionProblem as exc:
            raise NotFound(exc.detail) from exc

    async def promotions_page(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> PromotionPage:
        """Promotions newest first; `cursor` is the last id of the previous page."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", pointer="/limit")

        def read() -> PromotionPage:
            found = self.store.promotions(
                status=status,
                service=service,
                environment=environment,
                before=cursor,
                limit=limit + 1,
            )
            more = len(found) > limit
            found = found[:limit]
            items = [self.promotions.view(record) for record in found]
            return PromotionPage(items=items, next_cursor=found[-1].id if more else None)

        return await self._read(read)

    async def pending_for(self, principal: Principal) -> list[PromotionView]:
        """Promotions awaiting approval that `principal` may approve now."""

        def read() -> list[PromotionView]:
            out = []
            for record in self.store.promotions(status=AWAITING, limit=1000):
                policy = self.guard.policy(record.to_environment)
                if not policy.may_approve(principal.name, principal.role):
                    continue
                if not principal.scopes.covers(record.service, record.to_environment):
                    continue
                if record.requester == principal.name and not policy.self_approval:
                    continue
                view = self.promotions.view(record)
                if any(a.principal == principal.name for a in view.approvals):
                    continue
                out.append(view)
            return out

        return await self._read(read)

    async def expire_promotions(self, now: datetime | None = None) -> int:
        """End promotions whose time to be approved has passed; how many."""
        committed = await self.commit(lambda: self.promotions.decide_expire(now or utc_now()))
        return len(committed.value or [])  # type: ignore[arg-type]

    async def environment_views(self) -> list[EnvironmentView]:
        """Every known environment's policy, lock and active freeze, in display order."""

        def read() -> list[EnvironmentView]:
            names = order_environments(
                set(self.store.environments())
                | set(self.config.policies)
                | {r.environment for r in self.store.environment_records()},
                self.config.environment_order,
            )
            return [
                environment_view(self.guard.record(n), self.guard.policy(n), utc_now())
                for n in names
            ]

        return await self._read(read)

    async def environment_view(self, environment: str) -> EnvironmentView:
        """One environment's policy, lock and active freeze."""

        def read() -> EnvironmentView:
            return environment_view(
                self.guard.record(environment), self.guard.policy(environment), utc_now()
            )

        return await self._read(read)

    async def lock(self, principal: Principal, environment: str, reason: str) -> EnvironmentView:
        """Lock an environment: every action on it is refused until it is unlocked."""
        return await self._set_environment(principal, "lock", environment, reason, lock=True)

    async def unlock(
        self, principal: Principal, environment: str, reason: str | None = None
    ) -> EnvironmentView:
        """Lift an environment's lock."""
        return await self._set_environment(principal, "unlock", environment, reason, lock=False)

    async def set_policy(
        self, principal: Principal, environment: str, policy: EnvironmentPolicy
    ) -> EnvironmentView:
        """Replace an environment's policy (overrides the TOML's)."""
        return await self._set_environment(
            principal, "set-policy", environment, policy.summary(), policy=policy
        )

    async def _set_environment(
        self,
        principal: Principal,
        action: str,
        environment: str,
        reason: str | None,
        *,
        lock: bool | None = None,
        policy: EnvironmentPolicy | None = None,
    ) -> EnvironmentView:
        audit = self._audit(principal, action, environment, reason)
        permission = Permission(action)

        def decide_() -> Writes:
            checked = decide_permission(
                principal.name, principal.role, principal.scopes, permission, None, environment
            )
            if not checked.allowed:
                raise ActionProblem("forbidden", checked.reason, 403)
            record = self.guard.record(environment)
            if lock is True:
                record = replace(
                    record,
                    locked_by=principal.name,
                    lock_reason=reason,
                    locked_at=to_micros(utc_now()),
                )
            elif lock is False:
                if record.locked_by is None:
                    raise ActionProblem(
                        "not-locked", f"{environment} is not locked; there is nothing to unlock"
                    )
                record = replace(record, locked_by=None, lock_reason=None, locked_at=None)
            if policy is not None:
                record = replace(record, policy=policy.model_dump_json(by_alias=True))
            view = environment_view(
                record,
                policy or self.guard.policy(environment),
                utc_now(),
            )
            return Writes(
                environments=[record],
                events=[NewEvent("environment", None, view.model_dump_json())],
                audit=[audit],
            )

        await self._decided(principal, audit, decide_)
        return await self.environment_view(environment)

    # -- audit -----------------------------------------------------------------------

    async def audit_page(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        target: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Audit entries newest first; `cursor` continues a listing."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", pointer="/limit")
        before = None
        if cursor is not None:
            if not _AUDIT_CURSOR.fullmatch(cursor):
                raise InvalidRequest("cursor is not one this server issued", pointer="/cursor")
            before = int(cursor)
        found = await self._read(
            functools.partial(
                self.store.audit_entries,
                principal=principal,
                action=action,
                target=target,
                before=before,
                limit=limit + 1,
            )
        )
        more = len(found) > limit
        found = found[:limit]
        return AuditPage(
            items=[audit_view(record) for record in found],
            next_cursor=str(found[-1].seq) if more else None,
        )

    async def verify_audit(self) -> AuditVerdict:
        """Walk the audit chain; the first entry whose hash does not hold, if any."""
        return await self._read(verify_chain, self.store)

    async def _append_run_logs(self, deployment_id: str, lines: list[LogLineIngest]) -> None:
        await self.deployment_logs.append(deployment_id, lines)

    async def execution_state(self, deployment_id: str) -> str | None:
        """`queued`, `running` or `done` for a run of the executor; `None` otherwise."""
        record = await self._read(self.store.execution, deployment_id)
        return None if record is None else record.state

    # -- reads -----------------------------------------------------------------------

    async def list_deployments(
        self,
        filters: DeploymentFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[str], str | None]:
        """A page of row documents, newest first, and the cursor of the next page."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", pointer="/limit")
        f = filters or DeploymentFilters()
        query = DeploymentQuery(
            service=f.service,
            environment=f.environment,
            status=f.status,
            deployment_id=f.deployment_id,
            actor=f.actor,
            text=f.text,
            since=None if f.since is None else to_micros(f.since),
            until=None if f.until is None else to_micros(f.until),
            before=None if cursor is None else decode_cursor(cursor),
            limit=limit + 1,
        )
        rows = await self._read(self.store.list_deployments, query)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1][0], rows[-1][1])
        return [doc for _, _, doc in rows], next_cursor

    async def deployments_page(
        self,
        filters: DeploymentFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
    ) -> DeploymentEventPage:
        """`list_deployments` as typed models."""
        docs, next_cursor = await self.list_deployments(filters, cursor=cursor, limit=limit)
        items = [DeploymentEvent.model_validate_json(doc) for doc in docs]
        return DeploymentEventPage(items=items, next_cursor=next_cursor)

    async def get_deployment_document(self, row_id: str) -> str:
        """One row's JSON document.

        Raises:
            NotFound: no row has that id.
        """
        doc = await self._read(self.store.get_deployment, row_id)
        if doc is None:
            raise NotFound(f"no deployment event has id {row_id}")
        return doc

    async def get_deployment(self, row_id: str) -> DeploymentEvent:
        """One row.

        Raises:
            NotFound: no row has that id.
        """
        return DeploymentEvent.model_validate_json(await self.get_deployment_document(row_id))

    async def environments(self) -> list[str]:
        """Every environment in display order (configured, conventional, alphabetical)."""
        names = await self._read(self.store.environments)
        return order_environments(names, self.config.environment_order)

    async def services(self) -> list[str]:
        """Every service that has a row, sorted."""
        return sorted(await self._read(self.store.services))

    async def matrix_document(self, service: str | None = None) -> MatrixDocument:
        """The matrix as JSON, built from the slot table (never from the log)."""
        seq = self._committed  # read first: the body is at least this fresh
        cached = self._matrix_cache.get(service)
        if cached is not None and cached[0] == seq:
            environments, rows_json = cached[1], cached[2]
        else:
            environments, rows_json = await self._read(self._matrix_rows_json, service)
            if len(self._matrix_cache) > 64:
                self._matrix_cache.clear()
            self._matrix_cache[service] = (seq, environments, rows_json)
        generated = json.dumps(format_rfc3339(utc_now())).encode()
        body = b'{"generated_at":%s,"environments":%s,"rows":%s}' % (
            generated,
            environments,
            rows_json,
        )
        return MatrixDocument(seq, body)

    def _matrix_rows_json(self, service: str | None) -> tuple[bytes, bytes]:
        """The matrix's `environments` and `rows` JSON (runs on a reader thread)."""
        order = order_environments(self.store.environments(), self.config.environment_order)
        rank = {name: index for index, name in enumerate(order)}
        rows_json = self._matrix_fragments.rows_json(self.store, service, rank)
        return json.dumps(order).encode(), rows_json

    async def matrix(self, service: str | None = None) -> Matrix:
        """The matrix as typed models."""
        return Matrix.model_validate_json((await self.matrix_document(service)).body)

    # -- fetcher state ---------------------------------------------------------------

    async def fetcher_state(self, adapter: str) -> FetcherState:
        """An adapter's stored cursor.

        Raises:
            NotFound: nothing is stored for the adapter yet.
        """
        found = await self._read(self.store.get_fetcher_state, adapter)
        if found is None:
            raise NotFound(f"no cursor is stored for adapter {adapter!r} yet")
        cursor, updated = found
        return FetcherState(adapter=adapter, cursor=cursor, updated_at=_from_micros(updated))

    async def put_fetcher_state(self, adapter: str, cursor: str) -> FetcherState:
        """Store an adapter's cursor (latest write wins)."""
        now = utc_now()
        await self._write(self.store.put_fetcher_state, adapter, cursor, to_micros(now))
        return FetcherState(adapter=adapter, cursor=cursor, updated_at=now)

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
            with contextlib.suppress(Exception):  # housekeeping retries next round
                await self._read(self.store.checkpoint)
                if time.monotonic() - last_expiry >= EXPIRE_EVERY_S:
                    last_expiry = time.monotonic()
                    await self.expire_promotions()
                if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    await self.prune_events()

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

    # -- keys ------------------------------------------------------------------------

    async def create_key(
        self,
        name: str,
        role: Role,
        *,
        services: Sequence[str] | None = None,
        environments: Sequence[str] | None = None,
    ) -> tuple[Principal, str]:
        """Create a key for a principal, optionally scoped; the token is returned once and
        never stored."""
        issued: IssuedKey = issue_key()
        await self._write(
            self.store.create_key,
            name,
            role,
            issued.key_id,
            hash_secret(issued.secret),
            to_micros(utc_now()),
            services,
            environments,
        )
        scopes = Scopes.of(services, environments)
        return Principal(name, role, issued.key_id, scopes), issued.token

    async def authenticate(self, token: str | None) -> Principal | None:
        """The principal a token belongs to, or `None` if it is missing, unknown or revoked."""
        if not token:
            return None
        now = time.monotonic()
        cache_key = hash_secret(token)  # the cache never holds a key in clear
        cached = self._keys.get(cache_key)
        if cached is not None and now - cached[0] < KEY_CACHE_S:
            return cached[1]
        parts = split_token(token)
        if parts is None:
            secret_matches(token, None)  # same work as a real comparison
            return None
        key_id, secret = parts
        record: KeyRecord | None = await self._read(self.store.find_key, key_id)
        stored = None if record is None or record.revoked_at is not None else record.secret_hash
        if record is None or not secret_matches(secret, stored):
            return None
        scopes = Scopes.of(record.services, record.environments)
        principal = Principal(record.principal, record.role, record.key_id, scopes)
        if len(self._keys) > 1024:
            self._keys.clear()
        self._keys[cache_key] = (now, principal)
        return principal

    async def ready(self) -> bool:
        """Whether the store answers."""
        try:
            await self._read(self.store.ping)
        except Exception:
            return False
        return True


def _from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


__all__ = ["DeploymentFilters", "Engine", "MatrixDocument", "StoredEvent"]
