"""`kill -9` of random replicas of a three-replica cluster on one PostgreSQL database.

While ingest, deploys, promotions and approvals go on through whichever replicas answer, a
loop kills a random replica with SIGKILL every few seconds and restarts it on the same port
(so under the same replica name). At the end: every acknowledged write is there, every
accepted deployment ran exactly once (one `queued` row, one terminal row, and it ends the
deployment), nothing is left running once the dead replicas' leases lapse, and the event
log is one gap-free sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipdeck.domain import Role
from tests.conftest import ServerProcess
from tests.rawdb import RawDB
from tests.server.test_crash_safety import all_row_ids
from tests.server.test_replicas import (
    LEASE_S,
    Replica,
    assert_ran_once,
    make_keys,
    start_replicas,
    statuses_by_deployment,
    until,
)

TOML = f"""
[[environments]]
name = "dev"
[[environments]]
name = "qa"
[[environments]]
name = "prod"

[rate_limit]
per_second = 1000000
burst = 1000000

[cluster]
lease_seconds = {LEASE_S}

[executor]
driver = "fast"

[drivers.fast]
kind = "simulate"
scale = 0.02
failure_rate = 0.1

[policies.prod]
approvals_required = 2
"""
"""Runs of 0.2–0.6 s (long enough to be cut by a kill), prod asking for two approvals."""

SERVICES = [f"svc-{n}" for n in range(4)]
SETTLE_S = 60.0
"""How long the cluster may take to end every run after the last kill."""


class Stopped(Exception):
    """The run is over: a request still unanswered is given up."""


class Cluster:
    """Clients of every replica: each request goes to a random one, the next on refusal."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.stopping = asyncio.Event()
        self.refused: list[str] = []
        """Answers no request should get (neither the expected one nor a retryable 503)."""
        self._clients: list[httpx.AsyncClient] = []

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Cluster]:
        async with contextlib.AsyncExitStack() as stack:
            self._clients = [
                await stack.enter_async_context(httpx.AsyncClient(base_url=r.url, timeout=5.0))
                for r in self.replicas
            ]
            yield self

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One attempt on a random replica: `None` when it was down or the answer was cut
        (then the request may or may not have been carried out)."""
        http = random.choice(self._clients)
        try:
            response = await http.request(method, path, **kwargs)
        except httpx.TransportError:
            await asyncio.sleep(0.02)
            return None
        if response.status_code == 503:
            return None  # the store is away on that replica: nothing was done
        return response

    async def until_answered(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The same request again (on random replicas) until one answers it."""
        while True:
            response = await self.send(method, path, **kwargs)
            if response is not None:
                return response
            if self.stopping.is_set():
                raise Stopped


class Workload:
    """Ingest, deploys and promotions with their approvals, and what was acknowledged."""

    def __init__(self, cluster: Cluster, reporter: str, deployer: str, approvers: list[str]):
        self.cluster = cluster
        self.reporter = {"X-Api-Key": reporter}
        self.deployer = {"X-Api-Key": deployer}
        self.approvers = [{"X-Api-Key": key} for key in approvers]
        self.acked: set[str] = set()
        """Row id of every ingested row answered 201."""
        self.interrupted = 0
        self.deployed: set[str] = set()
        """deployment_id of every deploy answered 202."""
        self.promoted: set[str] = set()
        """deployment_id of every promotion answered 202."""
        self.approved: dict[str, int] = {}
        """promotion id → approvals answered 200."""

    def refuse(self, what: str, response: httpx.Response) -> None:
        self.cluster.refused.append(f"{what}: {response.status_code} {response.text[:300]}")

    async def ingest(self, worker: int) -> None:
        for n in itertools.count():
            if self.cluster.stopping.is_set():
                return
            body = {
                "deployment_id": f"w{worker}-{n}",
                "service": SERVICES[n % len(SERVICES)],
                "environment": "staging",
                "version": f"1.{n}",
                "status": ("success", "failure", "in-progress")[n % 3],
                "happened_at": "2026-05-28T09:00:00Z",
            }
            response = await self.cluster.send(
                "POST", "/api/deployments", json=body, headers=self.reporter
            )
            if response is None:
                self.interrupted += 1
            elif response.status_code == 201:
                self.acked.add(response.json()["id"])
            else:
                self.refuse("ingest", response)

    async def deploys(self, worker: int) -> None:
        for n in itertools.count():
            if self.cluster.stopping.is_set():
                return
            headers = {**self.deployer, "Idempotency-Key": uuid.uuid4().hex}
            body = {
                "service": SERVICES[(n + worker) % 4],
                "environment": "dev",
                "version": f"2.{n}",
            }
            with contextlib.suppress(Stopped):
                response = await self.cluster.until_answered(
                    "POST", "/api/deploys", json=body, headers=headers
                )
                if response.status_code == 202:
                    self.deployed.add(response.json()["deployment_id"])
                else:
                    self.refuse("deploy", response)
            await asyncio.sleep(0.05)

    async def promotions(self) -> None:
        for n in itertools.count():
            if self.cluster.stopping.is_set():
                return
            with contextlib.suppress(Stopped):
                await self._promote(SERVICES[n % len(SERVICES)])
            await asyncio.sleep(0.05)

    async def _promote(self, service: str) -> None:
        headers = {**self.deployer, "Idempotency-Key": uuid.uuid4().hex}
        body = {"service": service, "from_environment": "qa", "to_environment": "prod"}
        asked = await self.cluster.until_answered(
            "POST", "/api/promotions", json=body, headers=headers
        )
        if asked.status_code != 202:
            self.refuse("promote", asked)
            return
        promotion_id = asked.json()["promotion_id"]
        self.promoted.add(asked.json()["deployment_id"])
        for approver in self.approvers:
            answer = await self.cluster.until_answered(
                "POST", f"/api/promotions/{promotion_id}/approve", headers=approver
            )
            if answer.status_code == 200:
                self.approved[promotion_id] = self.approved.get(promotion_id, 0) + 1
            elif answer.status_code != 409:  # 409: counted before a kill cut the answer
                self.refuse("approve", answer)


