"""Errors the engine raises for callers to turn into problems."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every refusal the engine explains to its caller."""

    status = 400
    kind = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


class InvalidRequest(EngineError):
    """A parameter is malformed (a cursor, a date, a limit)."""

    status = 422
    kind = "validation"
    title = "Request validation failed"


class NotFound(EngineError):
    """The thing asked for does not exist."""

    status = 404
    kind = "not-found"
    title = "Not found"


class Unauthorized(EngineError):
    """No key, or a key that is unknown or revoked."""

    status = 401
    kind = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(EngineError):
    """A valid key whose role may not do this."""

    status = 403
    kind = "forbidden"
    title = "Not allowed"


class ActionRefused(EngineError):
    """An action the engine will not take; `kind` names the reason (e.g. `slot-busy`)."""

    def __init__(self, kind: str, detail: str, status: int = 409) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.title = _TITLES.get(kind, "Action refused")


_TITLES = {
    "already-decided": "Already decided",
    "already-finished": "Deployment already finished",
    "approval-required": "Approval required",
    "environment-locked": "Environment locked",
    "freeze-window": "Freeze window",
    "not-locked": "Not locked",
    "promotion-closed": "Promotion already decided",
    "promotion-expired": "Promotion expired",
    "self-approval": "Self-approval not allowed",
    "idempotency-key-reused": "Idempotency-Key reused",
    "last-environment": "No environment to promote to",
    "no-driver": "No driver configured",
    "not-executable": "Not started by shipdeck",
    "not-finished": "Deployment not finished",
    "not-found": "Not found",
    "nothing-to-promote": "Nothing to promote",
    "nothing-to-roll-back": "Nothing to roll back to",
    "same-environment": "Same environment",
    "unknown-version": "Unknown version",
}
