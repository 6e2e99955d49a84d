"""Deployment logs in the engine: numbering, masking, pages and followers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipdeck.domain import DeploymentEventIngest, LogLine, LogLineIngest, Status
from shipdeck.engine import Engine, EngineConfig, InvalidRequest, NotFound
from shipdeck.engine.logs import LogFollower
from shipdeck.engine.store import NewLogLine, Store, open_store

from ..conftest import sqlite_only

BASE_TIME = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
WAIT = 10.0
"""Seconds to wait for something that must happen (a bound, never a sleep)."""
QUIET = 0.1
"""Seconds of silence that show nothing more is coming."""
HOSTILE = "\x1b[31mred\x1b[0m [bold]markup[/bold] \r\x07\x00 <script>x</script> \u202e"


def row(status: Status, deployment_id: str = "d-1", *, seconds: int = 0) -> DeploymentEventIngest:
    return DeploymentEventIngest(
        deployment_id=deployment_id,
        service="api",
        environment="dev",
        status=status,
        happened_at=BASE_TIME + timedelta(seconds=seconds),
    )


def lines(*messages: str, **fields: Any) -> list[LogLineIngest]:
    return [LogLineIngest(message=message, **fields) for message in messages]


@asynccontextmanager
async def configured(db_url: str, **config: Any) -> AsyncIterator[Engine]:
    engine = await Engine.open(db_url, EngineConfig(**config))
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def running(engine: Engine) -> Engine:
    """The fixture engine with deployment `d-1` in progress."""
    await engine.ingest(row(Status.IN_PROGRESS))
    return engine


async def take(follower: LogFollower, count: int) -> list[LogLine]:
    async with asyncio.timeout(WAIT):
        return [await anext(follower) for _ in range(count)]


async def rest(follower: LogFollower) -> list[LogLine]:
    """Every line until the follower ends (which it must, within `WAIT` seconds)."""
    async with asyncio.timeout(WAIT):
        return [line async for line in follower]


async def assert_waits(follower: LogFollower) -> None:
    """The follower has nothing now and has not ended."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET):
            await anext(follower)


# -- the store ---------------------------------------------------------------------------


