"""Three `shipdeck serve` replicas on one PostgreSQL database.

Everything here is real: a throwaway PostgreSQL cluster, `shipdeck serve` child processes on
loopback ports, SIGKILL, `pg_ctl restart`. The checks: the event feed is one gap-free,
commit-ordered sequence on every replica (live and resumed elsewhere), concurrent decisions
on different replicas never double-run anything, a dead replica's run is ended by another
once its lease lapses, and log lines, key revocations and a database restart reach every
replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from shipdeck.domain import Role, to_micros, utc_now
from shipdeck.engine.keys import hash_secret, issue_key, split_token
from shipdeck.engine.store import open_store
from tests.conftest import ServerProcess
from tests.postgres import PostgresCluster
from tests.rawdb import RawDB
from tests.server.test_crash_safety import all_row_ids

pytestmark = pytest.mark.slow

WAIT = 30.0
"""Seconds to wait for something that must happen (a bound, never a sleep)."""
LEASE_S = 3.0
FINAL = ("success", "failure", "cancelled", "rejected")

CLUSTER_TOML = f"""
[[environments]]
name = "dev"
[[environments]]
name = "qa"
[[environments]]
name = "prod"

[rate_limit]
per_second = 1000000
burst = 1000000

[stream]
ping_interval = 0.5

[cluster]
lease_seconds = {LEASE_S}

[executor]
driver = "fast"

[executor.services]
slow = "slow"

[drivers.fast]
kind = "simulate"
scale = 0.002
failure_rate = 0.0

[drivers.slow]
kind = "simulate"
scale = 0.3
failure_rate = 0.0

[policies.prod]
approvals_required = 3
"""
"""Three environments (prod asks for three approvals), a fast driver for every slot but
the `slow` service's (3–9 s runs), leases of three seconds, no rate limits."""


# -- replicas ----------------------------------------------------------------------------


def _drain(stream: IO[bytes] | None, sink: Path) -> None:
    """Copy a server's stderr to a file, so a full pipe never blocks its logging."""
    if stream is None:
        return

    def pump() -> None:
        with sink.open("ab") as out, contextlib.suppress(ValueError, OSError):
            for line in stream:
                out.write(line)
                out.flush()

    threading.Thread(target=pump, daemon=True, name=f"drain {sink.name}").start()


@dataclass
class Replica:
    """One `shipdeck serve` of the cluster; its name as it puts it in leases."""

    server: ServerProcess
    log: Path
    name: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def alive(self) -> bool:
        proc = self.server.proc
        return proc is not None and proc.poll() is None

    def start(self) -> Replica:
        self.server.start(timeout=40.0)
        assert self.server.proc is not None
        _drain(self.server.proc.stderr, self.log)
        self.name = httpx.get(self.url + "/readyz", timeout=5).json()["replica"]
        return self

    def kill(self) -> None:
        self.server.kill(signal.SIGKILL)


async def start_replicas(
    factory: type[ServerProcess], db_url: str, config: Path, logs: Path, count: int = 3
) -> list[Replica]:
    """`count` replicas on `db_url`, started together."""
    replicas = [
        Replica(factory(db_url, config=config), logs / f"replica-{n}.log") for n in range(count)
    ]
    await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
    names = {r.name for r in replicas}
    assert len(names) == count, f"replica names must differ: {names}"
    return replicas


@pytest.fixture
def cluster_config(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER_TOML)
    return path


@pytest.fixture
async def replicas(
    server_factory: type[ServerProcess], pg_url: str, cluster_config: Path, tmp_path: Path
) -> list[Replica]:
    """Three replicas on the test's PostgreSQL database (stopped by `server_factory`)."""
    return await start_replicas(server_factory, pg_url, cluster_config, tmp_path)


def make_keys(db_url: str, specs: Sequence[tuple[str, Role]]) -> list[str]:
    """Keys made straight in the store (what `shipdeck keys create` does, without a process
    per key); their tokens, in order."""
    store = open_store(db_url)
    tokens = []
    try:
        for name, role in specs:
            issued = issue_key()
            now = to_micros(utc_now())
            store.create_key(name, role, issued.key_id, hash_secret(issued.secret), now)
            tokens.append(issued.token)
    finally:
        store.close()
    return tokens


