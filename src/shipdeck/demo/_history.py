"""Plans the demo's past: weeks of releases flowing dev → qa → uat → prod.

The plan is pure (no I/O): logical deployments with their status transitions, linked to
their upstream deployment. Run numbers are given afterwards in start order, so they grow
with time across every service, as a CI system's run ids do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import Status
from .catalog import ENVIRONMENTS, RELEASE_MANAGERS, DemoCatalog, DemoService, Release

DEV, QA, UAT, PROD = ENVIRONMENTS

RELEASES_UNTIL = timedelta(hours=40)
"""The random history releases nothing later than this before `now`."""
PROMOTIONS_UNTIL = timedelta(hours=26)
"""… and promotes nothing later than this; the scripted present follows."""

PROMOTE_CHANCE = {QA: 0.85, UAT: 0.6, PROD: 0.55}
FAIL_CHANCE = {DEV: 0.1, QA: 0.08, UAT: 0.06, PROD: 0.05}
GAP_HOURS = {QA: (0.3, 6.0), UAT: (2.0, 30.0), PROD: (3.0, 48.0)}
"""How long a release waits in the upstream environment before its promotion."""
DEPLOY_MINUTES = {DEV: (2.0, 6.0), QA: (3.0, 8.0), UAT: (4.0, 10.0), PROD: (6.0, 16.0)}
PRESENT_HOURS = {DEV: (20.0, 22.0), QA: (14.0, 16.0), UAT: (8.0, 10.0), PROD: (3.0, 5.0)}
"""When (hours before `now`) the scripted present deploys to each environment."""

Step = tuple[Status, datetime, str | None]
"""A status transition: status, `happened_at`, message."""


@dataclass(eq=False)
class PlannedDeployment:
    """One logical deployment of the plan (identity-hashed: it is referred to by object)."""

    release: Release
    environment: str
    actor: str
    parent: PlannedDeployment | None = None
    """The upstream deployment this one promotes."""
    rerun_of: PlannedDeployment | None = None
    """The failed attempt this one re-runs (same run, next attempt)."""
    steps: list[Step] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        """When its first row happened."""
        return self.steps[0][1]

    @property
    def end(self) -> datetime:
        """When its latest row happened."""
        return self.steps[-1][1]

    @property
    def outcome(self) -> Status:
        """The status of its latest row."""
        return self.steps[-1][0]


@dataclass
class _SlotTrack:
    free_at: datetime
    """When the slot's latest deployment reached its last row."""
    good: Release | None = None
    """The latest release that succeeded there."""


