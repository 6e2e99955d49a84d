"""PostgreSQL's own side of the store: its migrations, its event numbering under several
writers, and what it says when the database is wrong or away (on a real cluster)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from shipdeck.cli import main
from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine.store import (
    AuditEntry,
    NewDeploymentRow,
    NewEvent,
    Store,
    StoreError,
    Writes,
    open_store,
)
from shipdeck.engine.store.migrate import HEAD_REVISION
from shipdeck.engine.store.postgres.connection import Transaction
from shipdeck.engine.store.postgres.text import escape_nul, pg_sql, unescape_nul
from shipdeck.engine.store.postgres.writes import (
    _PROBES_ONLY,
    _SLOTS_OF,
    _facts_read,
    _incidents_read,
)
from shipdeck.engine.store.rollup_fold import _facts_of, _latest_of

from ..rawdb import RawDB
from .test_store import _assert_namespace_column


def _row(n: int, service: str = "svc") -> NewDeploymentRow:
    return NewDeploymentRow(
        id=str(uuid.uuid4()),
        deployment_id=f"d-{n}",
        service=service,
        environment="dev",
        status=Status.SUCCESS,
        happened_at=1_700_000_000_000_000 + n,
        actor=None,
        doc=f'{{"n":{n}}}',
    )


def test_an_old_database_is_upgraded_in_place(pg_empty_url: str) -> None:
    """A database at the first revision keeps its rows and events, and numbering goes on."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from shipdeck.engine.store.migrate import SCRIPT_LOCATION

    sa_engine = create_engine(pg_empty_url.replace("postgresql://", "postgresql+psycopg://"))
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
    store = open_store(pg_empty_url)
    try:
        assert store.event_seq_of_row("r1") == 1
        assert store.last_seq() == 1
        assert store.append_deployment(_row(2)).seq == 2
        _assert_namespace_column(store)
    finally:
        store.close()
    with RawDB(pg_empty_url) as raw:
        assert raw.rows("SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_a_rolled_back_write_spends_no_event_number(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        store.append_deployment(_row(1))

        def refuse() -> Writes:
            raise ValueError("decided against it")

        with pytest.raises(ValueError):
            store.commit(refuse)
        assert store.append_deployment(_row(2)).seq == 2
        assert [e.seq for e in store.events_after(0, 10)] == [1, 2]
    finally:
        store.close()


def test_a_batch_is_numbered_and_audited_in_its_order(pg_url: str) -> None:
    """A group commit's rows go in as one statement a table: arrivals, events and the
    audit chain still follow the order the rows were given in (text with quotes,
    backslashes and braces included: the columns travel as binary arrays)."""
    rows = [_row(n, service=f"svc-{n % 3}") for n in range(40)]
    rows[7] = replace(rows[7], doc=r'{"n":7,"note":"a \"quoted\" {brace}, \\ and NULL"}')
    audits = [
        AuditEntry(1_700_000_000_000_000 + n, "ci", "ingest", r.id, None, "ok")
        for n, r in enumerate(rows)
    ]
    store = open_store(pg_url)
    try:
        store.append_deployment(_row(100))
        stored = store.append_deployments(list(zip(rows, audits, strict=True)))
    finally:
        store.close()
    assert [e.seq for e in stored] == list(range(2, 42))
    with RawDB(pg_url) as db:
        inserted = db.rows("SELECT id, doc FROM deployments ORDER BY arrival")[1:]
        assert inserted == [(r.id, r.doc) for r in rows]
        events = db.rows("SELECT seq, row_id, data FROM events ORDER BY seq")[1:]
        assert events == [(e.seq, r.id, r.doc) for e, r in zip(stored, rows, strict=True)]
        chain = db.rows("SELECT target, prev_hash, hash FROM audit ORDER BY seq")
    assert [target for target, _, _ in chain] == [r.id for r in rows]
    assert all(chain[i][1] == chain[i - 1][2] for i in range(1, len(chain)))


def test_two_replicas_number_events_without_gaps_in_commit_order(pg_url: str) -> None:
    """Eight writers on two stores; a reader polling all along never sees a number before
    every smaller one is visible (what `Last-Event-ID` on another replica relies on)."""
    stores: list[Store] = [open_store(pg_url), open_store(pg_url)]
    per_writer = 40
    done = threading.Event()
    seen: list[int] = []
    holes: list[tuple[int, int]] = []

    def write(store: Store, worker: int) -> None:
        for i in range(per_writer):
            store.append_deployment(_row(worker * 1000 + i, service=f"svc-{worker}"))

    def read() -> None:
        last = 0
        while True:
            finished = done.is_set()
            for event in stores[0].events_after(last, 1000):
                if event.seq != last + 1:
                    holes.append((last, event.seq))
                last = event.seq
                seen.append(event.seq)
            if finished:
                return
            time.sleep(0.001)

    try:
        reader = threading.Thread(target=read)
        reader.start()
        writers = [threading.Thread(target=write, args=(stores[w % 2], w)) for w in range(8)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        reader.join()
        assert not holes, f"a reader saw a later number before an earlier one: {holes[:5]}"
        assert seen == list(range(1, 8 * per_writer + 1))
        assert stores[1].last_seq() == 8 * per_writer
    finally:
        for store in stores:
            store.close()


def test_the_rollup_reads_answer_as_the_shared_ones(pg_url: str) -> None:
    """PostgreSQL's own reads of the append's rollup facts (one plan, a probe per value)
    find what the shared statements find: deployments' facts and the edges naming them
    parents, slots' latest incidents; nothing for what has none."""
    statuses = [Status.FAILURE, Status.SUCCESS, Status.FAILURE, Status.FAILURE]
    rows = [
        replace(
            _row(n, service=f"svc-{n % 3}"),
            status=status,
            doc=json.dumps({"n": n, "parent_deployments": [f"d-{n - 1}", f"d-{n - 2}"]}),
        )
        for n, status in enumerate(statuses * 3)
    ]
    store = open_store(pg_url)
    try:
        store.append_deployments([(row, None) for row in rows])
    finally:
        store.close()
    deployments = ["d-0", "d-3", "d-5", "d-none"]
    slots = [(f"svc-{n}", "dev") for n in range(3)] + [("svc-none", "dev")]
    with psycopg.connect(pg_url) as conn:

        def found(read: tuple[str, Sequence[Any]]) -> list[tuple[Any, ...]]:
            return sorted(conn.execute(pg_sql(read[0]), read[1]).fetchall(), key=repr)

        facts = found(_facts_of(deployments))
        assert {row[0] for row in facts} == {0, 1}  # facts and edges both
        assert found(_facts_read(deployments)) == facts
        incidents = found(_latest_of(slots))
        assert len(incidents) == 3  # every slot but the one without incidents
        assert found(_incidents_read(slots)) == incidents


def test_a_database_of_a_newer_shipdeck_is_refused(pg_url: str) -> None:
    with RawDB(pg_url) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StoreError, match=r"revision 0099, newer than this shipdeck"):
        open_store(pg_url)


def test_bad_urls_and_credentials_are_one_line_errors(pg_url: str) -> None:
    """Through the CLI an operator gets one line naming what to do, never a traceback,
    and never the password."""
    base = pg_url.rsplit("/", 1)[0]
    cases = {
        pg_url.replace("shipdeck-test@", "wrong@"): "refused the credentials",
        base + "/no_such_db": "create it first",
        "postgresql://u:p@127.0.0.1:1/x": "cannot reach PostgreSQL",
        "postgresql://u:p@127.0.0.1:nope/x": "malformed database URL",
        base: "names no database",
    }
    runner = CliRunner()
    for url, expected in cases.items():
        result = runner.invoke(main, ["keys", "list", "--database", url])
        assert result.exit_code == 1, (url, result.output)
        assert expected in result.output, (url, result.output)
        assert "Traceback" not in result.output
        assert "shipdeck-test" not in result.output and ":p@" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_postgres_scheme_alias_is_accepted(pg_url: str) -> None:
    store = open_store(pg_url.replace("postgresql://", "postgres://"))
    try:
        assert store.last_seq() == 0
    finally:
        store.close()


@pytest.mark.parametrize(
    "text", ["plain", "a\x00b", "\\0", "\\\x00\\", "tail\\", "\x00", "c:\\path\\0x00"]
)
def test_log_text_with_nul_survives_postgres(text: str) -> None:
    """PostgreSQL refuses NUL in text; lines are escaped reversibly."""
    assert "\x00" not in escape_nul(text)
    assert unescape_nul(escape_nul(text)) == text


async def test_the_embedded_dashboard_runs_on_postgres(pg_url: str) -> None:
    """`shipdeck --database postgresql://…` (embedded): the client opens, reads, ingests."""
    from shipdeck.client.embedded import EmbeddedClient

    client = EmbeddedClient(pg_url)
    await client.start()
    try:
        await client.engine.ingest(
            DeploymentEventIngest.model_validate_json(
                '{"deployment_id": "d-1", "service": "api", "environment": "dev",'
                ' "status": "success", "happened_at": "2026-01-01T00:00:00Z", "version": "1.0"}'
            )
        )
        matrix = await client.engine.matrix.get()
        assert [row.service for row in matrix.rows] == ["api"]
    finally:
        await client.close()


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    from shipdeck.client.base import EngineError as ClientError
    from shipdeck.client.embedded import EmbeddedClient

    client = EmbeddedClient("postgresql://ops:hunter2@127.0.0.1:1/shipdeck")
    with pytest.raises(ClientError) as caught:
        await client.start()
    assert "hunter2" not in str(caught.value) and "cannot reach PostgreSQL" in str(caught.value)


READ_ALL = ["events:", "logs:", "keys:"]
"""What a watcher is told once the listener listens: read all (nothing heard before)."""


def _wait(condition: Any, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_replica_is_told_of_other_commits_not_of_its_own(pg_url: str) -> None:
    """Each store's listener tells its watcher of the other's commits (the notice names
    the new head) and keeps quiet about its own, pipelined or not: their callers publish
    them, and a read of the log per commit was what the notices cost before."""
    stores: list[Any] = [open_store(pg_url), open_store(pg_url)]
    heard: list[list[str]] = [[], []]
    for store, told in zip(stores, heard, strict=True):
        store.watch(lambda topic, detail, told=told: told.append(f"{topic}:{detail}"))
    try:
        _wait(lambda: heard == [READ_ALL, READ_ALL], "both listeners to listen")
        heard[0].clear()
        heard[1].clear()
        mine = [stores[0].append_deployments([(_row(100 + i), None)])[-1].seq for i in range(3)]
        mine.append(
            stores[0].commit(lambda: Writes(events=[NewEvent("note", None, "")])).events[0].seq
        )
        theirs = stores[1].append_deployment(_row(200)).seq
        expected = [f"events:{seq}" for seq in mine]
        _wait(lambda: heard[1] == expected, f"replica B to hear {expected} (heard {heard[1]})")
        _wait(lambda: heard[0] == [f"events:{theirs}"], f"replica A to hear {theirs}")
        # Each listener heard its own notices too (expected, then forgotten) ...
        _wait(lambda: not stores[0]._own_notices, "A to hear its own notices")
        _wait(lambda: not stores[1]._own_notices, "B to hear its own notice")
        time.sleep(0.2)
        assert heard == [[f"events:{theirs}"], expected]  # ... and told its watcher none
    finally:
        for store in stores:
            store.close()


def test_a_commit_that_failed_after_its_notice_was_expected(pg_url: str) -> None:
    """A transaction that fails once its notice is expected: when it did not commit, no
    notice comes and nothing is told; when its `COMMIT` took effect but the answer was
    lost, the listener has skipped the notice as its own, so the watcher is told to read."""
    store: Any = open_store(pg_url)
    told: list[str] = []
    store.watch(lambda topic, detail: told.append(f"{topic}:{detail}"))
    try:
        _wait(lambda: told == READ_ALL, "the listener to listen")  # before the first commit
        told.clear()
        head = store.append_deployment(_row(1)).seq
        _wait(lambda: not store._own_notices, "its notice to be heard")
        with RawDB(pg_url) as db:  # the next event number, taken behind the store's back
            db.execute(
                "INSERT INTO events (seq, type, service, data, recorded_at)"
                " VALUES (%s, 'note', NULL, '', 0)",
                (head + 1,),
            )
        with pytest.raises(psycopg.errors.UniqueViolation):
            store.append_deployments([(_row(2), None)])
        assert not store._own_notices  # expected, then forgotten
        time.sleep(0.2)
        assert told == []
        # The other outcome, in the order the race leaves it: the COMMIT took effect, the
        # listener heard its notice (and skipped it), then the answer was lost.
        txn = Transaction(None, head + 5)  # type: ignore[arg-type]  # no statement is sent
        txn.next_seq()
        store._expect_notice(txn)
        assert store._own_notice("shipdeck_events", str(head + 6))
        store._notice_unsure(txn)
        assert told == ["events:"]
    finally:
        store.close()


def test_the_appends_reads_are_index_probes_when_planned_on_empty_tables(pg_url: str) -> None:
    """The reads of an append are prepared: the plan made first is kept while the tables
    grow. Made on tables analysed when tiny (a scan is cheapest then), it must still be
    index probes."""
    store = open_store(pg_url)
    try:
        store.append_deployments([(_row(n, service=f"svc-{n}"), None) for n in range(3)])
    finally:
        store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    reads = [
        (_SLOTS_OF, (["svc"], ["dev"])),
        _facts_read(["d-1", "d-2"]),
        _incidents_read([("svc", "dev")]),
    ]
    with psycopg.connect(pg_url) as conn, conn.transaction():
        conn.execute(_PROBES_ONLY)
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for sql, args in reads:
            numbered = sql
            for n in range(1, sql.count("%b") + 1):
                numbered = numbered.replace("%b", f"${n}", 1)
            conn.execute(f"PREPARE probe AS {numbered}")  # type: ignore[arg-type]
            values = ", ".join(
                "ARRAY[" + ", ".join(f"'{v}'" for v in arg) + "]::text[]" for arg in args
            )
            explained = conn.execute(f"EXPLAIN EXECUTE probe({values})")  # type: ignore[arg-type]
            plan = "\n".join(str(row[0]) for row in explained)
            conn.execute("DEALLOCATE probe")
            assert "Seq Scan" not in plan, plan
            assert "Index" in plan, plan


def test_a_watcher_set_once_the_listener_runs_is_told_to_read_all(pg_url: str) -> None:
    """`lead` starts the listener without a watcher; one set later is told to read all,
    since notices heard before it came went to no one."""
    store: Any = open_store(pg_url)
    other: Any = open_store(pg_url)
    told: list[str] = []
    try:
        _wait(store.lead, "the store to lead")  # listening, nobody told
        other.append_deployment(_row(1))
        time.sleep(0.2)  # its notice is heard by no watcher
        store.watch(lambda topic, detail: told.append(f"{topic}:{detail}"))
        _wait(lambda: told == READ_ALL, f"the watcher to be told to read all (told {told})")
    finally:
        other.close()
        store.close()
