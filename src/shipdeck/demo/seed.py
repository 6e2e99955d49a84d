"""Seed an engine with weeks of demo history, reported through `Engine.ingest` as CI would."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from ..domain import DeploymentEventIngest
from ..engine import Engine
from ._history import HistoryPlanner, PlannedDeployment
from ._present import PresentScripts
from .catalog import FIRST_RUN, PROGRESS_REPORTER, DemoCatalog, DemoRun

INGEST_BATCH = 64
"""Rows handed to the engine's writer at once (it still appends them one by one, in order)."""


def number_runs(
    planned: Sequence[PlannedDeployment], catalog: DemoCatalog
) -> dict[PlannedDeployment, DemoRun]:
    """Give every planned deployment its CI run, run ids growing with start time.

    A re-run keeps the run id of the attempt it repeats and takes the next attempt number.
    """
    runs: dict[PlannedDeployment, DemoRun] = {}
    attempts: dict[PlannedDeployment, int] = {}
    run_id = FIRST_RUN + catalog.rng.randrange(2_000)
    for deployment in sorted(planned, key=lambda d: d.start):
        parents = () if deployment.parent is None else (runs[deployment.parent].deployment_id,)
        original = deployment.rerun_of
        if original is None:
            run_id += catalog.rng.randint(1, 6)
            number, attempts[deployment] = run_id, 1
        else:
            number, attempts[deployment] = (
                int(runs[original].run_number or 0),
                attempts[original] + 1,
            )
        runs[deployment] = catalog.run(
            deployment.release,
            deployment.environment,
            number,
            attempt=attempts[deployment],
            parents=parents,
            actor=deployment.actor,
        )
    return runs


def plan_demo(*, now: datetime, weeks: int = 4, seed: int = 7) -> list[DeploymentEventIngest]:
    """Every row of the demo's history, in the order CI would have reported them.

    Args:
        now: the end of the history; every row happened at or before it.
        weeks: how far back the history goes.
        seed: the random seed; the same seed and `now` give the same rows.
    """
    catalog = DemoCatalog(seed)
    planner = HistoryPlanner(catalog, now=now, weeks=weeks)
    scripts = PresentScripts(planner).assign(catalog.services)
    for service in catalog.services:
        latest = planner.history(service)
        scripts[service.name](service, latest)
    runs = number_runs(planner.deployments, catalog)
    timed = [
        (at, run.row(status, at, message=message))
        for deployment, run in runs.items()
        for status, at, message in deployment.steps
    ]
    timed.sort(key=lambda pair: pair[0])
    return [row for _, row in timed]


async def seed_demo(engine: Engine, *, now: datetime, weeks: int = 4, seed: int = 7) -> int:
    """Ingest the demo's history into `engine`, exactly as if CI had reported it.

    Args:
        engine: an open engine (normally on an empty store).
        now: the end of the history; every row happened at or before it.
        weeks: how far back the history goes.
        seed: the random seed; the same seed and `now` give the same rows.

    Returns:
        The number of rows ingested.
    """
    rows = plan_demo(now=now, weeks=weeks, seed=seed)
    for start in range(0, len(rows), INGEST_BATCH):
        batch = rows[start : start + INGEST_BATCH]
        # The writer is one thread: rows are appended in submission order, so gathering only
        # saves the event loop's round trips, never reorders the log.
        await asyncio.gather(
            *(engine.ingest(row, progress_reporter=PROGRESS_REPORTER) for row in batch)
        )
    return len(rows)