class HistoryPlanner:
    """Plans `weeks` of history ending at `now`, then a scripted present for every service."""

    def __init__(self, catalog: DemoCatalog, *, now: datetime, weeks: int) -> None:
        self.catalog = catalog
        self.rng = catalog.rng
        self.now = now.replace(microsecond=0)
        self.start = self.now - timedelta(weeks=weeks)
        self.deployments: list[PlannedDeployment] = []
        self._slots: dict[tuple[str, str], _SlotTrack] = {}
        self._pace = {service.name: service.minutes for service in catalog.services}

    # -- time ------------------------------------------------------------------------

    def minutes(self, low: float, high: float) -> timedelta:
        """A random whole-second duration between `low` and `high` minutes."""
        return timedelta(seconds=round(self.rng.uniform(low, high) * 60))

    def hours(self, low: float, high: float) -> timedelta:
        """A random whole-second duration between `low` and `high` hours."""
        return self.minutes(low * 60, high * 60)

    def _interval(self, service: DemoService) -> timedelta:
        mean_hours = 7 * 24 / service.releases_per_week
        return self.hours(mean_hours * 0.5, mean_hours * 1.5)

    # -- deployments -----------------------------------------------------------------

    def slot(self, service: str, environment: str) -> _SlotTrack:
        """The bookkeeping of one slot."""
        return self._slots.setdefault((service, environment), _SlotTrack(self.start))

    def deploy(
        self,
        release: Release,
        environment: str,
        at: datetime,
        *,
        parent: PlannedDeployment | None = None,
        outcome: Status | None = None,
        gate: bool = False,
        queue: bool = True,
        actor: str | None = None,
        rerun_of: PlannedDeployment | None = None,
        note: str | None = None,
    ) -> PlannedDeployment:
        """Plan one deployment asked for at `at`; it starts once the slot is free.

        Args:
            release: what is deployed.
            environment: where.
            at: when it is asked for.
            parent: the upstream deployment it promotes.
            outcome: `success`, `failure` or `in-progress` (still running); random if omitted.
            gate: it waits for an approval (`waiting`) first.
            queue: it may sit `queued` for a few minutes first.
            actor: who runs it; the catalogue's choice if omitted.
            rerun_of: the failed attempt it re-runs.
            note: the message of its `in-progress` row.
        """
        slot = self.slot(release.service, environment)
        at = max(at, slot.free_at + self.minutes(2, 15))
        actor = actor or self.catalog.actor_for(release, environment)
        deployment = PlannedDeployment(release, environment, actor, parent, rerun_of)
        if gate:
            deployment.steps.append((Status.WAITING, at, "Waiting for approval: release-managers"))
            at += self.minutes(4, 90)
        elif queue and self.rng.random() < 0.15:
            deployment.steps.append((Status.QUEUED, at, None))
            at += self.minutes(1, 8)
        deployment.steps.append((Status.IN_PROGRESS, at, note))
        self._finish(deployment, at, outcome)
        slot.free_at = deployment.end
        self.deployments.append(deployment)
        return deployment

    def _finish(
        self, deployment: PlannedDeployment, began: datetime, outcome: Status | None
    ) -> None:
        env = deployment.environment
        if outcome is None:
            outcome = Status.FAILURE if self.rng.random() < FAIL_CHANCE[env] else Status.SUCCESS
        if outcome is Status.IN_PROGRESS:
            return
        took = self.minutes(*DEPLOY_MINUTES[env]) * self._pace[deployment.release.service]
        ended = (began + took).replace(microsecond=0)
        message = self.catalog.failure() if outcome is Status.FAILURE else None
        deployment.steps.append((outcome, ended, message))
        if outcome is Status.SUCCESS:
            self.slot(deployment.release.service, env).good = deployment.release

    def announce(
        self,
        release: Release,
        environment: str,
        status: Status,
        at: datetime,
        *,
        parent: PlannedDeployment | None = None,
        message: str | None = None,
    ) -> PlannedDeployment:
        """Plan a deployment that has not started yet (`pending`, `queued`, `waiting`)."""
        actor = self.catalog.actor_for(release, environment)
        deployment = PlannedDeployment(release, environment, actor, parent)
        deployment.steps.append((status, at, message))
        self.deployments.append(deployment)
        return deployment

    def rollback(self, failed: PlannedDeployment) -> PlannedDeployment | None:
        """Plan a rollback of a failed deployment to the slot's last good release."""
        good = self.slot(failed.release.service, failed.environment).good
        if good is None:
            return None
        return self.deploy(
            good,
            failed.environment,
            failed.end + self.minutes(6, 30),
            outcome=Status.SUCCESS,
            queue=False,
            actor=self.rng.choice(RELEASE_MANAGERS),
            note=f"Rollback to {good.version}: {failed.release.version} failed",
        )

    def rerun(self, failed: PlannedDeployment, at: datetime, outcome: Status) -> PlannedDeployment:
        """Plan the next attempt of a failed run."""
        return self.deploy(
            failed.release,
            failed.environment,
            at,
            parent=failed.parent,
            outcome=outcome,
            queue=False,
            actor=self.rng.choice(RELEASE_MANAGERS),
            rerun_of=failed,
            note=f"Re-run of attempt that failed: {failed.steps[-1][2] or 'failure'}",
        )

    # -- the random past -------------------------------------------------------------

    def history(self, service: DemoService) -> Release:
        """Plan a service's random past; return its latest release."""
        release = self.catalog.first_release(service)
        at = self.start + self.hours(0, 8)
        parent: PlannedDeployment | None = None
        for env in ENVIRONMENTS:  # the baseline: running everywhere when the story begins
            parent = self.deploy(
                release, env, at, parent=parent, outcome=Status.SUCCESS, queue=False
            )
            at = parent.end + self.minutes(10, 40)
        at = self.start + self._interval(service)
        while at < self.now - RELEASES_UNTIL:
            if self.rng.random() < 0.12:
                preview = self.catalog.preview_release(service.name, release.version)
                self.deploy(preview, DEV, at)
                at += self.minutes(30, 180)
            release = self.catalog.next_release(service.name, release.version)
            at = self._flow(service, release, at)
        return release

    def _flow(self, service: DemoService, release: Release, at: datetime) -> datetime:
        upstream = self.deploy(release, DEV, at)
        for env in ENVIRONMENTS[1:]:
            if upstream.outcome is not Status.SUCCESS or self.rng.random() > PROMOTE_CHANCE[env]:
                break
            when = upstream.end + self.hours(*GAP_HOURS[env])
            if when > self.now - PROMOTIONS_UNTIL:
                break
            upstream = self.deploy(release, env, when, parent=upstream, gate=env == PROD)
        following = at + self._interval(service)
        if upstream.outcome is Status.FAILURE:
            self._recover(upstream)
            following = min(following, upstream.end + self.hours(0.5, 3))  # fix forward
        return following

    def _recover(self, failed: PlannedDeployment) -> None:
        roll = self.rng.random()
        if failed.environment in (UAT, PROD):
            if roll < 0.5:
                self.rollback(failed)
            elif roll < 0.75:
                self.rerun(failed, failed.end + self.minutes(5, 40), Status.SUCCESS)
        elif roll < 0.35:
            self.rerun(failed, failed.end + self.minutes(5, 40), Status.SUCCESS)
