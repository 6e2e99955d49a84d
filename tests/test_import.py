"""`shipdeck import FILE`: NDJSON ingest bodies appended as `POST /api/deployments` appends
them, with rejected lines reported, resumable after a kill, seen by a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from shipdeck.cli import main
from shipdeck.domain import DeploymentEventIngest, format_rfc3339, parse_rfc3339, to_micros
from shipdeck.engine import Engine
from shipdeck.engine.audit import verify_chain
from shipdeck.engine.importer import MAX_LINE_BYTES, Input, import_lines, ingest_row
from shipdeck.engine.store import ImportConflict, ImportProgress, open_store
from shipdeck.server.routes.deployments import INGEST_BODY_LIMIT

from .conftest import BACKENDS, ServerProcess, backend_url
from .postgres import PostgresCluster
from .rawdb import RawDB


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """These tests run on SQLite and on PostgreSQL."""
    return backend_url(request)


@pytest.fixture
def other_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second fresh database on the same backend as `db_url`."""
    if not db_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database(template=cluster.template)
    yield url
    cluster.drop_database(url)


def body(n: int, **extra: Any) -> dict[str, Any]:
    """A valid ingest body, one per `n` (its `deployment_id` says which line it was)."""
    statuses = ("pending", "queued", "in-progress", "success", "failure", "success")
    return {
        "deployment_id": f"d-{n}",
        "service": f"svc-{n % 7}",
        "environment": ("dev", "staging", "prod")[n % 3],
        "status": statuses[n % len(statuses)],
        "happened_at": f"2024-03-01T{(n // 60) % 24:02d}:{n % 60:02d}:00Z",
        "version": f"1.{n}.0",
        **extra,
    }


def varied_bodies() -> list[dict[str, Any]]:
    """Every field, odd timestamps and text, rows of one slot out of order."""
    bodies = [body(n) for n in range(40)]
    bodies += [
        body(100, run_number=42, run_url="https://ci.example/r/42", actor="ci", ref="main"),
        body(101, run_number="r-7", sha="abc123", parent_deployments=["d-1", "d-2"]),
        body(102, happened_at="2024-03-01T10:00:00.123456789+02:00", phase="pushing"),
        body(103, happened_at="2024-03-01t09:00:00.5z", message="déploiement ✓ \u0007 🚀"),
        body(104, happened_at="2023-12-31T23:59:59-05:00", message='quote " and \\ slash'),
        body(105, status="cancelled", happened_at="2024-02-01T00:00:00Z"),  # older, same slot
        body(106, status="rejected"),
        body(107, status="waiting", run_number=20.0),
    ]
    return bodies


