"""Service exclusion in the paged reads: the listing, the matrix, its index and windows.

Rows of services that are excluded afterwards (stored before the `[ingest] exclude_services`
patterns were configured) interleave with the others; every read then behaves as if they
were never stored: a listing's pages are full, the matrix and its index neither show nor
count them. On both backends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from shipdeck.domain import DeploymentEventIngest, DeploymentFilters, Status
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.exclusion import IngestConfig, compile_exclusion
from shipdeck.engine.matrix import MatrixQuery, MatrixReader

T = TypeVar("T")

PATTERNS = ["svc-exclude-probe", "probe-ns/probe-*"]
BASE = datetime(2026, 3, 1, tzinfo=UTC)
ENVIRONMENTS = ["dev", "staging", "prod"]


@dataclass(frozen=True)
class Stored:
    deployment_id: str
    service: str
    namespace: str | None
    environment: str
    visible: bool


# Per round, one row of each: excluded rows interleave with kept ones (and share instants).
SERVICES: list[tuple[str, str | None, bool]] = [
    ("kept-a", None, True),
    ("svc-exclude-probe", None, False),  # a name pattern: every namespace
    ("SVC-Exclude-Probe", "team-ns", False),  # case is ignored
    ("kept-b", "team-ns", True),
    ("probe-x", "probe-ns", False),  # a namespace pattern: all of probe-x's rows
    ("probe-y", "probe-ns", False),  # ... and some of probe-y's:
    ("probe-y", None, True),  # a row without a namespace is no `probe-ns/` identity's
    ("probe-y", "other-ns", True),
]
ROUNDS = 7


STATUSES = [Status.SUCCESS, Status.FAILURE, Status.IN_PROGRESS, Status.QUEUED]


def _body(
    n: int, service: str, namespace: str | None, environment: str, status: Status = Status.SUCCESS
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deployment_id": f"d-{n:03d}",
        "service": service,
        "environment": environment,
        "status": status.value,
        # Two rows an instant: the cursor's tie-break (`id`) is crossed too.
        "happened_at": (BASE + timedelta(seconds=n // 2)).isoformat(),
        "version": f"1.{n}",
    }
    if namespace is not None:
        body["namespace"] = namespace
    return body


def _ingest(body: dict[str, Any]) -> DeploymentEventIngest:
    return DeploymentEventIngest.model_validate_json(json.dumps(body))


@pytest.fixture
async def excluding(db_url: str) -> AsyncIterator[tuple[Engine, list[Stored]]]:
    """An engine that excludes `PATTERNS`, over rows stored before it did (and what they
    were: `visible` is whether the exclusion leaves the row)."""
    stored: list[Stored] = []
    before = await Engine.open(db_url, EngineConfig())
    try:
        n = 0
        for round_ in range(ROUNDS):
            for i, (service, namespace, visible) in enumerate(SERVICES):
                # Over the rounds every service has an effective row in every environment.
                environment = ENVIRONMENTS[(round_ + 2 * i) % len(ENVIRONMENTS)]
                status = STATUSES[(round_ + i) % len(STATUSES)]
                await before.ingest(_ingest(_body(n, service, namespace, environment, status)))
                stored.append(Stored(f"d-{n:03d}", service, namespace, environment, visible))
                n += 1
        # An environment only an excluded service deployed to.
        await before.ingest(_ingest(_body(n, "svc-exclude-probe", None, "canary")))
        stored.append(Stored(f"d-{n:03d}", "svc-exclude-probe", None, "canary", False))
    finally:
        await before.close()
    config = EngineConfig(ingest=IngestConfig(exclude_services=PATTERNS))
    engine = await Engine.open(db_url, config)
    try:
        yield engine, stored
    finally:
        await engine.close()


async def _pages(
    engine: Engine, limit: int, filters: DeploymentFilters | None = None
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        docs, cursor = await engine.deployments.documents(filters, cursor=cursor, limit=limit)
        pages.append([json.loads(doc) for doc in docs])
        if cursor is None:
            return pages
        assert len(pages) <= len(SERVICES) * ROUNDS + 1, "the cursor does not move on"


def _check_pages(pages: list[list[dict[str, Any]]], limit: int, expected: list[str]) -> None:
    """Every page full but the last, every expected row exactly once, newest first."""
    assert all(len(page) == limit for page in pages[:-1]), [len(p) for p in pages]
    assert 1 <= len(pages[-1]) <= limit or expected == []
    listed = [row["deployment_id"] for page in pages for row in page]
    assert sorted(listed) == sorted(expected)
    assert len(listed) == len(set(listed))
    rows = [row for page in pages for row in page]
    order = [(row["happened_at"], row["id"]) for row in rows]
    assert order == sorted(order, reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
async def test_every_page_of_the_listing_is_full_without_excluded_rows(
    excluding: tuple[Engine, list[Stored]], limit: int
) -> None:
    engine, stored = excluding
    pages = await _pages(engine, limit)
    _check_pages(pages, limit, [s.deployment_id for s in stored if s.visible])
    exclusion = compile_exclusion(tuple(PATTERNS))
    for page in pages:
        for row in page:
            assert not exclusion.excludes(row["service"], row.get("namespace"))


async def test_filtered_listings_leave_excluded_rows_out_before_the_limit(
    excluding: tuple[Engine, list[Stored]],
) -> None:
    engine, stored = excluding
    for filters, keep in [
        (DeploymentFilters(environment="prod"), lambda s: s.environment == "prod"),
        (DeploymentFilters(service="probe-y"), lambda s: s.service == "probe-y"),
        (DeploymentFilters(namespace="probe-ns"), lambda s: s.namespace == "probe-ns"),
        (DeploymentFilters(service="svc-exclude-probe"), lambda s: s.service[:3] == "svc"),
    ]:
        expected = [s.deployment_id for s in stored if s.visible and keep(s)]
        _check_pages(await _pages(engine, 2, filters), 2, expected)


async def test_the_service_and_environment_lists_leave_out_what_is_wholly_excluded(
    excluding: tuple[Engine, list[Stored]],
) -> None:
    engine, _ = excluding
    # probe-y has rows outside probe-ns: it stays; probe-x has none.
    assert await engine.deployments.services() == ["kept-a", "kept-b", "probe-y"]
    assert "canary" not in await engine.deployments.environments()
    assert set(await engine.deployments.environments()) == set(ENVIRONMENTS)


async def _run(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.to_thread(fn, *args)


def _matrix(engine: Engine) -> MatrixReader:
    """The engine's own matrix (what `GET /api/matrix*` and the TUI read)."""
    return engine.matrix


