"""Actions, plans and capabilities through both clients, against the engine they drive.

The remote client talks to a real `shipdeck serve` on loopback; the embedded one to an
engine in this process, acting as the local user. Both run `dev` and `staging` with a
simulate driver that takes milliseconds, and `prod` with one that takes 10 s or more, so a
prod deployment stays running (and the next one queued) for as long as a test needs.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipdeck.client.base import (
    ACTIONS,
    ActionAccepted,
    ActionRefused,
    DeploymentFilters,
    EngineClient,
    EngineError,
)
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import DeploymentEvent, DeploymentEventIngest, Role
from shipdeck.engine import load_config

from ..conftest import ServerProcess, create_key, free_port
from .conftest import RawServer, post_row, raw_server, respond

MakeRemote = Callable[..., Awaitable[RemoteClient]]

WAIT = 15.0
FINAL = {"success", "failure", "cancelled", "rejected"}
CONFIG = """
[[environments]]
name = "dev"
[[environments]]
name = "staging"
[[environments]]
name = "prod"

[executor]
driver = "fast"
[executor.environments]
prod = "slow"

[drivers.fast]
kind = "simulate"
scale = 0.002
failure_rate = 0.0

[drivers.slow]
kind = "simulate"
scale = 1.0
failure_rate = 0.0
"""


@dataclass
class Actor:
    """A client that may act, and how to report a row the way CI does."""

    client: EngineClient
    report: Callable[..., Awaitable[None]]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(params=["embedded", "remote"])
async def actor(
    request: pytest.FixtureRequest,
    db_url: str,
    config_path: Path,
    server_factory: type[ServerProcess],
    remote: MakeRemote,
) -> AsyncIterator[Actor]:
    """The same actions through either client."""
    if request.param == "remote":
        server = server_factory(db_url, config_path).start()
        deployer = create_key(db_url, "ana", Role.DEPLOYER)
        reporter = create_key(db_url, "ci", Role.REPORTER)

        async def report_remote(**fields: Any) -> None:
            await post_row(server.url, reporter, **fields)

        yield Actor(await remote(server.url, deployer), report_remote)
        return
    client = EmbeddedClient(db_url, load_config(config_path))
    await client.start()

    async def report_embedded(**fields: Any) -> None:
        body = {
            "deployment_id": "gh-1",
            "service": "service-a",
            "environment": "dev",
            "status": "success",
            "happened_at": "2026-05-28T09:42:17Z",
            **fields,
        }
        await client.engine.ingest(DeploymentEventIngest.model_validate_json(json.dumps(body)))

    try:
        yield Actor(client, report_embedded)
    finally:
        await client.close()


async def latest(client: EngineClient, deployment_id: str) -> DeploymentEvent | None:
    page = await client.deployments(DeploymentFilters(deployment_id=deployment_id), limit=1)
    return page.items[0] if page.items else None


async def until_status(client: EngineClient, deployment_id: str, wanted: set[str]) -> str:
    """Poll the history until the deployment's latest row has one of `wanted` statuses."""
    async with asyncio.timeout(WAIT):
        while True:
            row = await latest(client, deployment_id)
            if row is not None and row.status.value in wanted:
                return row.status.value
            await asyncio.sleep(0.02)


async def deployed(client: EngineClient, service: str, environment: str, version: str) -> str:
    """Deploy and wait for success; the deployment's id."""
    accepted = await client.deploy(service, environment, version)
    assert await until_status(client, accepted.deployment_id, FINAL) == "success"
    return accepted.deployment_id


# -- what each action does ---------------------------------------------------------------


async def test_deploy_promote_rollback_and_retry(actor: Actor) -> None:
    client = actor.client
    first = await client.deploy("shop", "dev", "1.0")
    assert first == ActionAccepted(
        deployment_id=first.deployment_id,
        action="deploy",
        service="shop",
        environment="dev",
        version="1.0",
        status="queued",
        superseded=(),
    )
    assert await until_status(client, first.deployment_id, FINAL) == "success"

    plan = await client.promotion_plan("shop", "dev")
    assert (plan.to_environment, plan.version) == ("staging", "1.0")
    assert plan.policy.startswith("no approval required")
    promoted = await client.promote("shop", "dev")
    assert (promoted.action, promoted.environment, promoted.version) == (
        "promote",
        "staging",
        "1.0",
    )

    second = await deployed(client, "shop", "dev", "2.0")
    back = await client.rollback_plan(second)
    assert (back.environment, back.from_version, back.version) == ("dev", "2.0", "1.0")
    rolled = await client.rollback(second)
    assert (rolled.action, rolled.version) == ("rollback", "1.0")
    assert await until_status(client, rolled.deployment_id, FINAL) == "success"

    again = await client.retry(rolled.deployment_id)
    assert (again.action, again.environment, again.version) == ("retry", "dev", "1.0")
    assert again.deployment_id not in {first.deployment_id, second, rolled.deployment_id}
    named = await client.rollback(again.deployment_id, version="2.0")
    assert named.version == "2.0"


