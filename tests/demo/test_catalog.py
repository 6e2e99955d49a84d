"""The demo catalogue: enough realistic services, and versions that move forward."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from shipdeck.demo import SERVICES, DemoCatalog
from shipdeck.demo.catalog import bump_version, parse_version
from shipdeck.domain import Status


def test_catalogue_has_enough_distinct_services() -> None:
    names = [service.name for service in SERVICES]
    assert len(set(names)) == len(names) >= 14
    assert {"checkout-api", "payments", "web-frontend", "gateway"} <= set(names)
    assert all(parse_version(service.first_version) for service in SERVICES)


def test_versions_only_move_forward() -> None:
    rng = random.Random(0)
    version = "1.9.9"
    kinds = set()
    for _ in range(500):
        bumped = bump_version(version, rng)
        old, new = parse_version(version), parse_version(bumped)
        assert old is not None and new is not None and new > old
        kinds.add(next(index for index in range(3) if new[index] != old[index]))
        version = bumped
    assert kinds == {0, 1, 2}


def test_same_seed_same_runs() -> None:
    def runs(seed: int) -> list[tuple[str | None, ...]]:
        catalog = DemoCatalog(seed)
        release = catalog.first_release(catalog.services[0])
        out = []
        for number in range(5):
            release = catalog.next_release(release.service, release.version)
            run = catalog.run(release, "prod", 100 + number)
            out.append((run.deployment_id, run.version, run.sha, run.actor, run.ref))
        return out

    assert runs(3) == runs(3)
    assert runs(3) != runs(4)


def test_a_run_reads_like_a_ci_report() -> None:
    catalog = DemoCatalog(1)
    release = catalog.next_release("search", "3.15.2")
    first = catalog.run(release, "dev", 48_213)
    again = catalog.run(release, "uat", 48_213, attempt=2, parents=("gh-48200-1",))

    assert first.deployment_id == "gh-48213-1"
    assert first.run_url == "https://ci.example.com/acme/search/runs/48213"
    assert first.ref == "refs/heads/main" and len(first.sha or "") == 40
    assert again.deployment_id == "gh-48213-2"
    assert again.run_url == "https://ci.example.com/acme/search/runs/48213/attempts/2"
    assert again.ref == f"refs/tags/v{release.version}"
    row = again.row(Status.QUEUED, datetime(2026, 5, 28, 10, 0, tzinfo=UTC))
    assert row.parent_deployments == ["gh-48200-1"]
    assert row.model_dump()["run_number"] == "48213"
