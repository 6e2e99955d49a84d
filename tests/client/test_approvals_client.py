"""Promotions awaiting approval and environments' state through both clients.

`prod` asks for one approval. The client under test is an admin (the embedded engine's
local user, or an admin key on a real `shipdeck serve`); promotions are asked for by `ana`,
a deployer, so the admin may approve them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent

from shipdeck.client._feed import FeedState
from shipdeck.client.base import (
    ActionRefused,
    ConnectionChanged,
    DeploymentFilters,
    EngineClient,
    EngineError,
    EnvironmentChanged,
    FeedItem,
    LinkState,
    NotOffered,
    PromotionChanged,
    ResyncNeeded,
)
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import Role
from shipdeck.domain.promotions import AWAITING
from shipdeck.engine import Principal, load_config

from ..conftest import ServerProcess, create_key
from .conftest import raw_server, respond

WAIT = 15.0
FINAL = {"success", "failure", "cancelled", "rejected"}
CONFIG = """
[[environments]]
name = "dev"
[[environments]]
name = "staging"
[[environments]]
name = "prod"

[policies.prod]
approvals_required = 1

[executor]
driver = "fast"

[drivers.fast]
kind = "simulate"
scale = 0.002
failure_rate = 0.0
"""


@dataclass
class Desk:
    """The client under test (an admin), and what others do beside it."""

    client: EngineClient
    me: str
    request: Callable[[str, str], Awaitable[str]]
    """`ana` promotes a service from an environment; the promotion's id."""
    lock: Callable[[str, str], Awaitable[None]]
    """An admin locks an environment with a reason."""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(params=["embedded", "remote"])
async def desk(
    request: pytest.FixtureRequest,
    db_url: str,
    config_path: Path,
    server_factory: type[ServerProcess],
    remote: Callable[..., Awaitable[RemoteClient]],
) -> AsyncIterator[Desk]:
    if request.param == "remote":
        server = server_factory(db_url, config_path).start()
        admin_key = create_key(db_url, "boss", Role.ADMIN)
        ana_key = create_key(db_url, "ana", Role.DEPLOYER)

        async def request_remote(service: str, from_environment: str) -> str:
            body = {"service": service, "from_environment": from_environment}
            async with httpx.AsyncClient(base_url=server.url) as http:
                answer = await http.post(
                    "/api/promotions", json=body, headers={"X-Api-Key": ana_key}
                )
            assert answer.status_code == 202, answer.text
            return str(answer.json()["promotion_id"])

        async def lock_remote(environment: str, reason: str) -> None:
            async with httpx.AsyncClient(base_url=server.url) as http:
                answer = await http.post(
                    f"/api/environments/{environment}/lock",
                    json={"reason": reason},
                    headers={"X-Api-Key": admin_key},
                )
            assert answer.status_code == 200, answer.text

        yield Desk(await remote(server.url, admin_key), "boss", request_remote, lock_remote)
        return
    client = EmbeddedClient(db_url, load_config(config_path))
    await client.start()
    engine = client.engine

    async def request_embedded(service: str, from_environment: str) -> str:
        result = await engine.actions.promote(
            Principal("ana", Role.DEPLOYER), service, from_environment
        )
        assert result.promotion_id is not None
        return result.promotion_id

    async def lock_embedded(environment: str, reason: str) -> None:
        await engine.governance.lock(engine.local_principal(), environment, reason)

    try:
        yield Desk(client, engine.local_principal().name, request_embedded, lock_embedded)
    finally:
        await client.close()


async def latest_status(client: EngineClient, deployment_id: str) -> str | None:
    page = await client.deployments(DeploymentFilters(deployment_id=deployment_id), limit=1)
    return page.items[0].status.value if page.items else None


async def until_status(client: EngineClient, deployment_id: str, wanted: set[str]) -> str:
    async with asyncio.timeout(WAIT):
        while True:
            status = await latest_status(client, deployment_id)
            if status in wanted:
                assert status is not None
                return status
            await asyncio.sleep(0.02)


async def in_staging(client: EngineClient, version: str = "1.0") -> None:
    """`shop` `version` running successfully in staging (the source of a promotion)."""
    accepted = await client.deploy("shop", "staging", version)
    assert await until_status(client, accepted.deployment_id, FINAL) == "success"


async def live_feed(client: EngineClient) -> AsyncIterator[FeedItem]:
    """The client's feed, once it is live (so nothing done after this call is missed)."""
    feed = client.feed()
    await next_item(feed, ConnectionChanged, lambda i: i.status.state is LinkState.LIVE)
    return feed


async def next_item(
    feed: AsyncIterator[FeedItem],
    wanted: type,
    also: Callable[[Any], bool] = lambda _: True,
    timeout: float = WAIT,
) -> Any:
    """The next item of type `wanted` (for which `also` holds)."""
    async with asyncio.timeout(timeout):
        while not (isinstance(item := await anext(feed), wanted) and also(item)):
            pass
    return item


# -- the approval flow -----------------------------------------------------------------------