async def test_queued_runs_are_superseded_and_cancelled(actor: Actor) -> None:
    client = actor.client
    running = await client.deploy("shop", "prod", "1.0")
    await until_status(client, running.deployment_id, {"in-progress"})
    older = await client.deploy("shop", "prod", "2.0")
    newer = await client.deploy("shop", "prod", "3.0")
    assert newer.superseded == (older.deployment_id,)
    assert await until_status(client, older.deployment_id, FINAL) == "cancelled"

    cancelled = await client.cancel(newer.deployment_id)
    assert (cancelled.action, cancelled.deployment_id, cancelled.status) == (
        "cancel",
        newer.deployment_id,
        "cancelled",
    )
    stopping = await client.cancel(running.deployment_id)
    assert stopping.status in {"cancelling", "cancelled"}
    # A run stopped midway ran: it ends as a failure (see the executor's docs).
    assert await until_status(client, running.deployment_id, FINAL) == "failure"


# -- refusals ------------------------------------------------------------------------------


async def test_refusals_carry_their_kind_and_sentence(actor: Actor) -> None:
    client = actor.client
    await actor.report(deployment_id="ci-1", service="shop", environment="prod", status="queued")
    done = await deployed(client, "shop", "dev", "1.0")
    running = await client.deploy("shop", "prod", "1.0")
    await until_status(client, running.deployment_id, {"in-progress"})

    cases: list[tuple[Awaitable[object], int, str, str]] = [
        (client.promote("shop", "staging"), 409, "nothing-to-promote", "deploy it there first"),
        (client.promotion_plan("shop", "staging"), 409, "nothing-to-promote", "deploy it"),
        (client.promote("shop", "prod"), 409, "last-environment", "is the last environment"),
        (client.promote("shop", "qa"), 404, "not-found", "there is no environment 'qa'"),
        (client.rollback(done), 409, "nothing-to-roll-back", "deploy a version explicitly"),
        (client.rollback_plan("no/such#id"), 404, "not-found", "no/such#id"),
        (client.rollback(done, version="9.9"), 409, "unknown-version", "never succeeded"),
        (client.cancel(done), 409, "already-finished", "nothing to cancel"),
        (client.cancel("ci-1"), 409, "not-executable", "cancel it where it runs"),
        (client.retry(running.deployment_id), 409, "not-finished", "cancel it first"),
    ]
    for call, status, kind, words in cases:
        with pytest.raises(ActionRefused) as refused:
            await call
        assert (refused.value.status, refused.value.kind) == (status, kind), refused.value
        assert words in str(refused.value) and str(refused.value) == refused.value.detail
    await client.cancel(running.deployment_id)


async def test_keys_below_deployer_are_refused(
    server_factory: type[ServerProcess], db_url: str, config_path: Path, remote: MakeRemote
) -> None:
    server = server_factory(db_url, config_path).start()
    reporter = await remote(server.url, create_key(db_url, "ci", Role.REPORTER))
    anonymous = await remote(server.url)
    with pytest.raises(ActionRefused) as forbidden:
        await reporter.deploy("shop", "dev", "1.0")
    assert (forbidden.value.status, forbidden.value.kind) == (403, "forbidden")
    assert "needs deployer or above" in str(forbidden.value)
    with pytest.raises(ActionRefused) as unauthorized:
        await anonymous.cancel("gh-1")
    assert (unauthorized.value.status, unauthorized.value.kind) == (401, "unauthorized")


# -- capabilities ----------------------------------------------------------------------------


