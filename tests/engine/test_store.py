"""The store on both backends; SQLite's own file, pragmas and migrations (PostgreSQL's are in
test_store_postgres.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine
from shipdeck.engine.store import SQLiteStore, Store, StoreError, open_store
from shipdeck.engine.store.migrate import HEAD_REVISION, alembic_head

from ..conftest import sqlite_only


def test_head_constant_matches_alembic() -> None:
    """The fast path that skips Alembic must know the real head revision."""
    assert alembic_head() == HEAD_REVISION


@sqlite_only
def test_new_database_is_migrated_and_in_wal_mode(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    store.close()
    conn = sqlite3.connect(tmp_path / "shipdeck.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert (
            conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD_REVISION
        )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {
            "deployments",
            "slots",
            "events",
            "fetcher_state",
            "api_keys",
            "executions",
            "idempotency_keys",
        } <= tables
    finally:
        conn.close()


@sqlite_only
def test_slot_summaries_and_environments_read_an_index_not_the_table(
    db_url: str, tmp_path: Path
) -> None:
    """The matrix index's reads (every index request, every window) never scan the slot
    table with its row documents: a covering index answers them (migration 0008)."""
    from shipdeck.engine.store.queries import _SELECT_SLOT_SUMMARIES

    open_store(db_url).close()
    conn = sqlite3.connect(tmp_path / "shipdeck.db")
    try:
        plans = {
            sql: " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
            for sql, args in [
                (_SELECT_SLOT_SUMMARIES, ()),
                (_SELECT_SLOT_SUMMARIES + " AND changed_seq > ?", (5,)),
                ("SELECT DISTINCT environment FROM slots", ()),
            ]
        }
    finally:
        conn.close()
    for sql, plan in plans.items():
        assert "COVERING INDEX" in plan, (sql, plan)
    assert "changed_seq>?" in plans[_SELECT_SLOT_SUMMARIES + " AND changed_seq > ?"]


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite://relative.db", "sqlite:///", "sqlite:///:memory:"]
)
def test_unsupported_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(StoreError, match=r"sqlite|memory"):
        open_store(url)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteStore(f"sqlite:///{tmp_path / 'nope' / 'x.db'}")


def _row(n: int, status: str = "success", env: str = "dev") -> DeploymentEventIngest:
    return DeploymentEventIngest.model_validate_json(
        f'{{"deployment_id":"d-{n}","service":"svc","environment":"{env}",'
        f'"status":"{status}","happened_at":"2026-01-01T00:00:{n:02d}Z","version":"1.{n}"}}'
    )


@sqlite_only
async def test_append_is_atomic_row_slot_and_event(engine: Engine, tmp_path: Path) -> None:
    """A failure in the middle of an append leaves neither the row nor the event behind."""
    await engine.ingest(_row(1))
    store = engine.store
    assert isinstance(store, SQLiteStore)
    conn = sqlite3.connect(tmp_path / "shipdeck.db")
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON slots BEGIN SELECT RAISE(ABORT, 'x'); END")
    conn.execute("CREATE TRIGGER boom2 BEFORE UPDATE ON slots BEGIN SELECT RAISE(ABORT, 'x'); END")
    conn.commit()
    with pytest.raises(sqlite3.IntegrityError):
        await engine.ingest(_row(2))
    conn.execute("DROP TRIGGER boom")
    conn.execute("DROP TRIGGER boom2")
    conn.commit()
    counts = [
        conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("deployments", "events")
    ]
    conn.close()
    assert counts == [1, 1]
    event = (await engine.ingest(_row(3))) and store.events_after(0, 10)
    assert [e.seq for e in event] == [1, 2]  # the failed append consumed no sequence number


async def test_slot_table_tracks_the_reduction(engine: Engine) -> None:
    await engine.ingest(_row(1, "success"))
    await engine.ingest(_row(3, "failure"))
    await engine.ingest(_row(2, "in-progress"))  # out of order: older than the failure
    await engine.ingest(_row(4, "queued"))
    slot = (await engine.matrix.get()).rows[0].slots["dev"]
    assert slot.current.status is Status.FAILURE and slot.current.version == "1.3"
    assert slot.last_successful is not None and slot.last_successful.version == "1.1"
    assert slot.next is not None and slot.next.version == "1.4"


async def test_upgrading_a_0001_database_keeps_and_indexes_its_events(tmp_path: Path) -> None:
    """A database made by the first release is migrated in place by Alembic."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from shipdeck.engine.store.migrate import SCRIPT_LOCATION

    url = f"sqlite:///{tmp_path / 'old.db'}"
    sa_engine = create_engine(url)
    with sa_engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", SCRIPT_LOCATION)
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql(
            "INSERT INTO deployments (id, deployment_id, service, environment, status,"
            " happened_at, doc) VALUES ('r1', 'd1', 's', 'dev', 'success', 1, '{\"x\":1}')"
        )
        connection.exec_driver_sql(
            "INSERT INTO events (type, service, data, recorded_at)"
            " VALUES ('deployment', 's', '{\"x\":1}', 1)"
        )
    sa_engine.dispose()
    store = SQLiteStore(url)  # migrates to head on open
    try:
        assert store.event_seq_of_row("r1") == 1
        plan = store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE row_id = 'r1'"
        ).fetchall()
        assert "ix_events_row_id" in str(plan)
        _assert_namespace_column(store)
    finally:
        store.close()