def test_concurrent_appends_number_lines_without_gaps_or_repeats(db_url: str) -> None:
    """Two stores on one file (two writers, as two processes would be), four threads each."""
    stores = [open_store(db_url), open_store(db_url)]
    batches: list[list[int]] = []
    lock = threading.Lock()

    def append(store: Store, worker: int) -> None:
        for n in range(20):
            new = [NewLogLine(n, "info", "stdout", f"w{worker} b{n} l{i}") for i in range(3)]
            stored = store.append_logs("d-1", new)
            store.append_logs("d-2", new[:1])
            with lock:
                batches.append([line.seq for line in stored])

    threads = [
        threading.Thread(target=append, args=(stores[worker % 2], worker)) for worker in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        every = stores[0].logs("d-1", 0, 10_000)
        assert [line.seq for line in every] == list(range(1, 8 * 20 * 3 + 1))
        # A batch's lines are consecutive: no other writer slipped in between them.
        assert all(batch == list(range(batch[0], batch[0] + 3)) for batch in batches)
        assert stores[1].last_log_seq("d-1") == 480
        assert stores[1].last_log_seq("d-2") == 160
        assert stores[1].last_log_seq("nothing") == 0
    finally:
        for store in stores:
            store.close()


# -- appending -----------------------------------------------------------------------------


async def test_lines_are_numbered_from_one_in_order(running: Engine) -> None:
    first = await running.append_logs("d-1", lines("a", "b"))
    second = await running.append_logs("d-1", lines("c"))
    assert [(line.seq, line.message) for line in first + second] == [(1, "a"), (2, "b"), (3, "c")]
    page = await running.logs("d-1")
    assert [line.message for line in page.items] == ["a", "b", "c"]


async def test_levels_streams_and_times_are_kept(running: Engine) -> None:
    at = BASE_TIME + timedelta(microseconds=123_457)
    before = datetime.now(UTC)
    await running.append_logs("d-1", lines("x", level="error", stream="stderr", at=at))
    await running.append_logs("d-1", lines("y"))
    x, y = (await running.logs("d-1")).items
    assert (x.level, x.stream, x.at) == ("error", "stderr", at)
    assert (y.level, y.stream) == ("info", "system")
    assert y.at >= before.replace(microsecond=before.microsecond // 1000 * 1000)
    assert x.model_dump()["at"] == "2026-05-28T09:00:00.123457Z"


async def test_lines_of_an_unknown_deployment_are_refused(engine: Engine) -> None:
    with pytest.raises(NotFound):
        await engine.append_logs("nobody", lines("x"))
    with pytest.raises(NotFound):
        await engine.logs("nobody")


async def test_hostile_content_is_stored_verbatim(running: Engine) -> None:
    """Sanitising is the display's job: the store keeps exactly what was sent."""
    await running.append_logs("d-1", lines(HOSTILE))
    assert (await running.logs("d-1")).items[0].message == HOSTILE


# -- masking -------------------------------------------------------------------------------


def database_bytes(tmp_path: Path) -> bytes:
    """The database file and its write-ahead log, where fresh commits live."""
    return b"".join(path.read_bytes() for path in sorted(tmp_path.glob("shipdeck.db*")))


@sqlite_only  # it reads the database file's bytes
async def test_secrets_are_masked_before_they_reach_the_database(
    db_url: str, tmp_path: Path
) -> None:
    secrets = {"api": ["hunter2-longer"], "web": ["hunter2", "s3cr3t-token"]}
    async with configured(db_url, logs={"secrets": secrets}) as engine:
        await engine.ingest(row(Status.IN_PROGRESS))
        stored = await engine.append_logs(
            "d-1",
            lines(
                "login with hunter2-longer then hunter2",
                "token=s3cr3t-token; marker-visible",
                "caller value per-run-pass!",
            ),
            secrets=["per-run-pass!", ""],
        )
        assert [line.message for line in stored] == [
            "login with •••• then ••••",
            "token=••••; marker-visible",
            "caller value ••••",
        ]
        assert (await engine.logs("d-1")).items == stored
    on_disk = database_bytes(tmp_path)
    assert b"marker-visible" in on_disk  # the scan does see stored messages
    for secret in ("hunter2", "s3cr3t-token", "per-run-pass!"):
        assert secret.encode() not in on_disk


async def test_long_lines_are_cut_after_masking(db_url: str) -> None:
    async with configured(
        db_url, logs={"max_line_bytes": 256, "secrets": {"api": ["topsecret"]}}
    ) as engine:
        await engine.ingest(row(Status.IN_PROGRESS))
        # The secret straddles byte 253, where the cut falls: masking comes first, so no
        # prefix of it survives (cutting first would keep "top").
        message = "é" * 125 + "topsecret" + "x" * 500
        (line,) = await engine.append_logs("d-1", lines(message))
        assert line.message == "é" * 125 + "•…"
        assert len(line.message.encode()) == 256
        assert "top" not in line.message


# -- pages -------------------------------------------------------------------------------


async def test_pages_walk_every_line_once(running: Engine) -> None:
    await running.append_logs("d-1", lines(*(f"l{n}" for n in range(1, 8))))
    seen: list[int] = []
    after: int | None = 0
    while after is not None:
        page = await running.logs("d-1", after=after, limit=3)
        seen += [line.seq for line in page.items]
        after = page.next_after
    assert seen == list(range(1, 8))
    assert (await running.logs("d-1", after=6, limit=1)).next_after is None
    assert (await running.logs("d-1", after=99)).items == []


@pytest.mark.parametrize(("after", "limit"), [(-1, 10), (0, 0), (0, 501)])
async def test_page_bounds_are_checked(running: Engine, after: int, limit: int) -> None:
    with pytest.raises(InvalidRequest):
        await running.logs("d-1", after=after, limit=limit)


# -- following -----------------------------------------------------------------------------


async def test_a_follower_gets_history_then_live_lines_then_ends(running: Engine) -> None:
    await running.append_logs("d-1", lines("h1", "h2"))
    async with running.follow_logs("d-1") as follower:
        assert [line.message for line in await take(follower, 2)] == ["h1", "h2"]
        await assert_waits(follower)
        await running.append_logs("d-1", lines("live1"))
        await running.append_logs("d-1", lines("live2", "live3"))
        assert [line.seq for line in await take(follower, 3)] == [3, 4, 5]
        # Lines appended just before the final row are delivered before the end.
        await running.append_logs("d-1", lines("last words"))
        await running.ingest(row(Status.FAILURE, seconds=5))
        assert [line.message for line in await rest(follower)] == ["last words"]
        assert not follower.closed
    assert running.deployment_logs.follower_count == 0


async def test_following_resumes_after_a_position(running: Engine) -> None:
    await running.append_logs("d-1", lines("a", "b", "c"))
    await running.ingest(row(Status.SUCCESS, seconds=1))
    async with running.follow_logs("d-1", after=2) as follower:
        assert [line.message for line in await rest(follower)] == ["c"]


@pytest.mark.parametrize("final", [Status.SUCCESS, Status.CANCELLED, Status.REJECTED])
async def test_a_finished_deployment_sends_its_history_and_ends(
    engine: Engine, final: Status
) -> None:
    await engine.ingest(row(Status.IN_PROGRESS))
    await engine.append_logs("d-1", lines("a", "b"))
    await engine.ingest(row(final, seconds=1))
    async with engine.follow_logs("d-1") as follower:
        assert [line.seq for line in await rest(follower)] == [1, 2]


async def test_an_older_final_row_does_not_end_the_stream(running: Engine) -> None:
    """Only the latest row (by happened_at) tells whether the deployment is over."""
    await running.ingest(row(Status.IN_PROGRESS, seconds=10))
    async with running.follow_logs("d-1") as follower:
        await running.ingest(row(Status.SUCCESS, seconds=5))  # late news of an earlier run
        await assert_waits(follower)
        await running.ingest(row(Status.SUCCESS, seconds=20))
        assert await rest(follower) == []


async def test_a_slow_follower_catches_up_from_the_store_without_repeats(db_url: str) -> None:
    async with configured(db_url, stream={"subscriber_queue": 4}) as engine:
        await engine.ingest(row(Status.IN_PROGRESS))
        async with engine.follow_logs("d-1") as follower:
            await assert_waits(follower)  # attached and caught up: now only live lines
            for batch in range(10):  # 50 lines into a queue of 4: it overflows
                await engine.append_logs("d-1", lines(*(f"{batch}.{n}" for n in range(5))))
            assert [line.seq for line in await take(follower, 50)] == list(range(1, 51))
            await engine.append_logs("d-1", lines("after the overflow"))
            assert [line.seq for line in await take(follower, 1)] == [51]
            await engine.ingest(row(Status.SUCCESS, seconds=1))
            assert await rest(follower) == []


async def test_followers_of_other_deployments_see_nothing(running: Engine) -> None:
    await running.ingest(row(Status.IN_PROGRESS, "d-2"))
    async with running.follow_logs("d-2") as other:
        await running.append_logs("d-1", lines("not yours"))
        await running.ingest(row(Status.SUCCESS, seconds=1))
        await assert_waits(other)


async def test_shutting_down_ends_every_follower(running: Engine) -> None:
    async with running.follow_logs("d-1") as follower:
        await assert_waits(follower)
        running.close_subscriptions()
        assert await rest(follower) == []
        assert follower.closed


async def test_leaving_a_follower_early_detaches_it(running: Engine) -> None:
    await running.append_logs("d-1", lines("a", "b"))
    async with running.follow_logs("d-1") as follower:
        await take(follower, 1)
        assert running.deployment_logs.follower_count == 1
    assert running.deployment_logs.follower_count == 0
    with pytest.raises(InvalidRequest):
        running.follow_logs("d-1", after=-1)


async def test_a_line_both_read_and_queued_is_delivered_once(
    running: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line committed while the follower reads the store reaches it twice: by the
    read and by its queue. It must be delivered once."""
    logs = running.deployment_logs
    read = logs.read
    raced = False

    async def read_while_a_line_is_appended(deployment_id: str, after: int, limit: int) -> Any:
        nonlocal raced
        if not raced:
            raced = True
            await running.append_logs("d-1", lines("raced"))  # queued, and in this read
        return await read(deployment_id, after, limit)

    monkeypatch.setattr(logs, "read", read_while_a_line_is_appended)
    await running.append_logs("d-1", lines("history"))
    async with running.follow_logs("d-1") as follower:
        assert [line.message for line in await take(follower, 2)] == ["history", "raced"]
        await running.append_logs("d-1", lines("live"))
        assert [line.seq for line in await take(follower, 1)] == [3]
        await assert_waits(follower)