async def test_capabilities_of_each_role(
    server_factory: type[ServerProcess], db_url: str, config_path: Path, remote: MakeRemote
) -> None:
    server = server_factory(db_url, config_path).start()
    keys = {role: create_key(db_url, f"p-{role.value}", role) for role in Role}
    deployer = await (await remote(server.url, keys[Role.DEPLOYER])).capabilities()
    reporter = await (await remote(server.url, keys[Role.REPORTER])).capabilities()
    anonymous = await (await remote(server.url)).capabilities()
    revoked = await (await remote(server.url, "sdk_nope_nope")).capabilities()

    assert (deployer.read_only, deployer.principal, deployer.role) == (
        False,
        "p-deployer",
        "deployer",
    )
    assert frozenset(ACTIONS) <= deployer.actions
    assert (reporter.read_only, reporter.principal, reporter.actions) == (
        True,
        "p-reporter",
        frozenset(),
    )
    assert "may only read" in reporter.reason
    assert (anonymous.read_only, anonymous.principal, anonymous.role) == (True, None, None)
    assert "X-Api-Key" in anonymous.reason
    assert revoked.read_only and revoked.reason.startswith("the server refused the key")


async def test_the_local_user_acts_on_an_embedded_engine(db_url: str, config_path: Path) -> None:
    client = EmbeddedClient(db_url, load_config(config_path))
    await client.start()
    try:
        capabilities = await client.capabilities()
        deployed_id = await deployed(client, "shop", "dev", "1.0")
        row = await latest(client, deployed_id)
    finally:
        await client.close()
    assert not capabilities.read_only and frozenset(ACTIONS) <= capabilities.actions
    assert (capabilities.principal, capabilities.role) == (getpass.getuser(), "admin")
    assert row is not None and row.actor == getpass.getuser()


async def test_capabilities_from_the_documented_whoami_body(remote: MakeRemote) -> None:
    body = {
        "principal": None,
        "role": None,
        "actions": [],
        "read_only": True,
        "reason": "send an X-Api-Key of role deployer or above to act",
    }
    async with raw_server(respond(200, "application/json", json.dumps(body).encode())) as fake:
        capabilities = await (await remote(fake.url)).capabilities()
    assert capabilities.read_only
    assert (capabilities.principal, capabilities.role, capabilities.actions) == (
        None,
        None,
        frozenset(),
    )
    assert capabilities.reason == body["reason"]


# -- transport -----------------------------------------------------------------------------


async def test_a_resend_after_a_lost_answer_acts_once(
    server_factory: type[ServerProcess], db_url: str, config_path: Path, remote: MakeRemote
) -> None:
    server = server_factory(db_url, config_path).start()
    keys: list[str] = []

    async def lose_first_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fake: RawServer
    ) -> None:
        """Forward each request to the server; drop the first answer on the floor."""
        request = await read_message(reader)
        keys.append(header(request, "idempotency-key"))
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            upstream_writer.write(request)
            await upstream_writer.drain()
            answer = await read_message(upstream_reader)
        finally:
            upstream_writer.close()
        if len(keys) > 1:
            writer.write(answer)
            await writer.drain()

    async with raw_server(lose_first_answer) as proxy:
        client = await remote(proxy.url, create_key(db_url, "ana", Role.DEPLOYER))
        accepted = await client.deploy("shop", "dev", "1.0")
        other = await client.deploy("shop", "staging", "1.0")

    assert keys[0] == keys[1] != keys[2]  # the resend is the same action; the next is not
    page = await (await remote(server.url)).deployments(DeploymentFilters(service="shop"))
    assert {row.deployment_id for row in page.items} == {
        accepted.deployment_id,
        other.deployment_id,
    }  # the lost answer's deployment is the one the resend reported: nothing ran twice


async def test_an_unreachable_engine_is_not_a_refusal(remote: MakeRemote) -> None:
    client = await remote(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EngineError, match=r"cannot reach .*: connection refused$") as caught:
        await client.deploy("shop", "dev", "1.0")
    assert not isinstance(caught.value, ActionRefused)


async def test_a_proxy_error_page_is_not_a_refusal(remote: MakeRemote) -> None:
    async with raw_server(respond(502, "text/html", b"<h1>Bad gateway</h1>")) as fake:
        with pytest.raises(EngineError, match=r"^HTTP 502 from ") as caught:
            await (await remote(fake.url)).retry("gh-1")
    assert not isinstance(caught.value, ActionRefused)


# -- helpers -------------------------------------------------------------------------------


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message (head and a `content-length` body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(header(head, "content-length") or 0)
    return head + (await reader.readexactly(length) if length else b"")


def header(message: bytes, name: str) -> str:
    head = message.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""