def _services_of(body: bytes) -> list[str]:
    return [row["service"] for row in json.loads(body)["rows"]]


async def test_the_matrix_its_index_and_windows_neither_show_nor_count_excluded_services(
    excluding: tuple[Engine, list[Stored]],
) -> None:
    engine, _ = excluding
    matrix = _matrix(engine)
    visible = ["kept-a", "kept-b", "probe-y"]

    whole = json.loads((await matrix.document()).body)
    assert [row["service"] for row in whole["rows"]] == visible
    assert "canary" not in whole["environments"]
    counts: dict[str, dict[str, int]] = {}
    for row in whole["rows"]:
        for env, slot in row["slots"].items():
            status = slot["current"]["status"]
            counts.setdefault(env, {})[status] = counts.setdefault(env, {}).get(status, 0) + 1

    index = json.loads((await matrix.index()).body)
    assert [item["service"] for item in index["services"]] == visible
    assert index["total"] == len(visible)
    assert index["counts"] == counts
    assert "canary" not in index["environments"]
    overview = await matrix.overview()
    assert [name for name, _ in overview.services] == visible
    assert overview.environments == index["environments"]

    typed = await matrix.index_page(sort="change")
    assert sorted(change.service for change in typed.services) == visible
    assert (typed.total, typed.counts) == (len(visible), counts)

    # A page at a time: every page full, nothing excluded, no service twice.
    paged: list[str] = []
    cursor: str | None = None
    while True:
        page = json.loads((await matrix.index(limit=1, cursor=cursor)).body)
        assert len(page["services"]) == 1 and page["total"] == len(visible)
        paged.extend(item["service"] for item in page["services"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == visible

    # Filtered: `probe` matches probe-x (hidden) and probe-y.
    probe = json.loads((await matrix.index(q="probe")).body)
    assert [item["service"] for item in probe["services"]] == ["probe-y"]
    assert probe["total"] == 1
    assert sum(n for per in probe["counts"].values() for n in per.values()) == len(
        whole["rows"][2]["slots"]
    )

    window = await matrix.window(["svc-exclude-probe", "kept-a", "probe-x", "SVC-Exclude-Probe"])
    assert _services_of(window.body) == ["kept-a"]
    rows_page = await matrix.select(MatrixQuery(sort="name", limit=2))
    assert _services_of(rows_page.body) == visible[:2]
    assert json.loads(rows_page.body)["total"] == len(visible)
    selected = await matrix.select(MatrixQuery(services=("probe-x", "probe-y"), sort="name"))
    assert _services_of(selected.body) == ["probe-y"]
    assert _services_of((await matrix.document("svc-exclude-probe")).body) == []


async def test_a_service_that_gets_a_row_no_pattern_matches_comes_back(
    excluding: tuple[Engine, list[Stored]],
) -> None:
    engine, _ = excluding
    matrix = _matrix(engine)
    before = json.loads((await matrix.index()).body)
    assert "probe-x" not in [item["service"] for item in before["services"]]
    # No namespace: `probe-ns/probe-*` does not match it, so ingest accepts it.
    await engine.ingest(_ingest(_body(900, "probe-x", None, "dev")))
    index = json.loads((await matrix.index()).body)
    assert [item["service"] for item in index["services"]] == [
        "kept-a",
        "kept-b",
        "probe-x",
        "probe-y",
    ]
    assert index["total"] == 4
    assert "probe-x" in _services_of((await matrix.document()).body)
    assert "probe-x" in await engine.deployments.services()
    probe_x = await _pages(engine, 2, DeploymentFilters(service="probe-x"))
    assert [row["deployment_id"] for page in probe_x for row in page] == ["d-900"]


async def test_without_patterns_nothing_is_hidden(db_url: str) -> None:
    engine = await Engine.open(db_url, EngineConfig())
    try:
        for n, (service, namespace, _) in enumerate(SERVICES):
            await engine.ingest(_ingest(_body(n, service, namespace, "dev")))
        pages = await _pages(engine, 3)
        _check_pages(pages, 3, [f"d-{n:03d}" for n in range(len(SERVICES))])
        index = json.loads((await _matrix(engine).index()).body)
        assert index["total"] == len({service for service, _, _ in SERVICES})
    finally:
        await engine.close()
