"""The audit log: who did what, when, with which outcome, in a hash chain.

Entries are appended in the same transaction as the effect they record (`Writes.audit`);
refusals are appended alone. Each entry's hash covers the previous entry's hash, so editing or
deleting a stored entry breaks the chain from that entry on, which `verify_chain` reports.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime

from ..domain.audit import AuditVerdict, AuditView
from .store import GENESIS_HASH, AuditRecord, Store, chain_hash

current_request_id: ContextVar[str | None] = ContextVar("shipdeck_request_id", default=None)
"""The request being handled (set by the HTTP layer; recorded on its audit entries)."""

VERIFY_BATCH = 5000


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
