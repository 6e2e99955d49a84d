"""The demo's present: a scripted last day per service, so the matrix opens on a story.

Whatever the seed, the matrix shows a failed production deployment (with its last good
version), one that was rolled back, two deployments running again after a failure, a
promotion waiting for approval, a release that passed `uat` and is ready for production (the
demo's colleagues ask shipdeck to promote it), a queued and a pending promotion, and a broken
`dev`; the seed only picks which services they happen to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from ..domain import Status
from ._history import DEV, PROD, QA, UAT, HistoryPlanner, PlannedDeployment
from .catalog import ENVIRONMENTS, DemoService, Release

PRESENT_HOURS = {DEV: (20.0, 22.0), QA: (14.0, 16.0), UAT: (8.0, 10.0), PROD: (4.0, 6.0)}
"""When (hours before `now`) the scripted present deploys to each environment."""

PresentScript = Callable[[DemoService, Release], None]
"""Scripts a service's last day, given its latest release."""


class PresentScripts:
    """The scripts of the present, written on top of a planner that holds the past."""

    def __init__(self, planner: HistoryPlanner) -> None:
        self.planner = planner
        self.catalog = planner.catalog
        self.rng = planner.rng

    def assign(self, services: Sequence[DemoService]) -> dict[str, PresentScript]:
        """Give every service a script: each situation once, the rest `steady`."""
        situations: list[PresentScript] = [
            self.prod_failure,
            self.rolled_back,
            self.retrying_qa,
            self.retrying_prod,
            self.awaiting_approval,
            self.ready_for_prod,
            self.queued_qa,
            self.pending_uat,
            self.dev_broken,
        ]
        order = list(services)
        self.rng.shuffle(order)
        return {
            service.name: situations[index] if index < len(situations) else self.steady
            for index, service in enumerate(order)
        }

    # -- helpers ---------------------------------------------------------------------

    def _ago(self, low_minutes: float, high_minutes: float) -> datetime:
        return self.planner.now - self.planner.minutes(low_minutes, high_minutes)

    def _release(self, after: Release) -> Release:
        return self.catalog.next_release(after.service, after.version)

    def _chain(
        self, release: Release, depth: int, last: Status = Status.SUCCESS
    ) -> list[PlannedDeployment]:
        """Promote `release` through the first `depth` environments; the last ends `last`."""
        chain: list[PlannedDeployment] = []
        parent: PlannedDeployment | None = None
        for index, env in enumerate(ENVIRONMENTS[:depth]):
            at = self.planner.now - self.planner.hours(*PRESENT_HOURS[env])
            outcome = last if index == depth - 1 else Status.SUCCESS
            parent = self.planner.deploy(
                release, env, at, parent=parent, outcome=outcome, gate=env == PROD, queue=False
            )
            chain.append(parent)
        return chain

    # -- the situations --------------------------------------------------------------

    def steady(self, service: DemoService, latest: Release) -> None:
        """A release went some of the way, all green; `dev` may already hold a newer one."""
        release = self._release(latest)
        self._chain(release, self.rng.randint(1, len(ENVIRONMENTS)))
        if self.rng.random() < 0.5:
            newer = self._release(release)
            self.planner.deploy(newer, DEV, self._ago(60, 360), outcome=Status.SUCCESS)

    def prod_failure(self, service: DemoService, latest: Release) -> None:
        """Production failed an hour or more ago; its last good version is still known."""
        self._chain(self._release(latest), len(ENVIRONMENTS), Status.FAILURE)

    def rolled_back(self, service: DemoService, latest: Release) -> None:
        """Production failed and a release manager rolled it back."""
        chain = self._chain(self._release(latest), len(ENVIRONMENTS), Status.FAILURE)
        self.planner.rollback(chain[-1])

    def retrying_qa(self, service: DemoService, latest: Release) -> None:
        """`qa` failed overnight; a fix went through `dev` and is deploying to `qa` now."""
        broken = self._release(latest)
        self._chain(broken, 2, Status.FAILURE)
        fix = self._release(broken)
        dev = self.planner.deploy(fix, DEV, self._ago(40, 60), outcome=Status.SUCCESS, queue=False)
        self.planner.deploy(
            fix, QA, self._ago(2, 5), parent=dev, outcome=Status.IN_PROGRESS, queue=False
        )

    def retrying_prod(self, service: DemoService, latest: Release) -> None:
        """Production failed; someone re-runs the failed run (attempt 2), running now."""
        chain = self._chain(self._release(latest), len(ENVIRONMENTS), Status.FAILURE)
        self.planner.rerun(chain[-1], self._ago(1, 4), Status.IN_PROGRESS)

    def awaiting_approval(self, service: DemoService, latest: Release) -> None:
        """A release passed `uat`; its promotion to production waits for an approval."""
        release = self._release(latest)
        chain = self._chain(release, 3)
        self.planner.announce(
            release,
            PROD,
            Status.WAITING,
            self._ago(5, 50),
            parent=chain[-1],
            message="Waiting for approval: release-managers",
        )

    def ready_for_prod(self, service: DemoService, latest: Release) -> None:
        """A release passed `uat` this morning; production still runs an older one."""
        self._chain(self._release(latest), 3)

    def queued_qa(self, service: DemoService, latest: Release) -> None:
        """A release just reached `dev`; its promotion to `qa` is queued."""
        release = self._release(latest)
        dev = self.planner.deploy(
            release, DEV, self._ago(30, 50), outcome=Status.SUCCESS, queue=False
        )
        self.planner.announce(release, QA, Status.QUEUED, self._ago(1, 4), parent=dev)

    def pending_uat(self, service: DemoService, latest: Release) -> None:
        """A release passed `qa`; its promotion to `uat` was just requested."""
        release = self._release(latest)
        chain = self._chain(release, 2)
        self.planner.announce(release, UAT, Status.PENDING, self._ago(2, 10), parent=chain[-1])

    def dev_broken(self, service: DemoService, latest: Release) -> None:
        """The latest build failed in `dev` within the hour."""
        release = self._release(latest)
        self.planner.deploy(release, DEV, self._ago(20, 60), outcome=Status.FAILURE, queue=False)
