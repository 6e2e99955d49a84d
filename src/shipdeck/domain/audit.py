"""The audit log as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, field_serializer

from .timestamps import format_rfc3339

AUDIT_CURSOR_PATTERN = r"^[0-9]{1,18}$"
"""An audit page's cursor: the `seq` it continues before (18 digits always fit the store)."""


class AuditView(BaseModel):
    """One decision on a mutating request."""

    seq: int
    at: datetime
    principal: str | None
    action: str
    target: str
    request_id: str | None
    outcome: str
    """`ok`, or `refused: <kind>`."""
    reason: str | None
    hash: str
    """SHA-256 over the previous entry's hash and this entry's fields."""

    @field_serializer("at")
    def _at(self, value: datetime) -> str:
        return format_rfc3339(value)


class AuditPage(BaseModel):
    """A page of `GET /api/audit`, newest first."""

    items: list[AuditView]
    next_cursor: str | None = None


class AuditVerdict(BaseModel):
    """The result of walking the audit chain."""

    ok: bool
    entries: int
    """Entries checked."""
    broken_at: int | None = None
    """The `seq` of the first entry whose link does not hold."""
    detail: str


__all__ = ["AUDIT_CURSOR_PATTERN", "AuditPage", "AuditVerdict", "AuditView"]
