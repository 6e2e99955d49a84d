"""`kill -9` during ingest loses no acknowledged row and never corrupts the log.

A real `shipdeck serve` on a SQLite file takes concurrent POSTs while it is killed with
SIGKILL again and again and restarted on the same file. Every row answered with `201` must
be there at the end, the file must pass SQLite's own check, and the event log must still
be one gap-free sequence with exactly one event per row.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.rawdb import RawDB

pytestmark = pytest.mark.slow

WORKERS = 8
KILLS = 6
ACKS_PER_ROUND = 40
"""Rows acknowledged between two kills (the load keeps going through each kill)."""
WAIT = 30.0
BASE_TIME = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
STATUSES = ("in-progress", "success", "failure", "queued")


class Load:
    """Writers POSTing distinct rows until told to stop, through outages."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self.acked: dict[str, str] = {}
        """Row id → deployment id of every row answered with 201."""
        self.refused: list[str] = []
        """Any answer other than 201 (there should be none)."""
        self.interrupted = 0
        """Requests cut off by a kill after they were sent."""
        self.progress = asyncio.Event()
        self.stopping = asyncio.Event()

    def body(self, worker: int, n: int) -> dict[str, object]:
        happened = BASE_TIME + timedelta(seconds=(n * 7919 + worker * 104729) % 86_400)
        return {
            "deployment_id": f"w{worker}-{n}",  # every attempt distinct, acknowledged or not
            "service": f"service-{worker % 3}",
            "environment": ("dev", "staging", "prod")[n % 3],
            "version": f"1.{n}",
            "status": STATUSES[(n + worker) % len(STATUSES)],
            "happened_at": happened.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    async def worker(self, worker: int) -> None:
        headers = {"X-Api-Key": self.api_key}
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0) as http:
            for n in itertools.count():
                if self.stopping.is_set():
                    return
                body = self.body(worker, n)
                try:
                    response = await http.post("/api/deployments", json=body, headers=headers)
                except httpx.ConnectError:
                    await asyncio.sleep(0.01)  # the server is down: back off briefly
                    continue
                except httpx.TransportError:
                    self.interrupted += 1  # killed mid-request: the row may or may not exist
                    continue
                if response.status_code != 201:
                    self.refused.append(f"{response.status_code} {response.text}")
                    continue
                stored = response.json()
                assert stored["deployment_id"] == body["deployment_id"]
                self.acked[stored["id"]] = stored["deployment_id"]
                self.progress.set()

    async def more_acks(self, count: int) -> None:
        """Wait until `count` more rows are acknowledged than now."""
        target = len(self.acked) + count
        try:
            async with asyncio.timeout(WAIT):
                while len(self.acked) < target:
                    self.progress.clear()
                    await self.progress.wait()
        except TimeoutError:
            raise AssertionError(f"only {len(self.acked)} of {target} rows acknowledged") from None


async def all_row_ids(url: str) -> dict[str, str]:
    """Row id → deployment id of every row the server lists, walking every page."""
    found: dict[str, str] = {}
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        while True:
            params: dict[str, str | int] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            response = await http.get("/api/deployments", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            found.update((item["id"], item["deployment_id"]) for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return found


async def test_acknowledged_rows_survive_repeated_kill_9(db_url: str, api_key: str) -> None:
    server = ServerProcess(db_url)
    try:
        await asyncio.to_thread(server.start)
        load = Load(server.url, api_key)
        workers = [asyncio.create_task(load.worker(w)) for w in range(WORKERS)]
        try:
            for _ in range(KILLS):
                await load.more_acks(ACKS_PER_ROUND)
                await asyncio.to_thread(server.kill, signal.SIGKILL)  # writes in flight
                await asyncio.to_thread(server.start)
            await load.more_acks(ACKS_PER_ROUND)
        finally:
            load.stopping.set()
            await asyncio.gather(*workers)

        assert not load.refused, load.refused[:5]
        assert load.interrupted > 0, "no kill hit a request in flight"
        listed = await all_row_ids(server.url)
        missing = set(load.acked) - set(listed)
        assert not missing, f"{len(missing)} acknowledged rows are gone after kill -9"
        assert all(listed[row_id] == dep for row_id, dep in load.acked.items())
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
            for row_id in list(load.acked)[:: max(1, len(load.acked) // 20)]:
                response = await http.get(f"/api/deployments/{row_id}")
                assert response.status_code == 200, response.text
                assert response.json()["deployment_id"] == load.acked[row_id]
        await asyncio.to_thread(server.kill, signal.SIGKILL)  # the last stop is a crash too
    finally:
        server.stop()

    assert_database_is_sound(db_url, len(load.acked))


def assert_database_is_sound(db_url: str, acknowledged: int) -> None:
    conn = RawDB(db_url)
    try:
        assert conn.integrity_ok()
        seqs = [r[0] for r in conn.rows("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), "the event log has gaps"
        assert conn.head() == len(seqs), "a sequence number was spent on a lost event"

        rows = dict(conn.rows("SELECT id, deployment_id FROM deployments"))
        assert acknowledged <= len(rows)  # unacknowledged attempts may or may not be there
        assert len(set(rows.values())) == len(rows), "a POST was stored twice"
        carried = [
            json.loads(data)["id"]
            for (data,) in conn.rows("SELECT data FROM events WHERE type = 'deployment'")
        ]
        assert len(carried) == len(seqs)
        assert sorted(carried) == sorted(rows), "rows and events do not pair up one to one"
    finally:
        conn.close()