async def kill_and_restart(replicas: list[Replica], seconds: float, rng: random.Random) -> int:
    """Kill a random replica every 1–2.5 s, restart it on its port; the kills made."""
    kills = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(1.0, 2.5))
        victim = rng.choice(replicas)
        await asyncio.to_thread(victim.kill)
        kills += 1
        name = victim.name
        await asyncio.to_thread(victim.start)
        assert victim.name == name, "a restarted replica keeps its name"
    return kills


async def fault_run(
    server_factory: type[ServerProcess], db_url: str, tmp_path: Path, seconds: float
) -> dict[str, Any]:
    config = tmp_path / "cluster.toml"
    config.write_text(TOML)
    reporter, deployer, *approvers = make_keys(
        db_url,
        [("ci", Role.REPORTER), ("dep", Role.DEPLOYER)]
        + [(f"approver-{n}", Role.APPROVER) for n in range(2)],
    )
    replicas = await start_replicas(server_factory, db_url, config, tmp_path)
    cluster = Cluster(replicas)
    work = Workload(cluster, reporter, deployer, approvers)
    rng = random.Random()
    stats: dict[str, Any] = {}
    async with cluster.opened():
        for service in SERVICES:  # something to promote from qa
            body = {
                "deployment_id": f"seed-{service}",
                "service": service,
                "environment": "qa",
                "version": "1.0",
                "status": "success",
                "happened_at": "2026-05-28T08:00:00Z",
            }
            answer = await cluster.until_answered(
                "POST", "/api/deployments", json=body, headers=work.reporter
            )
            assert answer.status_code == 201
        tasks = [asyncio.create_task(work.ingest(w)) for w in range(3)]
        tasks += [asyncio.create_task(work.deploys(w)) for w in range(2)]
        tasks.append(asyncio.create_task(work.promotions()))
        started = time.monotonic()
        try:
            stats["kills"] = await kill_and_restart(replicas, seconds, rng)
        finally:
            cluster.stopping.set()
            await asyncio.gather(*tasks)
        stats["load_s"] = round(time.monotonic() - started, 1)
        assert not cluster.refused, cluster.refused[:5]
        assert all(r.alive for r in replicas)

        listed = await all_row_ids(replicas[0].url)
        assert not work.acked - set(listed), f"{len(work.acked - set(listed))} rows lost"

        # Runs of replicas killed last end once their leases lapse (or at once, when the
        # replica restarted under its name); queued ones run. Then nothing is in progress.
        def settled() -> bool:
            with RawDB(db_url) as db:
                return (
                    int(db.rows("SELECT COUNT(*) FROM executions WHERE state != 'done'")[0][0]) == 0
                )

        stats["settle_s"] = round(await until(settled, "every run ended", timeout=SETTLE_S), 1)
        for promotion_id, count in work.approved.items():
            shown = await cluster.until_answered("GET", f"/api/promotions/{promotion_id}")
            assert len(shown.json()["approvals"]) >= count, "an acknowledged approval is lost"
            if len(shown.json()["approvals"]) >= 2:
                assert shown.json()["status"] == "approved", shown.json()

    statuses = statuses_by_deployment(db_url)
    with RawDB(db_url) as db:
        runs = {str(d) for (d,) in db.rows("SELECT deployment_id FROM executions")}
        seqs = [int(s) for (s,) in db.rows("SELECT seq FROM events ORDER BY seq")]
        head = int(db.rows("SELECT seq FROM event_head")[0][0])
        messages = [
            str(m) for (m,) in db.rows("SELECT doc FROM deployments WHERE status = 'failure'")
        ]
    assert work.deployed <= runs and work.promoted <= runs
    # Every run shipdeck accepted (acknowledged or not) ran once and ended.
    assert_ran_once(statuses, runs)
    assert seqs == list(range(1, head + 1)), "the event log has gaps"
    stats.update(
        rows=len(work.acked),
        interrupted=work.interrupted,
        deploys=len(work.deployed),
        promotions=len(work.promoted),
        approvals=sum(work.approved.values()),
        runs=len(runs),
        lost=sum("lost: replica" in m for m in messages),
        restarted=sum("interrupted: engine restarted" in m for m in messages),
        events=head,
    )
    return stats


@pytest.mark.slow
async def test_kill_9_of_random_replicas(
    server_factory: type[ServerProcess], pg_url: str, tmp_path: Path
) -> None:
    stats = await fault_run(server_factory, pg_url, tmp_path, seconds=14.0)
    print(f"\nreplica faults: {stats}")
    assert stats["kills"] >= 3 and stats["deploys"] > 0 and stats["rows"] > 0


@pytest.mark.full
async def test_kill_9_of_random_replicas_for_three_minutes(
    server_factory: type[ServerProcess], pg_url: str, tmp_path: Path
) -> None:
    stats = await fault_run(server_factory, pg_url, tmp_path, seconds=170.0)
    print(f"\nreplica faults: {stats}")
    # Kills land mid-run: runs are ended "interrupted" by the restarted replica. A run ended
    # "lost" by another replica needs its owner to stay down a whole lease, which random
    # restarts rarely give; tests/server/test_replicas.py forces that case deterministically.
    assert stats["kills"] >= 25 and stats["approvals"] > 0 and stats["restarted"] > 0