def _assert_namespace_column(store: Store) -> None:
    """0009: the old row has no namespace; a new one is found by its own (issue 15)."""
    from shipdeck.domain.queries import DeploymentFilters
    from shipdeck.engine.ingest import ingest_row
    from shipdeck.engine.store import DeploymentQuery

    body = DeploymentEventIngest.model_validate_json(
        '{"deployment_id": "d2", "service": "s", "environment": "dev", "status": "success",'
        ' "happened_at": "2026-01-01T00:00:00Z", "namespace": "org-a"}'
    )
    new = ingest_row(body)
    store.append_deployment(new)
    found = store.list_deployments(DeploymentQuery(DeploymentFilters(namespace="org-a")))
    assert [row_id for _, row_id, _ in found] == [new.id]
    every = store.list_deployments(DeploymentQuery(DeploymentFilters(service="s")))
    assert sorted(row_id for _, row_id, _ in every) == sorted(["r1", new.id])


@sqlite_only
def test_column_lists_follow_the_schema(db_url: str) -> None:
    """Rows are read by name from column tuples; each must be its table's columns, in order."""
    from shipdeck.engine.store import (
        ApprovalRecord,
        AuditEntry,
        EnvironmentRecord,
        ExecutionRecord,
        PromotionRecord,
    )
    from shipdeck.engine.store.codec import SLOT_COLUMNS, field_names

    store = open_store(db_url)
    try:

        def table(name: str) -> tuple[str, ...]:
            return tuple(r[1] for r in store._conn.execute(f"PRAGMA table_info({name})"))

        assert table("slots") == SLOT_COLUMNS
        assert table("promotions") == field_names(PromotionRecord)
        assert table("approvals") == field_names(ApprovalRecord)
        assert table("environment_state") == field_names(EnvironmentRecord)
        assert table("executions")[: len(field_names(ExecutionRecord))] == field_names(
            ExecutionRecord
        )
        assert set(field_names(AuditEntry)) <= set(table("audit"))
    finally:
        store.close()


def test_slot_values_and_slot_from_row_agree() -> None:
    """Writing a slot's columns and reading them back gives the same slot."""
    from shipdeck.domain import SlotEntry, SlotState
    from shipdeck.engine.store.codec import slot_from_row, slot_values

    state = SlotState(
        current=SlotEntry(5, 4, Status.FAILURE, '{"c":1}'),
        last_success=SlotEntry(3, 2, Status.SUCCESS, '{"s":1}'),
        last_terminal=SlotEntry(5, 4, Status.FAILURE, ""),
        latest_other=SlotEntry(6, 7, Status.QUEUED, '{"o":1}'),
    )
    record = slot_from_row(slot_values("svc", "dev", state, 9))
    assert (record.service, record.environment, record.state, record.changed_seq) == (
        "svc",
        "dev",
        state,
        9,
    )
    empty = slot_from_row(slot_values("svc", "prod", SlotState(), 1))
    assert empty.state == SlotState()


def test_rows_committed_together_fold_as_one_by_one(db_url: str, tmp_path: Path) -> None:
    """Group commit: a batch touching one slot several times leaves the slots, events and
    numbers exactly as appending the same rows one at a time would (on both backends)."""
    import uuid

    from shipdeck.domain import to_micros
    from shipdeck.engine.store import NewDeploymentRow

    def rows() -> list[NewDeploymentRow]:
        made = []
        for n, (env, status) in enumerate(
            [("dev", "success"), ("dev", "failure"), ("prod", "queued"), ("dev", "in-progress")]
        ):
            ingest = _row(n + 1, status, env)
            made.append(
                NewDeploymentRow(
                    id=str(uuid.UUID(int=n + 1)),
                    deployment_id=ingest.deployment_id,
                    service=ingest.service,
                    environment=ingest.environment,
                    status=ingest.status,
                    happened_at=to_micros(ingest.happened_at),
                    actor=None,
                    doc=f'{{"n":{n}}}',
                )
            )
        return made

    together = open_store(db_url)
    alone = open_store(f"sqlite:///{tmp_path / 'alone.db'}")
    try:
        events = together.append_deployments([(row, None) for row in rows()])
        one_by_one = [alone.append_deployment(row) for row in rows()]
        assert [(e.seq, e.data) for e in events] == [(e.seq, e.data) for e in one_by_one]
        assert together.slots() == alone.slots()
        assert together.last_seq() == 4
    finally:
        together.close()
        alone.close()


async def test_concurrent_ingests_are_committed_together(engine: Engine) -> None:
    """Group commit: 60 ingests at once take fewer transactions than rows, every one is
    answered with its own event, and the events are consecutive."""
    import asyncio

    store = engine.store
    batches: list[int] = []
    real = store.append_deployments

    def counted(items: Any) -> Any:
        batches.append(len(items))
        return real(items)

    store.append_deployments = counted  # type: ignore[method-assign]
    answers = await asyncio.gather(*(engine.ingest(_row(n % 50 + 1)) for n in range(60)))
    assert sum(batches) == 60 and len(batches) < 60
    assert len({event.id for event, _ in answers}) == 60
    seqs = [e.seq for e in store.events_after(0, 100)]
    assert seqs == list(range(1, 61))


async def test_a_batch_that_meets_an_absent_database_answers_every_row(engine: Engine) -> None:
    """Group commit: when the database is away every waiting ingest gets the error (a 503
    upstream), none is left waiting and none is retried alone."""
    import asyncio

    from shipdeck.engine.store import StoreUnavailable

    store = engine.store
    calls: list[int] = []

    def away(items: Any) -> Any:
        calls.append(len(items))
        raise StoreUnavailable("the database does not answer")

    store.append_deployments = away  # type: ignore[method-assign]
    store.append_deployment = away  # type: ignore[method-assign,assignment]
    answers = await asyncio.wait_for(
        asyncio.gather(*(engine.ingest(_row(n + 1)) for n in range(20)), return_exceptions=True),
        timeout=10,
    )
    assert all(isinstance(a, StoreUnavailable) for a in answers)
    assert sum(calls) == 20 and len(calls) < 20
