"""The audit log: who did what, when, with which outcome, in a hash chain.

Entries are appended in the same transaction as the effect they record (`Writes.audit`);
refusals are appended alone. Each entry's hash covers the previous entry's hash, so editing or
deleting a stored entry breaks the chain from that entry on, which `verify_chain` reports.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from ..domain import ActionProblem, to_micros
from ..domain.audit import AUDIT_CURSOR_PATTERN, AuditPage, AuditVerdict, AuditView
from .cursors import check_limit
from .errors import ActionRefused, Forbidden, InvalidRequest
from .keys import Principal
from .logs import Runner
from .store import (
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    Committed,
    IdempotencyConflict,
    Store,
    Writes,
    chain_hash,
)

log = logging.getLogger(__name__)

current_request_id: ContextVar[str | None] = ContextVar("shipdeck_request_id", default=None)
"""The request being handled (set by the HTTP layer; recorded on its audit entries)."""

VERIFY_BATCH = 5000
_AUDIT_CURSOR = re.compile(AUDIT_CURSOR_PATTERN)


class Commit(Protocol):
    """`Engine.commit`: run a decision in one write transaction and publish its rows."""

    def __call__(
        self, decide: Callable[[], Writes], idempotency: tuple[str, str, str] | None = None, /
    ) -> Awaitable[Committed]: ...


def audit_view(record: AuditRecord) -> AuditView:
    """A stored entry as the API shows it."""
    entry = record.entry
    return AuditView(
        seq=record.seq,
        at=datetime.fromtimestamp(entry.at / 1_000_000, UTC),
        principal=entry.principal,
        action=entry.action,
        target=entry.target,
        request_id=entry.request_id,
        outcome=entry.outcome,
        reason=entry.reason,
        hash=record.hash,
    )


def verify_chain(store: Store) -> AuditVerdict:
    """Recompute every link, oldest first; stop at the first that does not hold."""
    prev, after, checked = GENESIS_HASH, 0, 0
    while True:
        batch = store.audit_entries(after=after, limit=VERIFY_BATCH)
        if not batch:
            return AuditVerdict(
                ok=True, entries=checked, detail=f"all {checked} entries are intact"
            )
        for record in batch:
            if record.prev_hash != prev or chain_hash(prev, record.entry) != record.hash:
                return AuditVerdict(
                    ok=False,
                    entries=checked,
                    broken_at=record.seq,
                    detail=f"entry {record.seq} does not match the chain: it, or one before "
                    "it, was changed or removed after it was written",
                )
            prev = record.hash
            checked += 1
        after = batch[-1].seq


class AuditTrail:
    """The engine's audit log: entries for requests, refusals, the page and the chain check."""

    def __init__(
        self, store: Store, read: Runner, commit: Commit, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self._read = read
        self._commit = commit
        self.clock = clock

    def entry(
        self, principal: Principal | None, action: str, target: str, reason: str | None = None
    ) -> AuditEntry:
        """An `ok` audit entry for a request handled now (refusals replace the outcome)."""
        return AuditEntry(
            to_micros(self.clock()),
            None if principal is None else principal.name,
            str(action),  # a domain `Action`/`Permission` is stored by its value
            target,
            current_request_id.get(),
            "ok",
            reason,
        )

    async def refusal(
        self, principal: Principal | None, action: str, target: str, kind: str, detail: str
    ) -> None:
        """Record a refused mutating request (the refusal had no other effect)."""
        entry = replace(
            self.entry(principal, action, target), outcome=f"refused: {kind}", reason=detail
        )
        try:
            await self._commit(lambda: Writes(audit=[entry]))
        except Exception:  # never turn a refusal into a 500
            log.exception("could not audit the refusal of %s on %s", action, target)

    async def decided(
        self,
        principal: Principal | None,
        audit: AuditEntry,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        """Commit a decision; a refusal is audited (alone) and raised as `ActionRefused`."""
        try:
            return await self._commit(decide, idempotency)
        except ActionProblem as exc:
            await self.refusal(principal, audit.action, audit.target, exc.kind, exc.detail)
            if exc.kind == "forbidden":
                raise Forbidden(exc.detail) from exc
            raise ActionRefused(exc.kind, exc.detail, exc.status) from exc
        except IdempotencyConflict as exc:
            raise ActionRefused("idempotency-key-reused", str(exc), 422) from exc
        except ActionRefused as exc:
            await self.refusal(principal, audit.action, audit.target, exc.kind, exc.detail)
            raise

    async def page(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        target: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Audit entries newest first; `cursor` continues a listing."""
        check_limit(limit)
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

    async def verify(self) -> AuditVerdict:
        """Walk the audit chain; the first entry whose hash does not hold, if any."""
        return await self._read(verify_chain, self.store)


__all__ = ["AuditTrail", "Commit", "audit_view", "current_request_id", "verify_chain"]
