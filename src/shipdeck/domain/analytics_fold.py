"""What each row of the log adds to the analytics, as pure folds.

The store keeps the analytics up to date one appended row at a time, in the append's own
transaction, and can rebuild them from the whole log; both go through these functions, so
the two cannot disagree. Definitions (docs/api.md, "Analytics", says the same in words):

- a row adds one to its status in its UTC hour (`status`);
- a logical deployment (`deployment_id`) is counted once: on the day of its first row
  (`started`, the promotion funnel), on the day of its first success with the actor of its
  first row (`deployer`), and, once it has a final row (success, failure, cancelled,
  rejected), with its duration — first row to latest final row — on that final row's day
  (`duration`);
- an incident is a run of failures in a slot `(service, environment)`, ordered by
  `happened_at` then arrival, and the success that ends it; its time to restore counts on
  the day of that success (`restore`);
- a success or failure that names parents counts, per parent, the time from the parent's
  first row to it (`lead`), on its own day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from .analytics_math import bucket_of, day_of, hour_of
from .logs import FINAL
from .status import Status

Scope = tuple[str, str, str]
"""`(service, namespace, environment)`; no namespace is `""`."""
UNKNOWN_ACTOR = "unknown"


@dataclass(frozen=True, slots=True)
class Contribution:
    """One count (and a duration sum, µs) that a fact adds to a bucket of a kind."""

    scope: Scope
    kind: str
    bucket: int
    key: str
    total: int = 0


def status_contribution(scope: Scope, at: int, status: Status) -> Contribution:
    """A row, in its status and hour."""
    return Contribution(scope, "status", hour_of(at), status.value)


def timed(scope: Scope, kind: str, at: int, duration: int) -> Contribution | None:
    """A positive duration that counts on the day of `at`; `None` if not positive."""
    if duration <= 0:
        return None
    return Contribution(scope, kind, day_of(at), str(bucket_of(duration)), duration)


# -- logical deployments ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    """What the analytics keep of one logical deployment."""

    scope: Scope
    """Of its first row seen."""
    first_at: int
    first_arr: int
    actor: str | None
    """Of its first row (by `happened_at`, then arrival)."""
    end_at: int | None = None
    """Its latest final row's `happened_at`."""
    success_at: int | None = None
    """Its first success's `happened_at`."""


def fold_deployment(
    facts: DeploymentFacts | None,
    scope: Scope,
    at: int,
    arrival: int,
    status: Status,
    actor: str | None,
) -> DeploymentFacts:
    """The facts after one more row of the deployment, whatever order rows arrive in."""
    if facts is None:
        facts = DeploymentFacts(scope, at, arrival, actor)
    elif (at, arrival) < (facts.first_at, facts.first_arr):
        facts = replace(facts, first_at=at, first_arr=arrival, actor=actor)
    if status in FINAL and (facts.end_at is None or at > facts.end_at):
        facts = replace(facts, end_at=at)
    if status is Status.SUCCESS and (facts.success_at is None or at < facts.success_at):
        facts = replace(facts, success_at=at)
    return facts


def deployment_contributions(facts: DeploymentFacts | None) -> list[Contribution]:
    """What a deployment counts for (nothing before its first row)."""
    if facts is None:
        return []
    scope = facts.scope
    found = [Contribution(scope, "started", day_of(facts.first_at), "")]
    if facts.end_at is not None:
        duration = timed(scope, "duration", facts.end_at, facts.end_at - facts.first_at)
        if duration is not None:
            found.append(duration)
    if facts.success_at is not None:
        actor = facts.actor or UNKNOWN_ACTOR
        found.append(Contribution(scope, "deployer", day_of(facts.success_at), actor))
    return found


# -- incidents --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Terminal:
    """A success or failure in a slot's timeline."""

    at: int
    arrival: int
    failed: bool
    namespace: str = ""

    @property
    def key(self) -> tuple[int, int]:
        """Its place in the slot's timeline."""
        return (self.at, self.arrival)


@dataclass(frozen=True, slots=True)
class IncidentSpan:
    """An incident: its first failure and the success that ended it (if any yet)."""

    failed: tuple[int, int]
    namespace: str
    restored: tuple[int, int] | None = None


class IncidentChange(Enum):
    """What one more success or failure does to a slot's incidents (see `change_of`)."""

    NONE = "none"
    OPEN = "open"
    """A new incident starts at the row, ended by the next terminal row if a success."""
    EARLIER = "earlier"
    """The incident that started at the next terminal row now starts at the row."""
    CLOSE = "close"
    """The row ends the incident holding the previous terminal row; if the next terminal
    row is a failure, it starts an incident ended by the old ending."""


def change_of(
    previous: Terminal | None, following: Terminal | None, row: Terminal
) -> IncidentChange:
    """How a terminal row changes its slot's incidents, from its neighbours in the slot's
    timeline (the terminal rows just before and just after it)."""
    if row.failed:
        if previous is not None and previous.failed:
            return IncidentChange.NONE  # inside the incident of the failures before it
        if following is not None and following.failed:
            return IncidentChange.EARLIER
        return IncidentChange.OPEN
    if previous is not None and previous.failed:
        return IncidentChange.CLOSE
    return IncidentChange.NONE  # a success while healthy


def reduce_incidents(timeline: Iterable[Terminal]) -> list[IncidentSpan]:
    """Every incident of one slot's terminal rows, given in timeline order."""
    found: list[IncidentSpan] = []
    open_at: Terminal | None = None
    for row in timeline:
        if row.failed:
            open_at = open_at or row
        elif open_at is not None:
            found.append(IncidentSpan(open_at.key, open_at.namespace, row.key))
            open_at = None
    if open_at is not None:
        found.append(IncidentSpan(open_at.key, open_at.namespace))
    return found


def restore_contribution(
    service: str, environment: str, incident: IncidentSpan
) -> Contribution | None:
    """An ended incident's time to restore, on the day it ended."""
    if incident.restored is None:
        return None
    scope = (service, incident.namespace, environment)
    return timed(scope, "restore", incident.restored[0], incident.restored[0] - incident.failed[0])


def lead_contribution(scope: Scope, at: int, parent_first: int | None) -> Contribution | None:
    """A terminal row's time from a parent's first row, on the row's day."""
    if parent_first is None:
        return None
    return timed(scope, "lead", at, at - parent_first)
