"""The Appaloft connector against a fake that speaks what Appaloft 1.10.5 speaks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.responses import HTMLResponse, Response

from shipdeck.client import (
    ActionRefused,
    DeploymentArrived,
    DeploymentFilters,
    EngineError,
    LinkState,
    LogLinesArrived,
    LogLinkChanged,
    LogStreamEnded,
    NotOffered,
)
from shipdeck.client.appaloft import AppaloftClient
from shipdeck.domain import DeploymentEvent, Status
from shipdeck.domain.analytics import AnalyticsQuery

from .appaloft_estate import Deployment
from .appaloft_fake import TOKEN, AppaloftFake, error
from .loopback import Loopback, serving

NOW = datetime.now(UTC).replace(microsecond=0)
WAIT = 10.0


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def estate(fake: AppaloftFake) -> dict[str, Deployment]:
    """Shop's web in staging and production, its worker; a second project's web."""
    est = fake.estate
    prod, stg = est.resource("web", "production"), est.resource("web", "staging")
    worker = est.resource("worker", "production")
    est.resource("web", "production", project="Blog")
    ok = est.create(prod.id, f"{prod.image}:1.4.2", at=ago(120))
    est.advance(ok.id, "running", "deploy", at=ago(120))
    est.advance(ok.id, "succeeded", "verify", "Container is reachable", at=ago(119))
    built = est.create(prod.id, prod.image, at=ago(5))  # built from source: no version
    built.sha = "3f2c1a9d0e8b7c6a"
    est.advance(built.id, "running", "package", at=ago(5))
    est.advance(built.id, "failed", "package", "Docker is not available", at=ago(4))
    running = est.create(stg.id, f"{stg.image}:1.5.0", at=ago(1))
    est.advance(running.id, "running", "plan", "Selected a strategy", at=ago(1))
    queued = est.create(worker.id, f"{worker.image}:2.0.0", at=ago(0.5))
    return {"ok": ok, "built": built, "running": running, "queued": queued}


@pytest.fixture
async def appaloft() -> AsyncIterator[tuple[AppaloftFake, Loopback, dict[str, Deployment]]]:
    fake = AppaloftFake(heartbeat_s=0.2)
    made = estate(fake)
    async with serving(fake.app) as loopback:
        yield fake, loopback, made


async def started(url: str, token: str | None = TOKEN, **options: Any) -> AppaloftClient:
    client = AppaloftClient(
        url, token, token_env="APPALOFT_TOKEN", poll_interval=0.2, backoff_base=0.05, **options
    )
    await client.start()
    return client


async def test_projects_environments_resources_and_deployments_make_the_matrix(appaloft) -> None:
    fake, loopback, made = appaloft
    client = await started(loopback.url)
    try:
        index = await client.matrix_index()
        assert index.environments == ["staging", "production"]  # the usual path to prod
        assert index.services == ["blog/web", "shop/web", "shop/worker"]  # two projects
        assert index.full is not None
        slots = {r.service: r.slots for r in index.full.rows}
        prod = slots["shop/web"]["production"]
        assert prod.current.status is Status.FAILURE and prod.current.version is None
        assert prod.current.sha == "3f2c1a9d0e8b7c6a"  # shown as @3f2c1a9
        assert prod.current.message == "Docker is not available"
        assert prod.last_successful is not None and prod.last_successful.version == "1.4.2"
        staging = slots["shop/web"]["staging"]
        assert (staging.current.status, staging.current.version) == (Status.IN_PROGRESS, "1.5.0")
        assert slots["shop/worker"] == {} and slots["blog/web"] == {}  # queued / never deployed
        history = await client.deployments(DeploymentFilters())
        assert [r.deployment_id for r in history.items] == [
            made[k].id for k in ("queued", "running", "built", "ok")
        ]
        # A deployment's detail adds the phases of its timeline.
        detail = await client.deployments(DeploymentFilters(deployment_id=made["running"].id))
        assert [(r.status, r.phase) for r in detail.items] == [
            (Status.IN_PROGRESS, "plan"),
            (Status.IN_PROGRESS, None),
        ]
        assert fake.requests[0] == "GET /api/projects"  # the API is under /api
    finally:
        await client.close()


async def next_item(
    feed: AsyncIterator[Any], want: type | Callable[[Any], bool], timeout: float = WAIT
) -> Any:
    """The next item of `feed` that is a `want` (or that `want` accepts)."""
    matches = (lambda item: isinstance(item, want)) if isinstance(want, type) else want
    async with asyncio.timeout(timeout):
        while True:
            item = await anext(feed)
            if matches(item):
                return item


def offline(item: object) -> bool:
    """Whether a feed or log item says it stopped for good."""
    status = getattr(item, "status", None)
    return getattr(status, "state", None) is LinkState.OFFLINE


async def test_live_phases_come_from_the_timeline_stream_and_resume_after_a_cut(
    appaloft,
) -> None:
    fake, loopback, made = appaloft
    fake.cut_after = 1  # every connection is cut after one entry
    client = await started(loopback.url)
    running = made["running"].id
    try:
        await client.matrix_index()
        feed = client.feed()
        fake.estate.advance(running, "running", "package", "Build image")
        fake.estate.log(running, "fake build ok")  # output: a log line, not a phase
        # A real 1.10.5 also sends a live deployment's steps as `kind: lifecycle`.
        fake.estate.log(running, "Start container", kind="lifecycle", phase="deploy")
        phases: list[str | None] = []
        while len(phases) < 3:
            arrived = await next_item(feed, DeploymentArrived)
            phases.append(arrived.event.phase)
        assert phases == ["plan", "package", "deploy"]  # each once, in order, across cuts
        streams = [r for r in fake.requests if f"{running}/timeline/stream" in r]
        assert streams[0].endswith("?follow=true")
        assert streams[1].endswith(f"cursor={running}%3A1")  # resumed by cursor
        fake.estate.advance(running, "succeeded", "verify", "Container is reachable")
        ended = await next_item(feed, DeploymentArrived)
        while ended.event.status is not Status.SUCCESS:
            ended = await next_item(feed, DeploymentArrived)
        assert ended.event.deployment_id == running
        await feed.aclose()  # type: ignore[attr-defined]
    finally:
        await client.close()


async def test_logs_history_then_live_then_the_end(appaloft) -> None:
    fake, loopback, made = appaloft
    client = await started(loopback.url)
    running = made["running"].id
    try:
        page = await client.logs(made["built"].id)
        assert [(line.level, line.message) for line in page.items][-1] == (
            "error",
            "Docker is not available",
        )
        stream = client.follow_logs(running)
        lines: list[str] = []
        fake.estate.log(running, "fake build ok")
        fake.estate.log(running, "warning: slow", level="warn", stream="stderr")
        fake.estate.advance(running, "succeeded", "verify", "Container is reachable")
        async with asyncio.timeout(WAIT):
            async for item in stream:
                if isinstance(item, LogLinesArrived):
                    lines.extend(f"{x.stream}/{x.level}: {x.message}" for x in item.lines)
                if isinstance(item, LogStreamEnded):
                    break
        assert lines == [
            "system/info: Selected a strategy",
            "stdout/info: fake build ok",
            "stderr/warning: warning: slow",
            "system/info: Container is reachable",
        ]
        stopped = await next_item(client.follow_logs("dep_nope"), offline)
        assert isinstance(stopped, LogLinkChanged)
        assert stopped.status.detail == "Appaloft knows no deployment dep_nope"
        with pytest.raises(EngineError, match="knows no deployment dep_nope"):
            await client.logs("dep_nope")
    finally:
        await client.close()


async def test_redeploy_retry_rollback_and_cancel_are_appaloft_requests(appaloft) -> None:
    fake, loopback, made = appaloft
    client = await started(loopback.url)
    try:
        caps = await client.capabilities()
        assert not caps.read_only and caps.actions == {"deploy", "retry", "rollback", "cancel"}
        assert not caps.deploy_versions and "promotion" in caps.reasons["promote"]
        assert (caps.principal, caps.role) == ("admin@example.com", "owner")
        await client.matrix_index()
        retried = await client.retry(made["built"].id)
        assert fake.estate.deployments[retried.deployment_id].trigger == "retry"
        plan = await client.rollback_plan(made["built"].id)
        assert (plan.from_version, plan.version) == ("@3f2c1a9", "1.4.2")
        rolled = await client.rollback(made["built"].id, plan.version)
        new = fake.estate.deployments[rolled.deployment_id]
        assert (new.trigger, new.image) == ("rollback", made["ok"].image)
        cancelled = await client.cancel(made["running"].id)
        assert cancelled.status == "cancelled"
        assert fake.estate.deployments[made["running"].id].status == "canceled"
        redeployed = await client.deploy("shop/web", "production", "")
        assert fake.estate.deployments[redeployed.deployment_id].trigger == "redeploy"
        with pytest.raises(ActionRefused, match="Deployment must be active") as refused:
            await client.cancel(made["ok"].id)  # finished: Appaloft says no, in its words
        assert (refused.value.kind, refused.value.status) == ("conflict", 409)
        with pytest.raises(ActionRefused, match="no promotion"):
            await client.promote("shop/web", "staging")
        with pytest.raises(NotOffered, match="Appaloft has no approval queue"):
            await client.promotions()
        with pytest.raises(NotOffered, match="Appaloft has no analytics"):
            await client.insights(AnalyticsQuery())
        posted = [r for r in fake.requests if r.startswith("POST")]
        assert posted == [
            f"POST /api/deployments/{made['built'].id}/retry",
            f"POST /api/deployments/{made['built'].id}/rollback",
            f"POST /api/deployments/{made['running'].id}/cancel",
            f"POST /api/resources/{new.resource_id}/redeploy",
            f"POST /api/deployments/{made['ok'].id}/cancel",
        ]
    finally:
        await client.close()


async def test_an_expired_token_says_how_to_sign_in_again(appaloft) -> None:
    fake, loopback, _ = appaloft
    client = await started(loopback.url)
    try:
        await client.matrix_index()
        feed = client.feed()
        await next_item(feed, lambda item: getattr(item, "status", None) is not None)
        fake.tokens.clear()  # the session expired
        detail = (await next_item(feed, offline)).status.detail
        assert detail == (
            "Appaloft refused the token: sign in again (POST /api/auth/sign-in/email), "
            "new token in $APPALOFT_TOKEN"
        )
        assert TOKEN not in detail
        with pytest.raises(EngineError, match="sign in again"):
            await client.matrix()
        caps = await client.capabilities()
        assert caps.read_only and "sign in again" in caps.reason
    finally:
        await client.close()
    anonymous = await started(loopback.url, None)
    try:
        caps = await anonymous.capabilities()
        assert caps.read_only and "$APPALOFT_TOKEN" in caps.reason
    finally:
        await anonymous.close()


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until `condition()` holds (checked every few milliseconds)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110  # counting requests and items, not an event
            await asyncio.sleep(0.01)


async def test_a_closed_stream_of_a_deployment_still_listed_running_is_not_hammered(
    appaloft,
) -> None:
    fake, loopback, made = appaloft
    running = made["running"].id
    stream = f"GET /api/deployments/{running}/timeline/stream"
    client = await started(loopback.url, rng=random.Random(7))
    arrived: list[DeploymentEvent] = []

    def streams(since: int = 0) -> int:
        return sum(1 for r in fake.requests[since:] if r.startswith(stream))

    def listings(since: int = 0) -> int:
        return sum(1 for r in fake.requests[since:] if r.startswith("GET /api/deployments?"))

    async def consume(feed: AsyncIterator[Any]) -> None:
        async for item in feed:
            if isinstance(item, DeploymentArrived):
                arrived.append(item.event)

    try:
        await client.matrix_index()
        consumer = asyncio.create_task(consume(client.feed()))
        await until(lambda: streams() >= 1)  # the running deployment is followed
        # Its timeline ends (the stream closes) but the listing still says it is running.
        fake.listed[running] = "running"
        fake.estate.advance(running, "succeeded", "verify", "Container is reachable")
        await until(lambda: any(r.phase == "verify" for r in arrived))  # the stream's last
        start, began = len(fake.requests), asyncio.get_running_loop().time()
        await asyncio.sleep(1.0)  # a while with the platform inconsistent
        spent = asyncio.get_running_loop().time() - began
        # Reopened after a rest of at least the backoff's base (0.05 s), growing; the
        # listing read on the feed's timer (0.2 s) and once after each follower's end.
        # A follower reopened at once would have made hundreds of requests.
        reopened, listed = streams(start), listings(start)
        assert 1 <= reopened <= 2 + spent / 0.05
        assert listed <= 2 + spent / 0.2 + reopened
        # Its phases (`verify` the last), but no end while it is listed running.
        assert {r.status for r in arrived if r.deployment_id == running} == {Status.IN_PROGRESS}
        # The listing catches up: the deployment ends, and it is followed no more.
        del fake.listed[running]
        await until(lambda: any(r.status is Status.SUCCESS for r in arrived))
        ended, start = streams(), len(fake.requests)
        await until(lambda: listings(start) >= 3)  # three more refreshes
        assert streams() == ended
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
    finally:
        await client.close()


PROXY_PAGE = HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", 502)
CUT_SHORT = Response(b'{"items": [{"id": "prj_', 200, media_type="application/json")


async def test_an_answer_that_is_not_json_is_said_as_such(appaloft) -> None:
    fake, loopback, made = appaloft
    client = await started(loopback.url)
    api = f"{loopback.url}/api"
    try:
        fake.instead["*"] = PROXY_PAGE  # a proxy in front of an Appaloft that is down
        with pytest.raises(EngineError) as caught:
            await client.matrix_index()
        assert str(caught.value) == (
            f"Appaloft at {api} answered /projects with something that is not JSON "
            "(HTTP 502, text/html): is the URL right (or is a proxy answering for it)?"
        )
        with pytest.raises(EngineError, match=r"not JSON \(HTTP 502, text/html\)"):
            await client.logs(made["ok"].id)
        fake.instead["*"] = CUT_SHORT  # a body cut short
        with pytest.raises(EngineError) as caught:
            await client.matrix_index()
        assert str(caught.value) == (
            f"Appaloft at {api} answered /projects with something that is not JSON "
            "(HTTP 200, application/json): the answer was cut short or broken"
        )
        timeline = f"/api/deployments/{made['ok'].id}/timeline"
        del fake.instead["*"]
        fake.instead[timeline] = CUT_SHORT
        with pytest.raises(EngineError, match=r"answered /deployments/.+/timeline with some"):
            await client.logs(made["ok"].id)
        # A page where the timeline's event stream should be: the logs pane says what came.
        del fake.instead[timeline]
        fake.instead[f"{timeline}/stream"] = HTMLResponse("<html>Sign in</html>", 200)
        logs = client.follow_logs(made["ok"].id)
        cut = await next_item(
            logs, lambda item: isinstance(item, LogLinkChanged) and item.status.detail
        )
        assert cut.status.state is LinkState.RECONNECTING
        assert cut.status.detail == (
            f"Appaloft at {api} answered {timeline.removeprefix('/api')}/stream with something "
            "that is not an event stream (HTTP 200, text/html): is the URL right (or is a "
            "proxy answering for it)?"
        )
        await logs.aclose()  # type: ignore[attr-defined]
        # Live, it is the feed's connection status, as a platform that cannot be reached.
        del fake.instead[f"{timeline}/stream"]
        await client.matrix_index()
        feed = client.feed()
        await next_item(feed, lambda item: getattr(item, "status", None) is not None)
        fake.instead["*"] = PROXY_PAGE
        lost = await next_item(
            feed, lambda item: getattr(item, "status", None) and item.status.detail
        )
        assert lost.status.state is LinkState.RECONNECTING
        assert lost.status.detail.startswith(f"Appaloft at {api} answered /projects with some")
        del fake.instead["*"]
        back = await next_item(
            feed, lambda item: getattr(item, "status", None) and item.status.state is LinkState.LIVE
        )
        assert not back.status.detail
        await feed.aclose()  # type: ignore[attr-defined]
    finally:
        await client.close()


async def test_a_detail_that_fails_keeps_what_the_listing_gave(appaloft) -> None:
    fake, loopback, made = appaloft
    client = await started(loopback.url)
    running, built, ok = made["running"].id, made["built"].id, made["ok"].id
    fake.instead[f"/api/deployments/{running}/timeline"] = error(
        404, "not_found", "entity  was not found", queryName="deployments.timeline"
    )  # its timeline pruned
    fake.instead[f"/api/deployments/{built}/timeline"] = error(
        500, "internal_error", "database unavailable"
    )
    try:
        for deployment_id in (running, built):
            page = await client.deployments(DeploymentFilters(deployment_id=deployment_id))
            assert [r.deployment_id for r in page.items] == [deployment_id]  # the listing's
        page = await client.deployments(DeploymentFilters(deployment_id=built))
        assert page.items[0].status is Status.FAILURE
        assert page.items[0].message == "Docker is not available"
        for instead in (PROXY_PAGE, CUT_SHORT):  # a proxy's page; a body cut short
            fake.instead[f"/api/deployments/{built}/timeline"] = instead
            page = await client.deployments(DeploymentFilters(deployment_id=built))
            assert [r.status for r in page.items] == [Status.FAILURE]
        # The rest of the estate is unaffected: every deployment listed, details read.
        history = await client.deployments(DeploymentFilters())
        assert [r.deployment_id for r in history.items] == [
            made[k].id for k in ("queued", "running", "built", "ok")
        ]
        detail = await client.deployments(DeploymentFilters(deployment_id=ok))
        assert [(r.status, r.phase) for r in detail.items] == [
            (Status.SUCCESS, None),
            (Status.IN_PROGRESS, "deploy"),
        ]
        # Its timeline back, a detail adds its phases again.
        fake.instead.clear()
        detail = await client.deployments(DeploymentFilters(deployment_id=running))
        assert [(r.status, r.phase) for r in detail.items] == [
            (Status.IN_PROGRESS, "plan"),
            (Status.IN_PROGRESS, None),
        ]
    finally:
        await client.close()
