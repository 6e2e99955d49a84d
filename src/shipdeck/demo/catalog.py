"""The bundled demo catalogue: services, people, bots and the CI runs they produce.

Everything random is drawn from one `random.Random`, so a seed gives the same catalogue,
the same releases and the same runs every time.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime

from ..domain import DeploymentEvent, DeploymentEventIngest, Status

ENVIRONMENTS: tuple[str, ...] = ("dev", "qa", "uat", "prod")
"""The demo's path to production, in promotion order."""

PROGRESS_REPORTER = "github-actions/demo"
"""What the demo's rows are attributed to (the `X-Progress-Reporter` of a real fetcher)."""

CI_BASE_URL = "https://ci.example.com/acme"

FIRST_RUN = 48_000
"""Run ids start near here; other workflows' runs leave gaps between the demo's."""

CI_BOT = "github-actions[bot]"
DEPENDENCY_BOTS: tuple[str, ...] = ("renovate[bot]", "dependabot[bot]")
PEOPLE: tuple[str, ...] = (
    "alice",
    "bchen",
    "carol.diaz",
    "dmitri",
    "erin-oconnor",
    "farah.k",
    "gustavo",
    "hana-sato",
    "ivan.petrov",
    "jules",
    "kwame",
    "lena-m",
)
RELEASE_MANAGERS: tuple[str, ...] = ("carol.diaz", "farah.k", "ivan.petrov", "kwame")
"""The people who approve and run promotions to `uat` and `prod`."""

FAILURES: tuple[str, ...] = (
    "Health check failed: 5xx rate 7.4% over 2% for 3m",
    "Smoke test checkout_happy_path failed (HTTP 502)",
    "Readiness probe timed out on 2 of 6 pods",
    "ImagePullBackOff: manifest unknown for the requested tag",
    "Database migration 0042_add_index timed out after 300s",
    "p99 latency 1.8s over the 800ms SLO during canary",
    "CrashLoopBackOff: missing secret PAYMENTS_API_TOKEN",
    "Contract tests failed: 3 of 148",
)
"""Messages of failed terminal rows."""

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, slots=True)
class DemoService:
    """A service of the demo catalogue."""

    name: str
    first_version: str
    """The version running everywhere when the demo's history begins."""
    releases_per_week: float
    """How often a new version leaves `main`."""
    minutes: float = 1.0
    """How long its deployments take, relative to an average service."""


SERVICES: tuple[DemoService, ...] = (
    DemoService("gateway", "2.31.4", 4),
    DemoService("auth", "3.8.1", 3),
    DemoService("user-profile", "1.12.0", 3),
    DemoService("web-frontend", "5.4.2", 8, 0.7),
    DemoService("checkout-api", "1.42.7", 6),
    DemoService("payments", "4.2.0", 3, 1.4),
    DemoService("billing-worker", "0.19.3", 2.5),
    DemoService("ledger", "2.7.11", 1.5, 2.0),
    DemoService("search", "3.15.2", 5),
    DemoService("recommendations", "0.44.1", 6, 0.8),
    DemoService("catalog", "6.3.9", 4),
    DemoService("inventory", "2.22.4", 4),
    DemoService("shipping", "1.9.6", 2.5),
    DemoService("notifications", "1.33.0", 4, 0.6),
    DemoService("pricing", "0.8.2", 3),
    DemoService("feature-flags", "1.4.0", 2, 0.5),
)


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """The `(major, minor, patch)` of a plain semver string; `None` for anything else."""
    match = _SEMVER.match(text or "")
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def bump_version(version: str, rng: random.Random) -> str:
    """The next version after `version`: mostly a patch, sometimes a minor, rarely a major."""
    parsed = parse_version(version) or (0, 1, 0)
    major, minor, patch = parsed
    roll = rng.random()
    if roll < 0.01:
        return f"{major + 1}.0.0"
    if roll < 0.22:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@dataclass(frozen=True, slots=True)
class Release:
    """One build of a service: a version, the commit it was built from and who merged it."""

    service: str
    version: str
    sha: str
    ref: str
    """Where it was built: `refs/heads/main`, or `refs/pull/<n>/merge` for a preview."""
    author: str

    @property
    def tag(self) -> str:
        """The release tag that promotions deploy from."""
        return f"refs/tags/v{self.version}"