# -- waiting -------------------------------------------------------------------------------


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = WAIT
) -> float:
    """Poll `predicate` until it holds; the seconds that took (fails after `timeout`)."""
    started = time.monotonic()
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        await asyncio.sleep(0.02)


# -- the event feed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: str


@dataclass
class Subscriber:
    """Reads `/api/events/stream` of one replica into `events` until the stream ends."""

    url: str
    last_event_id: str | None = None
    events: list[Event] = field(default_factory=list)
    start: int | None = None
    """The position the preamble announced (its `id:`)."""
    ended: BaseException | None = None
    """Why the stream stopped, once it did."""
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last(self) -> int | None:
        return self.events[-1].seq if self.events else self.start

    async def open(self) -> Subscriber:
        """Connect; return once subscribed (the preamble arrived)."""
        self._task = asyncio.create_task(self._run())
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({ready, self._task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if not self._ready.is_set():
            raise AssertionError(f"no stream from {self.url}: {self.ended!r}")
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def deployments(self) -> list[Event]:
        return [e for e in self.events if e.type == "deployment"]

    async def _run(self) -> None:
        headers = {} if self.last_event_id is None else {"Last-Event-ID": self.last_event_id}
        timeout = httpx.Timeout(10.0, read=15.0)  # pings come every 0.5 s
        try:
            async with (
                httpx.AsyncClient(base_url=self.url, timeout=timeout) as http,
                http.stream("GET", "/api/events/stream", headers=headers) as response,
            ):
                assert response.status_code == 200, response.status_code
                frame: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        if name:
                            value = value.removeprefix(" ")
                            frame[name] = f"{frame[name]}\n{value}" if name in frame else value
                        continue
                    if "retry" in frame:
                        self.start = int(frame["id"])
                        self._ready.set()
                    elif "event" in frame:
                        self.events.append(Event(int(frame["id"]), frame["event"], frame["data"]))
                    frame = {}
            self.ended = EOFError("the server ended the stream")
        except asyncio.CancelledError:
            self.ended = EOFError("closed by the test")
            raise
        except Exception as exc:  # a killed server, a cut connection
            self.ended = exc


def logged_events(db_url: str, after: int = 0) -> list[Event]:
    """The event log as the database holds it."""
    with RawDB(db_url) as db:
        rows = db.rows("SELECT seq, type, data FROM events WHERE seq > ? ORDER BY seq", (after,))
    return [Event(int(seq), str(kind), str(data)) for seq, kind, data in rows]


def assert_gap_free(events: Sequence[Event], after: int) -> None:
    seqs = [e.seq for e in events]
    assert seqs == list(range(after + 1, after + 1 + len(seqs))), (
        f"not one gap-free run after {after}: {seqs[:10]}…{seqs[-10:]}"
    )


# -- requests ------------------------------------------------------------------------------


_ROW_NUMBER = itertools.count(1)


def row(prefix: str = "r", **fields: Any) -> dict[str, Any]:
    n = next(_ROW_NUMBER)
    return {
        "deployment_id": f"{prefix}-{n}",
        "service": f"svc-{n % 5}",
        "environment": "dev",
        "status": "success",
        "version": f"1.{n}",
        "happened_at": "2026-05-28T10:00:00Z",
        **fields,
    }


async def ingest(http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/api/deployments", json=body, headers={"X-Api-Key": key})
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


@asynccontextmanager
async def clients(replicas: Sequence[Replica]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(base_url=r.url, timeout=WAIT))
            for r in replicas
        ]


def statuses_by_deployment(db_url: str) -> dict[str, list[str]]:
    """deployment_id → the statuses of its rows, in arrival order."""
    found: dict[str, list[str]] = {}
    with RawDB(db_url) as db:
        for deployment_id, status in db.rows(
            "SELECT deployment_id, status FROM deployments ORDER BY arrival"
        ):
            found.setdefault(deployment_id, []).append(status)
    return found


def assert_ran_once(statuses: dict[str, list[str]], deployment_ids: set[str]) -> None:
    """Each accepted deployment: one `queued` row, one terminal row, ending it."""
    for deployment_id in deployment_ids:
        seen = statuses.get(deployment_id, [])
        assert seen.count("queued") == 1, (deployment_id, seen)
        assert sum(seen.count(s) for s in FINAL) == 1, (deployment_id, seen)
        assert seen[-1] in FINAL, (deployment_id, seen)
        assert seen.count("in-progress") == 0 or seen[-1] != "cancelled", (deployment_id, seen)


# -- 1. fan-out -------------------------------------------------------------------------------


async def test_every_subscriber_of_every_replica_gets_every_event_once_in_order(
    replicas: list[Replica], pg_url: str
) -> None:
    (reporter,) = make_keys(pg_url, [("ci", Role.REPORTER)])
    subscribers = [await Subscriber(r.url).open() for r in replicas for _ in range(2)]
    start = subscribers[0].start
    assert start is not None and all(s.start == start for s in subscribers)
    total = 150
    bodies = [row("fan") for _ in range(total)]
    async with clients(replicas) as https:
        gate = asyncio.Semaphore(12)

        async def post(n: int) -> str:
            async with gate:
                return (await ingest(https[n % 3], reporter, bodies[n]))["id"]

        row_ids = await asyncio.gather(*(post(n) for n in range(total)))
    try:
        await until(
            lambda: all(len(s.events) >= total for s in subscribers),
            f"every subscriber has {total} events",
        )
        logged = logged_events(pg_url, start)
        assert len(logged) == total
        assert_gap_free(logged, start)
        assert {json.loads(e.data)["id"] for e in logged} == set(row_ids)
        for subscriber in subscribers:
            assert subscriber.ended is None, subscriber.ended
            assert subscriber.events == logged  # same numbers, same order, same data, once
    finally:
        for subscriber in subscribers:
            await subscriber.close()


# -- 2. resume elsewhere -------------------------------------------------------------------


async def test_a_subscriber_of_a_killed_replica_resumes_on_another_without_loss(
    replicas: list[Replica], pg_url: str
) -> None:
    a, b, c = replicas
    (reporter,) = make_keys(pg_url, [("ci", Role.REPORTER)])
    first = await Subscriber(a.url).open()
    start = first.start
    assert start is not None
    stop = asyncio.Event()
    posted: list[str] = []

    async def keep_ingesting() -> None:
        async with httpx.AsyncClient(base_url=b.url, timeout=WAIT) as http:
            while not stop.is_set():
                posted.append((await ingest(http, reporter, row("resume")))["id"])

    load = asyncio.create_task(keep_ingesting())
    resumed: Subscriber | None = None
    try:
        await until(lambda: len(first.events) >= 20, "the first subscriber has 20 events")
        await asyncio.to_thread(a.kill)  # mid-stream: events keep coming from B
        await until(lambda: first.ended is not None, "the stream of the killed replica ended")
        last = first.last
        assert last is not None
        missed_at_least = len(posted) + 20
        await until(lambda: len(posted) >= missed_at_least, "20 more rows after the kill")
        resumed = await Subscriber(c.url, last_event_id=str(last)).open()
        assert resumed.start == last
        await until(lambda: len(posted) >= missed_at_least + 20, "ingest goes on, live")
        stop.set()
        await load
        head = start + len(posted)
        await until(lambda: resumed.last == head, f"the resumed stream reaches {head}")
        logged = logged_events(pg_url, start)
        assert [json.loads(e.data)["id"] for e in logged] == posted
        assert first.events + resumed.events == logged  # nothing lost, nothing twice
        assert_gap_free(first.events + resumed.events, start)
    finally:
        stop.set()
        load.cancel()
        with contextlib.suppress(BaseException):
            await load
        await first.close()
        if resumed is not None:
            await resumed.close()


# -- 3. approvals -----------------------------------------------------------------------------


async def test_fifty_concurrent_approvals_on_three_replicas_start_one_deployment(
    replicas: list[Replica], pg_url: str
) -> None:
    reporter, deployer, *approvers = make_keys(
        pg_url,
        [("ci", Role.REPORTER), ("req", Role.DEPLOYER)]
        + [(f"approver-{n}", Role.APPROVER) for n in range(50)],
    )
    async with clients(replicas) as https:
        await ingest(https[0], reporter, row("seed", service="api", environment="qa"))
        asked = await https[1].post(
            "/api/promotions",
            json={"service": "api", "from_environment": "qa"},
            headers={"X-Api-Key": deployer},
        )
        assert asked.status_code == 202, asked.text
        promotion_id = asked.json()["promotion_id"]
        deployment_id = asked.json()["deployment_id"]
        assert promotion_id and asked.json()["status"] == "waiting"
        answers = await asyncio.gather(
            *(
                https[n % 3].post(
                    f"/api/promotions/{promotion_id}/approve", headers={"X-Api-Key": key}
                )
                for n, key in enumerate(approvers)
            )
        )
        codes = [a.status_code for a in answers]
        assert codes.count(200) == 3 and codes.count(409) == 47, sorted(codes)
        kinds = {a.json()["type"].rsplit("/", 1)[1] for a in answers if a.status_code == 409}
        assert kinds == {"promotion-closed"}
        shown = (await https[2].get(f"/api/promotions/{promotion_id}")).json()
        assert shown["status"] == "approved" and len(shown["approvals"]) == 3

        async def finished() -> bool:
            items = (
                await https[0].get("/api/deployments", params={"deployment_id": deployment_id})
            ).json()["items"]
            return bool(items) and items[0]["status"] in FINAL

        await until(finished, "the approved promotion ran")
    statuses = statuses_by_deployment(pg_url)[deployment_id]
    assert statuses[:2] == ["waiting", "queued"] and statuses[-1] == "success", statuses
    assert_ran_once({deployment_id: statuses}, {deployment_id})
    with RawDB(pg_url) as db:
        runs = db.rows("SELECT state FROM executions WHERE deployment_id = ?", (deployment_id,))
        assert runs == [("done",)]
        assert db.rows("SELECT COUNT(*) FROM executions")[0][0] == 1


# -- 4. exactly-once execution ---------------------------------------------------------------


async def test_each_accepted_deploy_runs_once_with_three_replicas(
    replicas: list[Replica], pg_url: str
) -> None:
    (deployer,) = make_keys(pg_url, [("dep", Role.DEPLOYER)])
    async with clients(replicas) as https:

        async def deploy(n: int) -> str:
            body = {"service": f"svc-{n % 6}", "environment": "dev", "version": f"3.{n}"}
            response = await https[n % 3].post(
                "/api/deploys", json=body, headers={"X-Api-Key": deployer}
            )
            assert response.status_code == 202, response.text
            return str(response.json()["deployment_id"])

        accepted: set[str] = set()
        for wave in range(3):  # bursts on every slot at once, and again as they run
            accepted |= set(await asyncio.gather(*(deploy(wave * 30 + n) for n in range(30))))
        assert len(accepted) == 90

        def all_done() -> bool:
            with RawDB(pg_url) as db:
                return bool(
                    db.rows("SELECT COUNT(*) FROM executions WHERE state != 'done'")[0][0] == 0
                )

        await until(all_done, "every accepted deploy ended")
    statuses = statuses_by_deployment(pg_url)
    assert set(statuses) == accepted
    assert_ran_once(statuses, accepted)
    for deployment_id, seen in statuses.items():
        if seen[-1] == "success":
            # One claim (its first in-progress row), then the driver's phases.
            assert seen[1] == "in-progress" and seen.count("success") == 1, seen
        else:
            assert seen == ["queued", "cancelled"], (deployment_id, seen)  # superseded
    assert any(seen[-1] == "success" for seen in statuses.values())
    with RawDB(pg_url) as db:
        owners = {o for (o,) in db.rows("SELECT owner FROM executions WHERE owner IS NOT NULL")}
        assert owners <= {r.name for r in replicas}, owners


# -- 5. a lost replica -------------------------------------------------------------------------


async def test_a_killed_replicas_run_is_ended_by_another_and_the_slot_goes_on(
    replicas: list[Replica], pg_url: str
) -> None:
    (deployer,) = make_keys(pg_url, [("dep", Role.DEPLOYER)])
    by_name = {r.name: r for r in replicas}
    async with clients(replicas) as https:

        async def deploy(http: httpx.AsyncClient, version: str) -> str:
            body = {"service": "slow", "environment": "dev", "version": version}
            response = await http.post("/api/deploys", json=body, headers={"X-Api-Key": deployer})
            assert response.status_code == 202, response.text
            return str(response.json()["deployment_id"])

        first = await deploy(https[0], "1.0")

        def owner() -> str | None:
            with RawDB(pg_url) as db:
                found = db.rows(
                    "SELECT owner FROM executions WHERE deployment_id = ? AND state = 'running'",
                    (first,),
                )
            return str(found[0][0]) if found else None

        await until(lambda: owner() is not None, "the first deploy is claimed")
        lost = by_name[owner() or ""]
        second = await deploy(https[(replicas.index(lost) + 1) % 3], "2.0")
        assert statuses_by_deployment(pg_url)[second] == ["queued"]  # queued behind the first
        await asyncio.to_thread(lost.kill)
        killed_at = time.monotonic()
        alive = https[(replicas.index(lost) + 2) % 3]

        async def latest(deployment_id: str) -> dict[str, Any]:
            items = (
                await alive.get("/api/deployments", params={"deployment_id": deployment_id})
            ).json()["items"]
            found: dict[str, Any] = items[0]
            return found

        async def first_ended() -> bool:
            return (await latest(first))["status"] in FINAL

        await until(first_ended, "another replica ends the lost run", timeout=LEASE_S + 10)
        took = time.monotonic() - killed_at
        ended = await latest(first)
        assert ended["status"] == "failure"
        assert ended["message"].startswith(
            f"lost: replica {lost.name} stopped renewing its lease"
        ), ended["message"]
        assert took < LEASE_S + 3.0, f"the lost run was ended {took:.1f} s after the kill"

        async def second_ended() -> bool:
            return (await latest(second))["status"] in FINAL

        await until(second_ended, "the deploy queued behind it runs", timeout=WAIT)
        assert (await latest(second))["status"] == "success"
    statuses = statuses_by_deployment(pg_url)
    assert_ran_once(statuses, {first, second})
    with RawDB(pg_url) as db:
        (runner,) = db.rows("SELECT owner FROM executions WHERE deployment_id = ?", (second,))
        assert runner[0] != lost.name and runner[0] in by_name


# -- 6. log lines ------------------------------------------------------------------------------


async def test_log_lines_posted_on_one_replica_stream_live_from_another(
    replicas: list[Replica], pg_url: str
) -> None:
    a, b, _ = replicas
    (reporter,) = make_keys(pg_url, [("ci", Role.REPORTER)])
    ws_url = b.url.replace("http://", "ws://") + "/api/deployments/logs-1/logs/stream"
    async with httpx.AsyncClient(base_url=a.url, timeout=WAIT) as http:
        await ingest(http, reporter, row(deployment_id="logs-1", status="in-progress"))
        await until(
            lambda: httpx.get(b.url + "/api/deployments/logs-1/logs").status_code == 200,
            "the deployment is visible on B",
        )
        async with connect(ws_url, open_timeout=WAIT) as ws:
            received: list[dict[str, Any]] = []
            latencies = []
            for batch in range(5):
                messages = [f"batch {batch} line {n}" for n in range(10)]
                sent = time.monotonic()
                response = await http.post(
                    "/api/deployments/logs-1/logs",
                    json={"lines": [{"message": m} for m in messages]},
                    headers={"X-Api-Key": reporter},
                )
                assert response.status_code == 201, response.text
                async with asyncio.timeout(10):
                    while len(received) < 10 * (batch + 1):
                        received.append(json.loads(await ws.recv()))
                latencies.append(time.monotonic() - sent)
            assert [line["seq"] for line in received] == list(range(1, 51))
            assert [line["message"] for line in received] == [
                f"batch {b} line {n}" for b in range(5) for n in range(10)
            ]
            assert max(latencies) < 2.0, latencies
            # The deployment ends on A: B's follower hears of it and closes the stream.
            await ingest(http, reporter, row(deployment_id="logs-1", status="success"))
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(10):
                    extra = await ws.recv()
                    raise AssertionError(f"unexpected message {extra!r}")
            assert ws.close_code == 1000


# -- 7. key revocation ---------------------------------------------------------------------


async def test_a_revoked_key_is_refused_by_every_replica_within_a_second(
    replicas: list[Replica], pg_url: str
) -> None:
    (key,) = make_keys(pg_url, [("ci", Role.REPORTER)])
    key_id = (split_token(key) or ("", ""))[0]
    async with clients(replicas) as https:
        for http in https:  # every replica knows the key (and caches it)
            assert (await http.get("/api/whoami", headers={"X-Api-Key": key})).status_code == 200
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shipdeck", "keys", "revoke", "--database", pg_url, key_id],
            check=True,
            capture_output=True,
        )
        revoked_at = time.monotonic()

        async def refused(http: httpx.AsyncClient) -> float:
            async def now_refused() -> bool:
                answer = await http.get("/api/whoami", headers={"X-Api-Key": key})
                return answer.status_code == 401

            await until(now_refused, f"{http.base_url} refuses the revoked key", timeout=5)
            return time.monotonic() - revoked_at

        took = await asyncio.gather(*(refused(http) for http in https))
        assert max(took) < 1.0, took
        body = row()
        answer = await https[1].post("/api/deployments", json=body, headers={"X-Api-Key": key})
        assert answer.status_code == 401


# -- 8. PostgreSQL restarts --------------------------------------------------------------------


@dataclass
class Outage:
    """What an ingest loop and a readiness probe saw while the database restarted."""

    acked: list[str] = field(default_factory=list)
    codes: dict[int, int] = field(default_factory=dict)
    ready: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def ingest(self, url: str, key: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
            while not self.stopping.is_set():
                body = row("pg")
                try:
                    response = await http.post(
                        "/api/deployments", json=body, headers={"X-Api-Key": key}
                    )
                except httpx.TransportError:
                    self.transport_errors += 1
                    continue
                self.codes[response.status_code] = self.codes.get(response.status_code, 0) + 1
                if response.status_code == 201:
                    self.acked.append(response.json()["id"])
                elif response.status_code == 503:
                    assert response.headers.get("retry-after"), response.headers
                    await asyncio.sleep(0.05)

    async def probe(self, url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
            while not self.stopping.is_set():
                status = (await http.get("/readyz")).status_code
                self.ready[status] = self.ready.get(status, 0) + 1
                await asyncio.sleep(0.02)


async def test_a_postgresql_restart_is_503_then_ready_and_loses_nothing(
    replicas: list[Replica], pg_url: str, pg_cluster: PostgresCluster
) -> None:
    a, b, _ = replicas
    (reporter,) = make_keys(pg_url, [("ci", Role.REPORTER)])
    subscriber = await Subscriber(b.url).open()
    start = subscriber.start
    assert start is not None
    outage = Outage()
    tasks = [asyncio.create_task(outage.ingest(a.url, reporter)) for _ in range(4)]
    tasks.append(asyncio.create_task(outage.probe(a.url)))
    resumed: Subscriber | None = None
    try:
        await until(lambda: len(outage.acked) >= 40, "40 rows before the restart")
        # Down for a second: long enough that the probe (every 20 ms) must see it.
        await asyncio.to_thread(pg_cluster.restart, 1.0)
        after_restart = len(outage.acked)
        await until(lambda: len(outage.acked) >= after_restart + 40, "40 rows after the restart")
        outage.stopping.set()
        await asyncio.gather(*tasks)
        assert set(outage.codes) <= {201, 503}, outage.codes  # never a 500
        assert outage.codes.get(503, 0) + outage.ready.get(503, 0) > 0, (
            f"the restart went unnoticed: ingest {outage.codes}, readyz {outage.ready}"
        )
        assert set(outage.ready) <= {200, 503}, outage.ready
        async with clients(replicas) as https:  # ready again, never restarted
            for http in https:
                # A replica that served nothing meanwhile may still be reconnecting to the
                # database when A is: each is ready again within seconds, never restarted.
                async def ready(http: httpx.AsyncClient = http) -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await until(ready, f"{http.base_url} ready again", timeout=15)
        listed = await all_row_ids(a.url)
        assert not set(outage.acked) - set(listed), "acknowledged rows lost in the restart"

        logged = logged_events(pg_url, start)
        assert_gap_free(logged, start)
        # The stream of B may or may not have survived; resuming from where it got to (on
        # the same replica) gives the rest, and together they are the log, once each.
        await subscriber.close()
        last = subscriber.last
        assert last is not None
        assert subscriber.events == logged[: len(subscriber.events)]
        resumed = await Subscriber(b.url, last_event_id=str(last)).open()
        head = logged[-1].seq
        await until(lambda: resumed.last == head, f"the resumed stream reaches {head}")
        assert subscriber.events + resumed.events == logged
    finally:
        outage.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await subscriber.close()
        if resumed is not None:
            await resumed.close()
