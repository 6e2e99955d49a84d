"""The rollups kept on append equal a rebuild from the log, whatever the rows and their order.

Random logs — a few slots and deployments, every status, instants that tie and arrive out
of order, parents named before or after they exist — are appended through the store (one
transaction per row, in group-commit batches and as `shipdeck import` batches), then the
tables are compared with what `rebuild_rollups` makes of the same rows. Also: a reset
erases them, and the migration that created them filled them from the rows stored before.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipdeck.domain import DeploymentEventIngest, Status, format_rfc3339, to_micros
from shipdeck.engine.ingest import ingest_row
from shipdeck.engine.store import ImportProgress, NewDeploymentRow, open_store
from shipdeck.engine.store.rollup import ANALYTICS_TABLES

from ..rawdb import RawDB
from .rollups import assert_rollups_follow_the_log, kept_and_rebuilt

SLOTS = [("api", "dev", None), ("api", "prod", None), ("web", "prod", "shop")]
DEPLOYMENTS = ["d1", "d2", "d3", "d4", "d5"]
JUNE = datetime(2026, 6, 1, tzinfo=UTC)


def new_row(spec: tuple[int, int, str, int, list[str]]) -> NewDeploymentRow:
    slot, dep, status, minute, parents = spec
    service, environment, namespace = SLOTS[slot]
    doc: dict[str, Any] = {
        "deployment_id": DEPLOYMENTS[dep],
        "service": service,
        "environment": environment,
        "status": status,
        "happened_at": format_rfc3339(JUNE + timedelta(minutes=minute)),
        "actor": f"actor-{dep}",
    }
    if namespace:
        doc["namespace"] = namespace
    if parents:
        doc["parent_deployments"] = parents
    return ingest_row(DeploymentEventIngest.model_validate_json(json.dumps(doc)))


ROW = st.tuples(
    st.integers(0, len(SLOTS) - 1),
    st.integers(0, len(DEPLOYMENTS) - 1),
    st.sampled_from([s.value for s in Status]),
    st.integers(0, 3 * 1440 - 1).map(lambda m: m - m % 30),  # half-hours: instants tie
    st.lists(st.sampled_from(DEPLOYMENTS), max_size=2, unique=True),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(ROW, min_size=1, max_size=30), batch=st.integers(1, 6))
def test_random_logs_on_sqlite(tmp_path: Path, specs: list[Any], batch: int) -> None:
    url = f"sqlite:///{tmp_path / f'{random.getrandbits(64)}.db'}"
    store = open_store(url)
    try:
        rows = [new_row(spec) for spec in specs]
        for start in range(0, len(rows), batch):
            store.append_deployments([(row, None) for row in rows[start : start + batch]])
    finally:
        store.close()
    assert_rollups_follow_the_log(url)


def test_a_random_log_in_batches_on_both_backends(db_url: str) -> None:
    rnd = random.Random(20260610)
    specs = [
        (
            rnd.randrange(len(SLOTS)),
            rnd.randrange(len(DEPLOYMENTS)),
            rnd.choice(list(Status)).value,
            rnd.randrange(3 * 1440),
            rnd.sample(DEPLOYMENTS, rnd.randrange(3)),
        )
        for _ in range(300)
    ]
    store = open_store(db_url)
    try:
        position = batches = 0
        while position < len(specs):  # single appends, group commits and imports, mixed
            size = rnd.choice([1, 1, 7, 40, 25])
            part = [new_row(spec) for spec in specs[position : position + size]]
            if size == 1:
                store.append_deployment(part[0])
            elif size == 25:  # `shipdeck import` writes through its own store method
                mark = ImportProgress("t", batches + 1, 0, "d", 0, 0, (), 0, 0)
                store.import_deployments(part, None, mark, batches)
                batches += 1
            else:
                store.append_deployments([(row, None) for row in part])
            position += size
    finally:
        store.close()
    kept, _ = kept_and_rebuilt(db_url)
    assert kept["analytics_incidents"] and kept["analytics_lead_edges"]  # the log has both
    assert_rollups_follow_the_log(db_url)


def test_incidents_known_ahead_and_changed_by_late_rows_in_one_batch(db_url: str) -> None:
    """A batch's in-order success ends the incident the slot's latest failure opened,
    even after late rows in the same batch moved the slot's incidents; and a later batch
    ends an incident stored by an earlier one (read ahead with the facts on PostgreSQL)."""
    store = open_store(db_url)
    try:
        store.append_deployments(
            [
                (new_row((1, 0, status, minute, [])), None)
                for status, minute in [
                    ("failure", 100),  # opens an incident
                    ("failure", 50),  # late: the incident starts here now
                    ("success", 60),  # late: ends it; the failure at 100 opens another
                    ("success", 200),  # in order: ends the one that opened at 100
                ]
            ]
        )
        store.append_deployments([(new_row((1, 1, "failure", 400, [])), None)])
        store.append_deployments([(new_row((1, 2, "success", 500, [])), None)])
    finally:
        store.close()
    kept, _ = kept_and_rebuilt(db_url)
    assert len(kept["analytics_incidents"]) == 3
    assert all(row[5] is not None for row in kept["analytics_incidents"])  # all restored
    assert_rollups_follow_the_log(db_url)


def test_a_reset_erases_the_rollups(db_url: str) -> None:
    store = open_store(db_url)
    try:
        store.append_deployment(new_row((1, 0, "failure", 60, ["d2"])))
        store.erase_deployments("test", 0)
    finally:
        store.close()
    with RawDB(db_url) as db:
        for table in ANALYTICS_TABLES:
            assert db.rows(f"SELECT COUNT(*) FROM {table}") == [(0,)], table


def test_the_migration_fills_the_rollups_from_older_rows(db_url: str) -> None:
    """A database at revision 0010 with rows: opening it migrates and backfills."""
    store = open_store(db_url)
    for spec in [
        (1, 0, "in-progress", 0, []),
        (1, 0, "failure", 30, []),
        (1, 1, "success", 90, ["d1"]),
    ]:
        store.append_deployment(new_row(spec))
    store.close()
    with RawDB(db_url) as db:  # back to how revision 0010 left it
        for table in ANALYTICS_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX slots_service_change")  # 0012's
        db.execute("UPDATE alembic_version SET version_num = '0010'")
    open_store(db_url).close()
    kept, _ = kept_and_rebuilt(db_url)
    failed, restored = _minutes(30), _minutes(90)
    incident = ("api", "prod", *failed, 2, "", *restored, 3, restored[0] - failed[0])
    assert kept["analytics_incidents"] == [incident]
    assert_rollups_follow_the_log(db_url)


def _minutes(minute: int) -> tuple[int]:
    """`happened_at` (µs) of a spec's minute (from June 1st)."""
    return (to_micros(JUNE + timedelta(minutes=minute)),)