@dataclass(frozen=True, slots=True)
class DemoRun:
    """One CI run (one logical deployment) of a release to an environment."""

    deployment_id: str
    service: str
    environment: str
    version: str | None
    run_number: str | None
    run_url: str | None
    actor: str | None
    ref: str | None
    sha: str | None
    parents: tuple[str, ...] = ()

    @classmethod
    def from_event(cls, event: DeploymentEvent) -> DemoRun:
        """The run a stored row belongs to (to continue a deployment found in the store)."""
        return cls(
            deployment_id=event.deployment_id,
            service=event.service,
            environment=event.environment,
            version=event.version,
            run_number=event.run_number,
            run_url=event.run_url,
            actor=event.actor,
            ref=event.ref,
            sha=event.sha,
            parents=tuple(event.parent_deployments),
        )

    def row(
        self,
        status: Status,
        happened_at: datetime,
        *,
        phase: str | None = None,
        message: str | None = None,
    ) -> DeploymentEventIngest:
        """The ingest body CI would send for this run at one status transition."""
        return DeploymentEventIngest(
            deployment_id=self.deployment_id,
            service=self.service,
            environment=self.environment,
            version=self.version,
            status=status,
            happened_at=happened_at,
            run_url=self.run_url,
            run_number=self.run_number,
            actor=self.actor,
            ref=self.ref,
            sha=self.sha,
            parent_deployments=list(self.parents),
            phase=phase,
            message=message,
        )


def release_of(run: DemoRun) -> Release:
    """The release a run deployed (to promote, re-run or roll back to it)."""
    ref = run.ref if run.ref and not run.ref.startswith("refs/tags/") else "refs/heads/main"
    return Release(run.service, run.version or "0.1.0", run.sha or "", ref, run.actor or CI_BOT)


class DemoCatalog:
    """Mints the demo's releases, actors and runs from one seeded random source."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.services: tuple[DemoService, ...] = SERVICES

    def sha(self) -> str:
        """A full 40-hex-digit commit id."""
        return f"{self.rng.getrandbits(160):040x}"

    def first_release(self, service: DemoService) -> Release:
        """The release running everywhere when the story begins."""
        return Release(service.name, service.first_version, self.sha(), "refs/heads/main", CI_BOT)

    def next_release(self, service: str, after: str) -> Release:
        """A new build of `main` after version `after`, merged by a person or a bot."""
        author = self.rng.choice(PEOPLE)
        if self.rng.random() < 0.15:
            author = self.rng.choice(DEPENDENCY_BOTS)
        version = bump_version(after, self.rng)
        return Release(service, version, self.sha(), "refs/heads/main", author)

    def preview_release(self, service: str, after: str) -> Release:
        """A pull-request preview build (deployed to `dev` only, never promoted)."""
        pr = self.rng.randint(400, 2400)
        version = f"{bump_version(after, self.rng)}-pr.{pr}"
        author = self.rng.choice(PEOPLE)
        return Release(service, version, self.sha(), f"refs/pull/{pr}/merge", author)

    def actor_for(self, release: Release, environment: str) -> str:
        """Who a deployment is attributed to: CI for `dev`/`qa`, a release manager beyond."""
        if environment == ENVIRONMENTS[0]:
            return release.author if self.rng.random() < 0.4 else CI_BOT
        if environment == ENVIRONMENTS[1]:
            return CI_BOT
        return self.rng.choice(RELEASE_MANAGERS)

    def failure(self) -> str:
        """A plausible reason for a failed deployment."""
        return self.rng.choice(FAILURES)

    def run(
        self,
        release: Release,
        environment: str,
        run_number: int,
        *,
        attempt: int = 1,
        parents: tuple[str, ...] = (),
        actor: str | None = None,
    ) -> DemoRun:
        """The CI run deploying `release` to `environment` (`gh-<run>-<attempt>`)."""
        ref = release.ref if environment == ENVIRONMENTS[0] else release.tag
        run_url = f"{CI_BASE_URL}/{release.service}/runs/{run_number}"
        if attempt > 1:
            run_url += f"/attempts/{attempt}"
        return DemoRun(
            deployment_id=f"gh-{run_number}-{attempt}",
            service=release.service,
            environment=environment,
            version=release.version,
            run_number=str(run_number),
            run_url=run_url,
            actor=actor or self.actor_for(release, environment),
            ref=ref,
            sha=release.sha,
            parents=parents,
        )