def write_ndjson(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def without_ids(value: Any) -> Any:
    """A document with its server-assigned row ids (and `generated_at`) left out."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in ("id", "generated_at")}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


async def state_of(url: str) -> tuple[Any, Any, list[tuple[str, Any]]]:
    """What an engine on `url` shows: every row, the matrix, the event log."""
    engine = await Engine.open(url)
    try:
        docs, _ = await engine.deployments.documents(limit=500)
        matrix = (await engine.matrix.get()).model_dump(mode="json", exclude_none=True)
        events = await engine._read(engine.store.events_after, 0, 1000)
    finally:
        await engine.close()
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "gap-free"
    return (
        [without_ids(json.loads(d)) for d in docs],
        without_ids(matrix),
        [(e.type, without_ids(json.loads(e.data))) for e in events],
    )


async def test_imported_rows_are_the_rows_a_post_appends(
    db_url: str, other_url: str, tmp_path: Path
) -> None:
    bodies = varied_bodies()
    path = write_ndjson(tmp_path / "export.ndjson", [json.dumps(b) for b in bodies])
    store = open_store(db_url)
    try:
        with Input.open(str(path)) as source:
            result = import_lines(store, source, parallel=False, batch_lines=16)
        assert verify_chain(store).ok
        audit = store.audit_entries(action="import")
    finally:
        store.close()
    assert (result.imported, result.rejected, result.stopped) == (len(bodies), 0, None)
    assert len(audit) == 3  # one entry per committed batch (48 lines, 16 a batch)

    posted = await Engine.open(other_url)
    try:
        for b in bodies:
            await posted.ingest(DeploymentEventIngest.model_validate_json(json.dumps(b)))
    finally:
        await posted.close()

    assert await state_of(db_url) == await state_of(other_url)


async def test_a_row_document_is_the_engines_byte_for_byte(sqlite_url: str) -> None:
    engine = await Engine.open(sqlite_url)
    try:
        for b in varied_bodies():
            parsed = DeploymentEventIngest.model_validate_json(json.dumps(b))
            event, doc = await engine.ingest(parsed, progress_reporter="olddash/export")
            row = ingest_row(parsed, progress_reporter="olddash/export")
            assert row.doc.replace(row.id, event.id) == doc
            assert (row.happened_at, row.status, row.actor, row.deployment_id) == (
                to_micros(event.happened_at),
                event.status,
                event.actor,
                event.deployment_id,
            )
    finally:
        await engine.close()


def test_a_rows_time_is_the_stores_microseconds_and_the_contracts_text() -> None:
    for text in (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2024-02-29T12:00:00.000100-11:30",
        "1969-12-31T23:59:59.999999Z",
    ):
        parsed = DeploymentEventIngest.model_validate_json(json.dumps(body(1, happened_at=text)))
        row = ingest_row(parsed)
        assert row.happened_at == to_micros(parse_rfc3339(text))
        assert json.loads(row.doc)["happened_at"] == format_rfc3339(parse_rfc3339(text))


def test_rejected_lines_are_listed_by_number_and_the_others_imported(
    sqlite_url: str, tmp_path: Path
) -> None:
    lines = [
        json.dumps(body(1)),
        "{not json",
        "",
        json.dumps(body(4, status="deployed")),
        json.dumps(body(5, colour="blue")),
        "   ",
        json.dumps(body(7, happened_at="2024-03-01 10:00")),
        json.dumps([body(8)]),
        json.dumps(body(9, message="x" * MAX_LINE_BYTES)),
        json.dumps(body(10)),
    ]
    path = write_ndjson(tmp_path / "mixed.ndjson", lines)
    out = CliRunner().invoke(main, ["import", "--database", sqlite_url, str(path)])
    assert out.exit_code == 1, out.output
    assert "Imported 2 rows" in out.output and "8 lines rejected" in out.output
    for expected in (
        "line 2: the body is not valid JSON",
        "line 3: blank line",
        "line 4: /status: must be one of pending|",
        "line 5: /colour: is not a known field",
        "line 6: blank line",
        "line 7: /happened_at: must be an RFC 3339 date-time",
        "line 8: the body must be a JSON object",
        "line 9: longer than 65,536 bytes",
    ):
        assert expected in out.output, out.output
    assert "Traceback" not in out.output
    with RawDB(sqlite_url) as raw:
        ids = {d for (d,) in raw.rows("SELECT deployment_id FROM deployments")}
    assert ids == {"d-1", "d-10"}


def test_the_body_limit_is_the_apis() -> None:
    assert MAX_LINE_BYTES == INGEST_BODY_LIMIT


def test_a_summary_lists_twenty_rejections_then_counts(sqlite_url: str, tmp_path: Path) -> None:
    lines = [json.dumps(body(n)) if n % 2 else "nope" for n in range(1, 61)]
    path = write_ndjson(tmp_path / "bad.ndjson", lines)
    out = CliRunner().invoke(main, ["import", "--database", sqlite_url, str(path)])
    assert out.exit_code == 1
    listed = [line for line in out.output.splitlines() if line.startswith("  line ")]
    assert [int(line.split()[1].rstrip(":")) for line in listed] == list(range(2, 42, 2))
    assert "  and 10 more" in out.output


def test_stdin(sqlite_url: str) -> None:
    lines = "".join(json.dumps(body(n)) + "\n" for n in range(5)) + "oops\n"
    out = CliRunner().invoke(main, ["import", "--database", sqlite_url, "-"], input=lines)
    assert out.exit_code == 1, out.output
    assert "Imported 5 rows" in out.output and "line 6: the body is not valid JSON" in out.output
    again = CliRunner().invoke(
        main, ["import", "--database", sqlite_url, "-", "--resume"], input=lines
    )
    assert again.exit_code == 2 and "give it one with --source NAME" in again.output


def test_a_pipe_is_parsed_by_a_child_process_with_the_same_outcome(sqlite_url: str) -> None:
    lines = [json.dumps(body(n)) for n in range(300)]
    lines[41] = '{"deployment_id": 1}'
    lines[250] = ""
    data = "".join(line + "\n" for line in lines).encode()
    args = [sys.executable, "-m", "shipdeck", "import", "--database", sqlite_url, "-"]
    args += ["--source", "pipe", "--batch", "100"]
    done = subprocess.run(args, input=data, capture_output=True, timeout=60)
    assert done.returncode == 1, done.stderr
    out = done.stdout.decode()
    assert "Imported 298 rows" in out and "2 lines rejected" in out
    assert "line 42: /deployment_id: must be a string" in out
    assert "line 251: blank line" in out
    assert not done.stderr
    # Resumed under the same name, nothing is left to do; the summary is the source's.
    resumed = subprocess.run([*args, "--resume"], input=data, capture_output=True, timeout=60)
    assert resumed.returncode == 1 and b"Imported 0 rows" in resumed.stdout
    assert b"line 42:" in resumed.stdout and b"Resumed after line 300" in resumed.stdout
    with RawDB(sqlite_url) as raw:
        assert raw.rows("SELECT COUNT(*) FROM deployments") == [(298,)]


def test_usage_errors_are_one_sentence_and_exit_2(sqlite_url: str, tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "one.ndjson", [json.dumps(body(1))])
    runner = CliRunner()
    cases = [
        (["import", "--database", sqlite_url, str(tmp_path / "missing.ndjson")], "cannot read"),
        (["import", "--database", "mysql://db/x", str(path)], "unsupported database URL"),
        (["import", "--database", f"sqlite:///{tmp_path}/no/x.db", str(path)], "does not exist"),
        (["import", "--database", sqlite_url, str(tmp_path)], "is a folder"),
    ]
    for args, words in cases:
        out = runner.invoke(main, args)
        assert out.exit_code == 2, out.output
        assert words in out.output and "Traceback" not in out.output
        assert len(out.output.strip().splitlines()) == 1
    assert runner.invoke(main, ["import", "--database", sqlite_url, str(path)]).exit_code == 0
    again = runner.invoke(main, ["import", "--database", sqlite_url, str(path)])
    assert again.exit_code == 2 and "pass --resume" in again.output
    resumed = runner.invoke(main, ["import", "--database", sqlite_url, str(path), "--resume"])
    assert resumed.exit_code == 0 and "Resumed after line 1" in resumed.output
    renamed = runner.invoke(
        main, ["import", "--database", sqlite_url, str(path), "--source", "again"]
    )
    assert renamed.exit_code == 0 and "Imported 1 row " in renamed.output


def test_a_file_that_grew_is_continued_and_one_that_changed_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = write_ndjson(tmp_path / "export.ndjson", [json.dumps(body(n)) for n in range(3)])
    runner = CliRunner()
    assert runner.invoke(main, ["import", "--database", sqlite_url, str(path)]).exit_code == 0
    with path.open("a") as more:
        more.write(json.dumps(body(3)) + "\n" + json.dumps(body(4)) + "\n")
    grown = runner.invoke(main, ["import", "--database", sqlite_url, str(path), "--resume"])
    assert grown.exit_code == 0 and "Imported 2 rows" in grown.output, grown.output
    write_ndjson(path, [json.dumps(body(n)) for n in (0, 1, 9, 3, 4, 5)])  # line 3 differs
    changed = runner.invoke(main, ["import", "--database", sqlite_url, str(path), "--resume"])
    assert changed.exit_code == 2, changed.output
    assert "is not the input imported before" in changed.output
    assert "its first 5 lines are not the ones imported" in changed.output
    write_ndjson(path, [json.dumps(body(n)) for n in range(2)])
    shorter = runner.invoke(main, ["import", "--database", sqlite_url, str(path), "--resume"])
    assert shorter.exit_code == 2 and "fewer than the 5 imported" in shorter.output
    with RawDB(sqlite_url) as raw:
        assert raw.rows("SELECT COUNT(*) FROM deployments") == [(5,)]


def test_help_explains_format_resume_and_exit_codes() -> None:
    out = CliRunner().invoke(main, ["import", "--help"])
    text = " ".join(out.output.split())
    for words in ("NDJSON", "POST /api/deployments", "--resume", "exactly once", "Exit status"):
        assert words in text


def test_a_batch_whose_source_moved_meanwhile_writes_nothing(db_url: str) -> None:
    store = open_store(db_url)
    try:
        row = ingest_row(DeploymentEventIngest.model_validate_json(json.dumps(body(1))))
        mark = ImportProgress("s", 1, 10, "d", 1, 0, (), 0, 0)
        assert store.import_deployments([row], None, mark, 0) == 1
        with pytest.raises(ImportConflict):
            store.import_deployments(
                [row], None, ImportProgress("s", 2, 20, "e", 2, 0, (), 0, 0), 0
            )
        assert store.last_seq() == 1
        assert store.import_progress("s") == mark
    finally:
        store.close()


# -- killed midway, then resumed -------------------------------------------------------


def test_killed_midway_then_resumed_imports_every_row_exactly_once(
    db_url: str, tmp_path: Path
) -> None:
    # Long lines: the file is past the size from which a child process parses it.
    total = 8_000
    pad = "x" * 1_000
    lines = [json.dumps(body(n, message=pad)) for n in range(total)]
    lines[1234] = "not json"
    path = write_ndjson(tmp_path / "big.ndjson", lines)
    assert path.stat().st_size > 8 * 1024 * 1024
    args = [sys.executable, "-m", "shipdeck", "import", "--database", db_url, str(path)]
    args += ["--batch", "500"]
    open_store(db_url).close()  # migrated: the progress table is there to watch
    with RawDB(db_url) as raw:
        with subprocess.Popen(args, stdout=subprocess.DEVNULL) as proc:
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and proc.poll() is None:
                    progress = raw.rows("SELECT line FROM import_sources")
                    if progress and progress[0][0] >= 1_500:
                        break
                    time.sleep(0.01)
                assert proc.poll() is None, "the import ended before it could be killed"
            finally:
                os.kill(proc.pid, signal.SIGKILL)
        stored = raw.rows("SELECT line, imported FROM import_sources")[0]
        (count,) = raw.rows("SELECT COUNT(*) FROM deployments")[0]
        assert stored[0] < total and count == stored[1]  # whole batches only

        resumed = subprocess.run([*args, "--resume"], capture_output=True, timeout=120)
        assert resumed.returncode == 1, resumed.stderr  # the one bad line
        out = resumed.stdout.decode()
        assert f"Resumed after line {stored[0]:,}" in out and "line 1235:" in out

        counts = raw.rows("SELECT deployment_id, COUNT(*) FROM deployments GROUP BY deployment_id")
        assert {d for d, _ in counts} == {f"d-{n}" for n in range(total)} - {"d-1234"}
        assert {c for _, c in counts} == {1}
        assert raw.head() == total - 1  # one event a row, numbered without a gap
        (events,) = raw.rows("SELECT COUNT(*) FROM events")[0]
        assert events == total - 1
        assert raw.integrity_ok()


def test_interrupted_it_says_where_it_stopped_and_resumes_there(
    sqlite_url: str, tmp_path: Path
) -> None:
    total = 6_000
    path = write_ndjson(tmp_path / "rows.ndjson", [json.dumps(body(n)) for n in range(total)])
    args = [sys.executable, "-m", "shipdeck", "import", "--database", sqlite_url, str(path)]
    args += ["--batch", "100"]
    open_store(sqlite_url).close()
    with RawDB(sqlite_url) as raw:
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not raw.rows("SELECT line FROM import_sources"):
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, (out, err)
        assert b"interrupted. Every line up to it is stored" in out and not err
        (line,) = raw.rows("SELECT line FROM import_sources")[0]
        assert f"Stopped after line {line:,}".encode() in out
        assert raw.rows("SELECT COUNT(*) FROM deployments") == [(line,)]
        resumed = subprocess.run([*args, "--resume"], capture_output=True, timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        assert raw.rows("SELECT COUNT(DISTINCT deployment_id), COUNT(*) FROM deployments") == [
            (total, total)
        ]


# -- a running server -------------------------------------------------------------------


def test_a_running_server_shows_imported_rows(
    db_url: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(db_url).start()
    before = httpx.get(server.url + "/api/matrix", timeout=5)
    assert before.status_code == 200 and before.json()["rows"] == []
    path = write_ndjson(
        tmp_path / "rows.ndjson", [json.dumps(body(n, service="imported")) for n in range(30)]
    )
    out = CliRunner().invoke(main, ["import", "--database", db_url, str(path)])
    assert out.exit_code == 0, out.output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        matrix = httpx.get(server.url + "/api/matrix", timeout=5)
        if [row["service"] for row in matrix.json()["rows"]] == ["imported"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the server never showed the imported rows: {matrix.text}")
    assert matrix.headers["etag"] != before.headers["etag"]
    listed = httpx.get(server.url + "/api/deployments?service=imported&limit=100", timeout=5)
    assert len(listed.json()["items"]) == 30