async def test_a_promotion_waits_then_runs_once_approved(desk: Desk) -> None:
    client = desk.client
    await in_staging(client)
    promotion_id = await desk.request("shop", "staging")

    waiting = await client.promotion(promotion_id)
    assert (waiting.service, waiting.from_environment, waiting.to_environment) == (
        "shop",
        "staging",
        "prod",
    )
    assert (waiting.version, waiting.requester, waiting.status) == ("1.0", "ana", AWAITING)
    assert (waiting.approvals_required, waiting.approvals) == (1, [])
    assert waiting.blocked_by == "1 more approval needed"
    assert waiting.policy.startswith("1 approval required")
    assert await latest_status(client, waiting.deployment_id) == "waiting"
    assert [p.id for p in await client.pending_for_me()] == [promotion_id]
    assert [p.id for p in await client.promotions(status=AWAITING)] == [promotion_id]

    approved = await client.approve(promotion_id, "looks good")
    assert (approved.status, approved.blocked_by) == ("approved", None)
    assert [(a.principal, a.decision, a.comment) for a in approved.approvals] == [
        (desk.me, "approve", "looks good")
    ]
    assert await until_status(client, waiting.deployment_id, FINAL) == "success"
    assert await client.pending_for_me() == []
    assert await client.promotions(status=AWAITING) == []
    assert [p.status for p in await client.promotions()] == ["approved"]


async def test_reject_and_withdraw(desk: Desk) -> None:
    client = desk.client
    await in_staging(client)
    first = await desk.request("shop", "staging")
    rejected = await client.reject(first, "not during the incident")
    assert (rejected.status, rejected.decided_by) == ("rejected", desk.me)
    assert rejected.approvals[0].comment == "not during the incident"
    assert await latest_status(client, rejected.deployment_id) == "rejected"

    second = await desk.request("shop", "staging")
    withdrawn = await client.withdraw_promotion(second, "wrong version")
    assert withdrawn.status == "cancelled"
    assert await latest_status(client, withdrawn.deployment_id) == "cancelled"
    assert [p.id for p in await client.promotions()] == [second, first]  # newest first


async def test_refusals_carry_their_kind(desk: Desk) -> None:
    client = desk.client
    await in_staging(client)
    mine = await client.promote("shop", "staging")  # the admin's own request
    theirs = await desk.request("shop", "staging")
    await client.approve(theirs)

    own = await client.promotions(status=AWAITING)
    assert [p.requester for p in own] == [desk.me]
    assert await client.pending_for_me() == []  # not one's own request (no self-approval)
    cases: list[tuple[Awaitable[object], int, str]] = [
        (client.approve(own[0].id), 403, "self-approval"),
        (client.approve(theirs), 409, "promotion-closed"),
        (client.reject(theirs, "too late"), 409, "promotion-closed"),
        (client.approve("pr-nope"), 404, "not-found"),
    ]
    for call, status, kind in cases:
        with pytest.raises(ActionRefused) as refused:
            await call
        assert (refused.value.status, refused.value.kind) == (status, kind), refused.value
    with pytest.raises(EngineError, match="pr-nope"):
        await client.promotion("pr-nope")
    assert mine.status == "waiting"


# -- environments and the feed ---------------------------------------------------------------


async def test_environment_policies_show_policy_and_lock(desk: Desk) -> None:
    client = desk.client
    states = {state.environment: state for state in await client.environment_policies()}
    assert list(states) == ["dev", "staging", "prod"]
    assert states["prod"].policy.approvals_required == 1
    assert states["dev"].summary == "no approval required"
    assert states["prod"].lock is None and states["prod"].frozen is None

    await desk.lock("prod", "incident 42")
    prod = next(s for s in await client.environment_policies() if s.environment == "prod")
    assert prod.lock is not None
    assert (prod.lock.reason, prod.lock.by) == ("incident 42", desk.me)


async def test_the_feed_carries_promotions_and_environments(desk: Desk) -> None:
    client = desk.client
    await in_staging(client)
    feed = await live_feed(client)
    try:
        promotion_id = await desk.request("shop", "staging")
        asked = await next_item(feed, PromotionChanged)
        assert (asked.promotion.id, asked.promotion.status) == (promotion_id, AWAITING)
        await client.approve(promotion_id, "ok")
        decided = await next_item(feed, PromotionChanged)
        assert (decided.promotion.status, decided.promotion.approvals[0].comment) == (
            "approved",
            "ok",
        )
        await desk.lock("dev", "maintenance")
        locked = await next_item(feed, EnvironmentChanged)
        assert locked.environment.environment == "dev"
        assert locked.environment.lock is not None
        assert locked.environment.lock.reason == "maintenance"
    finally:
        await feed.aclose()  # type: ignore[attr-defined]


# -- servers without approvals ---------------------------------------------------------------


async def test_a_server_without_approvals_says_so(
    remote: Callable[..., Awaitable[RemoteClient]],
) -> None:
    problem = json.dumps({"title": "Not Found", "status": 404}).encode()
    async with raw_server(respond(404, "application/problem+json", problem)) as fake:
        client = await remote(fake.url, "sdk_key")
        with pytest.raises(NotOffered, match="this server has no approval queue"):
            await client.promotions()  # a missing queue, not an empty one
        assert await client.pending_for_me() == []
        assert await client.environment_policies() == []


async def test_without_a_key_nothing_is_pending_for_me(
    server_factory: type[ServerProcess],
    db_url: str,
    config_path: Path,
    remote: Callable[..., Awaitable[RemoteClient]],
) -> None:
    server = server_factory(db_url, config_path).start()
    anonymous = await remote(server.url)
    assert await anonymous.pending_for_me() == []
    with pytest.raises(ActionRefused) as refused:
        await anonymous.approve("pr-1")
    assert refused.value.status == 401


def test_an_unreadable_promotion_event_asks_for_a_resync() -> None:
    state = FeedState()
    items = state.accept(ServerSentEvent(event="promotion", data='{"id": 1}', id="7"))
    assert items == [ResyncNeeded()]
    items = state.accept(ServerSentEvent(event="environment", data="nope", id="8"))
    assert items == [ResyncNeeded()]
