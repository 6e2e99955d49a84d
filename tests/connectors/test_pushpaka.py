"""The Pushpaka connector against a fake that speaks what Pushpaka's API document says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shipdeck.client import (
    ActionRefused,
    EngineError,
    LinkState,
    LogLinesArrived,
    LogStreamEnded,
    NotOffered,
)
from shipdeck.client.pushpaka import PushpakaClient
from shipdeck.domain import Status
from shipdeck.domain.analytics import AnalyticsQuery

from .loopback import Loopback, serving
from .pushpaka_fake import EMAIL, PASSWORD, PushpakaFake

NOW = datetime.now(UTC).replace(microsecond=0)
WAIT = 10.0


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.fixture
async def pushpaka() -> AsyncIterator[tuple[PushpakaFake, Loopback, dict[str, str]]]:
    """A shop deployed from main (live, then a failure) and a preview branch (building)."""
    fake = PushpakaFake()
    shop, docs = fake.project("shop"), fake.project("docs", branch="trunk")
    ok = fake.deploy(shop["id"], "main", "3f2c1a9aaaa", at=ago(60), commit_msg="Add cart")
    fake.advance(ok["id"], "building", at=ago(60))
    fake.advance(ok["id"], "running", at=ago(58))
    bad = fake.deploy(shop["id"], "main", "b00b1e5bbbb", at=ago(5), commit_msg="Pay later")
    fake.advance(bad["id"], "building", at=ago(5))
    fake.advance(bad["id"], "failed", "npm ERR! build failed", at=ago(4))
    preview = fake.deploy(shop["id"], "preview", "c0ffee0cccc", at=ago(1))
    fake.advance(preview["id"], "building", at=ago(1))
    fake.log(preview["id"], "Cloning repository", stream="system")
    ids = {"ok": ok["id"], "bad": bad["id"], "preview": preview["id"], "docs": docs["id"]}
    async with serving(fake.app) as loopback:
        yield fake, loopback, ids


async def login(url: str) -> str:
    """The JWT, as a person gets it: `POST /api/v1/auth/login`."""
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 200
    return str(answer.json()["token"])


async def started(url: str, token: str | None, **options: Any) -> PushpakaClient:
    client = PushpakaClient(
        url,
        token,
        token_env="PUSHPAKA_JWT",
        poll_interval=0.2,
        backoff_base=0.05,
        log_check_interval=0.2,
        **options,
    )
    await client.start()
    return client


async def test_projects_and_the_branches_they_deploy_make_the_matrix(pushpaka) -> None:
    _, loopback, _ = pushpaka
    client = await started(loopback.url, await login(loopback.url))
    try:
        index = await client.matrix_index()
        assert index.environments == ["main", "preview", "trunk"]  # docs never deployed
        assert index.services == ["docs", "shop"]
        assert index.full is not None
        slots = {r.service: r.slots for r in index.full.rows}
        main = slots["shop"]["main"]
        assert (main.current.status, main.current.version) == (Status.FAILURE, None)
        assert main.current.sha == "b00b1e5bbbb"  # Pushpaka has no version: the commit
        assert main.current.message == "npm ERR! build failed"
        assert main.last_successful is not None
        assert main.last_successful.message == "Add cart"  # the commit message
        preview = slots["shop"]["preview"].current
        assert (preview.status, preview.phase) == (Status.IN_PROGRESS, "building")
        assert slots["docs"] == {}
    finally:
        await client.close()


async def test_logs_history_then_live_until_the_deployment_ends(pushpaka) -> None:
    fake, loopback, ids = pushpaka
    token = await login(loopback.url)
    client = await started(loopback.url, token)
    try:
        lines: list[str] = []
        stream = client.follow_logs(ids["preview"])
        async with asyncio.timeout(WAIT):
            async for item in stream:
                if isinstance(item, LogLinesArrived):
                    lines.extend(f"{x.seq} {x.stream}/{x.level}: {x.message}" for x in item.lines)
                    if len(lines) == 1:
                        fake.log(ids["preview"], "npm run build")
                        fake.log(ids["preview"], "error: exit 1", level="error", stream="stderr")
                        fake.advance(ids["preview"], "failed", "exit 1")
                if isinstance(item, LogStreamEnded):
                    break
        assert lines == [
            "1 system/info: Cloning repository",
            "2 stdout/info: npm run build",
            "3 stderr/error: error: exit 1",
        ]
        sockets = [r for r in fake.requests if r.startswith("WS ")]
        assert sockets == [f"WS /api/v1/logs/{ids['preview']}/stream"]  # the token: not logged
        page = await client.logs(ids["preview"], after=1)
        assert [line.message for line in page.items] == ["npm run build", "error: exit 1"]
        unknown = client.follow_logs("no-such-deployment")
        async with asyncio.timeout(WAIT):
            items = [item async for item in unknown]
        last = items[-1]
        assert last.status.state is LinkState.OFFLINE
        assert last.status.detail == "Pushpaka knows no deployment no-such-deployment"
    finally:
        await client.close()


async def test_redeploy_retry_and_rollback_but_no_cancel(pushpaka) -> None:
    fake, loopback, ids = pushpaka
    client = await started(loopback.url, await login(loopback.url))
    try:
        caps = await client.capabilities()
        assert caps.actions == {"deploy", "retry", "rollback"} and not caps.deploy_versions
        assert caps.reasons["cancel"] == "Pushpaka cannot cancel a deployment"
        await client.matrix_index()
        plan = await client.rollback_plan(ids["bad"])
        assert (plan.from_version, plan.version) == ("@b00b1e5", "@3f2c1a9")
        rolled = await client.rollback(ids["bad"])
        assert fake.deployments[rolled.deployment_id]["commit_sha"] == "3f2c1a9aaaa"
        retried = await client.retry(ids["bad"])
        assert fake.deployments[retried.deployment_id]["commit_sha"] == "b00b1e5bbbb"
        redeployed = await client.deploy("shop", "preview", "")
        assert fake.deployments[redeployed.deployment_id]["branch"] == "preview"
        with pytest.raises(ActionRefused, match="cannot cancel"):
            await client.cancel(ids["preview"])
        with pytest.raises(NotOffered, match="Pushpaka has no approval queue"):
            await client.promotions()
        with pytest.raises(NotOffered, match="Pushpaka has no analytics"):
            await client.insights(AnalyticsQuery())
        with pytest.raises(ActionRefused, match="no earlier successful deployment"):
            await client.rollback(ids["preview"])  # nothing succeeded on preview before
        posted = [r for r in fake.requests if r.startswith("POST")]
        assert posted == [
            f"POST /api/v1/deployments/{ids['ok']}/rollback",
            "POST /api/v1/deployments",
            "POST /api/v1/deployments",
        ]
    finally:
        await client.close()


async def test_an_expired_jwt_says_how_to_sign_in_again(pushpaka) -> None:
    fake, loopback, ids = pushpaka
    token = await login(loopback.url)
    client = await started(loopback.url, token)
    try:
        await client.matrix_index()
        fake.expire(token)
        with pytest.raises(EngineError) as refused:
            await client.matrix()
        message = str(refused.value)
        assert message.startswith("Pushpaka refused the token: sign in again")
        assert "POST /api/v1/auth/login" in message and "$PUSHPAKA_JWT" in message
        assert token not in message
        async with asyncio.timeout(WAIT):
            items = [item async for item in client.follow_logs(ids["preview"])]
        assert items[-1].status.state is LinkState.OFFLINE
        assert "sign in again" in items[-1].status.detail and token not in items[-1].status.detail
    finally:
        await client.close()
