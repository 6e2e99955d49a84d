"""The seeded demo history: what the matrix opens on, and that it reads as real CI output."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from shipdeck.demo import ENVIRONMENTS, PROGRESS_REPORTER, plan_demo, seed_demo
from shipdeck.demo.catalog import PEOPLE, parse_version
from shipdeck.domain import TERMINAL, Status
from shipdeck.engine import DeploymentFilters, Engine, EngineConfig

from .conftest import NOW, all_rows, by_deployment

ROW_BUDGET = 3_000
"""The demo must open fast: its history stays within this many rows."""


async def test_every_service_is_in_every_environment(engine: Engine) -> None:
    count = await seed_demo(engine, now=NOW)

    assert 0 < count <= ROW_BUDGET
    assert len(await all_rows(engine)) == count
    assert await engine.deployments.environments() == ["dev", "qa", "uat", "prod"]
    matrix = await engine.matrix.get()
    assert len(matrix.rows) >= 12
    for row in matrix.rows:
        assert sorted(row.slots) == sorted(ENVIRONMENTS), row.service


async def test_matrix_opens_on_every_situation(seeded: Engine) -> None:
    slots = [
        (row.service, env, slot)
        for row in (await seeded.matrix.get()).rows
        for env, slot in row.slots.items()
    ]

    upcoming = [slot for _, _, slot in slots if slot.next is not None]
    assert {slot.next.status for slot in upcoming if slot.next} == {
        Status.QUEUED,
        Status.WAITING,
        Status.PENDING,
    }
    for slot in upcoming:
        assert slot.next is not None and slot.next.happened_at > slot.current.happened_at
        assert parse_version(slot.next.version) > parse_version(slot.current.version)

    retrying = [slot for _, _, slot in slots if slot.prev_failed]
    assert 1 <= len(retrying) <= 2
    assert all(slot.current.status is Status.IN_PROGRESS for slot in retrying)

    broken_prod = [
        slot for _, env, slot in slots if env == "prod" and slot.current.status is Status.FAILURE
    ]
    assert broken_prod
    for slot in broken_prod:
        assert slot.last_successful is not None
        assert slot.last_successful.status is Status.SUCCESS
        assert slot.last_successful.version != slot.current.version


async def test_every_parent_is_a_deployment_that_succeeded_first(seeded: Engine) -> None:
    rows = await all_rows(seeded)
    children = {row.deployment_id: row for row in rows if row.parent_deployments}

    assert len(children) > 100
    parents = {parent for row in children.values() for parent in row.parent_deployments}
    for parent in parents:
        found = await seeded.deployments.page(DeploymentFilters(deployment_id=parent))
        assert found.items, f"{parent} is referred to but was never reported"
    groups = by_deployment(rows)
    for deployment_id, child in children.items():
        (parent,) = child.parent_deployments
        upstream = groups[parent]
        assert upstream[-1].status is Status.SUCCESS, (deployment_id, parent)
        assert upstream[-1].happened_at < groups[deployment_id][0].happened_at
        assert ENVIRONMENTS.index(upstream[0].environment) == (
            ENVIRONMENTS.index(child.environment) - 1
        )


async def test_each_deployment_is_one_run_reported_in_order(seeded: Engine) -> None:
    rows = await all_rows(seeded)
    groups = by_deployment(rows)

    assert all(row.happened_at <= NOW for row in rows)
    assert len(groups) < len(rows) / 1.8  # mostly in-progress, then an outcome
    for deployment_id, group in groups.items():
        assert re.fullmatch(r"gh-\d+-\d", deployment_id)
        times = [row.happened_at for row in group]
        assert times == sorted(times) and len(set(times)) == len(times), deployment_id
        statuses = [row.status for row in group]
        assert sum(status in TERMINAL for status in statuses) <= 1
        assert statuses[-1] in TERMINAL or group[-1].happened_at > NOW.replace(hour=0)
        assert len({(row.service, row.environment, row.version, row.sha) for row in group}) == 1
    for row in rows:
        assert row.progress_reporter == PROGRESS_REPORTER
        assert row.trigger == "ingest"
        assert row.run_url is not None
        assert row.run_url.startswith(f"https://ci.example.com/acme/{row.service}/runs/")


def test_history_reads_like_real_ci() -> None:
    rows = plan_demo(now=NOW)
    actors = {row.actor for row in rows}
    refs = {row.ref or "" for row in rows}

    assert {"github-actions[bot]", "renovate[bot]"} <= actors
    assert actors & set(PEOPLE)
    assert any(ref.startswith("refs/pull/") for ref in refs)
    assert all(row.ref == f"refs/tags/v{row.version}" for row in rows if row.environment != "dev")
    assert {row.status for row in rows} == set(Status) - {Status.CANCELLED, Status.REJECTED}
    messages = [row.message or "" for row in rows]
    assert any(message.startswith("Rollback to") for message in messages)
    assert any(message.startswith("Re-run") for message in messages)


def test_versions_only_go_back_on_a_rollback() -> None:
    newest: dict[tuple[str, str], tuple[int, int, int]] = {}
    for row in plan_demo(now=NOW):
        if row.status is not Status.IN_PROGRESS or "-pr." in (row.version or ""):
            continue
        version = parse_version(row.version)
        assert version is not None
        slot = (row.service, row.environment)
        if not (row.message or "").startswith("Rollback"):
            assert version >= newest.get(slot, (0, 0, 0)), (slot, row.version)
        newest[slot] = max(newest.get(slot, (0, 0, 0)), version)


def test_history_has_weeks_of_releases_for_every_service() -> None:
    rows = plan_demo(now=NOW, weeks=4)
    first = min(row.happened_at for row in rows)
    assert NOW - first > timedelta(weeks=3, days=5)
    releases = Counter(row.service for row in rows if row.environment == "prod")
    assert min(releases.values()) >= 2
    assert len(plan_demo(now=NOW, weeks=1)) < len(rows) / 2


async def test_same_seed_same_history(engine: Engine, tmp_path: Path) -> None:
    other = await Engine.open(f"sqlite:///{tmp_path / 'again.db'}", EngineConfig())
    try:
        await seed_demo(engine, now=NOW, seed=11)
        await seed_demo(other, now=NOW, seed=11)
        first = [await all_rows(engine), await all_rows(other)]
    finally:
        await other.close()

    def outline(rows: list) -> Counter[tuple]:
        return Counter((r.service, r.environment, r.version, r.status) for r in rows)

    assert outline(first[0]) == outline(first[1])
    assert [r.happened_at for r in first[0]] == [r.happened_at for r in first[1]]
    assert outline(first[0]) != outline(await all_rows_of_seed(tmp_path, seed=12))


async def all_rows_of_seed(tmp_path: Path, *, seed: int) -> list:
    """The rows another seed produces, on a database of their own."""
    engine = await Engine.open(f"sqlite:///{tmp_path / f'seed-{seed}.db'}", EngineConfig())
    try:
        await seed_demo(engine, now=NOW, seed=seed, weeks=1)
        return await all_rows(engine)
    finally:
        await engine.close()
