"""The contract's status vocabulary and the groups the matrix reduction uses."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """State carried by one event row (exactly the contract's enum, in its order)."""

    PENDING = "pending"
    QUEUED = "queued"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


EFFECTIVE: frozenset[Status] = frozenset({Status.IN_PROGRESS, Status.SUCCESS, Status.FAILURE})
"""Statuses that make a row the slot's live deployment (`current`)."""

NON_EFFECTIVE: frozenset[Status] = frozenset(Status) - EFFECTIVE
"""Statuses of rows that never became live (`next` candidates)."""

TERMINAL: frozenset[Status] = frozenset({Status.SUCCESS, Status.FAILURE})
"""Statuses that end a run; `prev_failed` looks at the latest of these."""

STATUS_CHOICES = "|".join(s.value for s in Status)
