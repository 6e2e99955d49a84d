"""Actions and whoami over HTTP: 202 answers, refusals as problems, Idempotency-Key, OpenAPI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shipdeck.domain import Role
from shipdeck.engine import Engine, EngineConfig

PROBLEM = "https://deployment-dashboard/errors/"
BASE = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
WAIT = 10.0

FAST = EngineConfig(
    executor={"driver": "fast"},
    drivers={"fast": {"kind": "simulate", "scale": 0.002, "failure_rate": 0.0}},
)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Engine]:
    """An engine whose simulated deployments take a few milliseconds and always succeed."""
    engine = await Engine.open(db_url, FAST)
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def keys(engine: Engine) -> dict[str, str]:
    """One key per role."""
    return {role.value: (await engine.keys.create(f"p-{role.value}", role))[1] for role in Role}


def as_(keys: dict[str, str], role: str, **extra: str) -> dict[str, str]:
    return {"X-Api-Key": keys[role], **extra}


async def report(client: httpx.AsyncClient, keys: dict[str, str], **fields: Any) -> None:
    body = {"service": "api", "happened_at": BASE.isoformat(), **fields}
    response = await client.post("/api/deployments", json=body, headers=as_(keys, "reporter"))
    assert response.status_code == 201, response.text


async def rows(client: httpx.AsyncClient, deployment_id: str) -> list[dict[str, Any]]:
    response = await client.get("/api/deployments", params={"deployment_id": deployment_id})
    return list(reversed(response.json()["items"]))


async def finished(client: httpx.AsyncClient, deployment_id: str) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        found = await rows(client, deployment_id)
        if found and found[-1]["status"] in ("success", "failure", "cancelled"):
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{deployment_id} did not finish")


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + kind
    assert body["detail"]
    return body


async def test_whoami(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    anonymous = (await client.get("/api/whoami")).json()
    assert anonymous["principal"] is None and anonymous["read_only"] is True
    assert "X-Api-Key" in anonymous["reason"]
    deployer = (await client.get("/api/whoami", headers=as_(keys, "deployer"))).json()
    assert deployer == {
        "principal": "p-deployer",
        "role": "deployer",
        "actions": ["deploy", "promote", "rollback", "cancel", "retry"],
        "read_only": False,
        "reason": None,
        "services": None,
        "environments": None,
    }
    viewer = (await client.get("/api/whoami", headers=as_(keys, "viewer"))).json()
    assert viewer["actions"] == [] and viewer["read_only"] is True
    assert_problem(
        await client.get("/api/whoami", headers={"X-Api-Key": "sdk_x_y"}), 401, "unauthorized"
    )


async def test_deploy_is_accepted_and_runs(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    response = await client.post(
        "/api/deploys",
        json={"service": "api", "environment": "prod", "version": "1.2.3"},
        headers=as_(keys, "deployer"),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["action"] == "deploy"
    assert response.headers["Location"] == f"/api/deployments?deployment_id={body['deployment_id']}"
    done = await finished(client, body["deployment_id"])
    assert done[-1]["status"] == "success"
    assert [r["phase"] for r in done if "phase" in r] == [
        "validating",
        "pushing",
        "pushed",
        "monitoring",
    ]
    assert {r["actor"] for r in done} == {"p-deployer"}
    logs = (await client.get(f"/api/deployments/{body['deployment_id']}/logs")).json()
    assert logs["items"], "the simulate driver writes log lines"


@pytest.mark.parametrize(
    ("headers_role", "status", "kind"),
    [(None, 401, "unauthorized"), ("reporter", 403, "forbidden"), ("viewer", 403, "forbidden")],
)
async def test_actions_need_a_deployer(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    headers_role: str | None,
    status: int,
    kind: str,
) -> None:
    headers = as_(keys, headers_role) if headers_role else {}
    await report(
        client, keys, deployment_id="ci-1", environment="dev", status="success", version="1"
    )
    requests = [
        ("/api/deploys", {"service": "api", "environment": "prod", "version": "1"}),
        ("/api/promotions", {"service": "api", "from_environment": "dev"}),
        ("/api/deployments/ci-1/rollback", None),
        ("/api/deployments/ci-1/cancel", None),
        ("/api/deployments/ci-1/retry", None),
    ]
    for path, body in requests:
        response = await client.post(path, json=body, headers=headers)
        assert_problem(response, status, kind)
    assert len(await rows(client, "ci-1")) == 1


async def test_malformed_bodies(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    headers = as_(keys, "deployer")
    response = await client.post(
        "/api/deploys", json={"service": "api", "environment": "prod"}, headers=headers
    )
    problem = assert_problem(response, 422, "validation")
    assert problem["errors"] == [{"pointer": "/version", "message": "is required"}]
    response = await client.post(
        "/api/deploys",
        json={"service": "api", "environment": "prod", "version": "1", "force": True},
        headers=headers,
    )
    assert assert_problem(response, 422, "validation")["errors"][0]["pointer"] == "/force"
    response = await client.post(
        "/api/deploys",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert_problem(response, 422, "validation")
    response = await client.post("/api/deploys", content=b"x" * 20_000, headers=headers)
    assert_problem(response, 413, "payload-too-large")
    response = await client.post(
        "/api/deploys",
        json={"service": "api", "environment": "prod", "version": "1"},
        headers={**headers, "Idempotency-Key": "x" * 201},
    )
    assert_problem(response, 422, "validation")


async def test_promote_plan_and_refusals(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    headers = as_(keys, "deployer")
    await report(
        client, keys, deployment_id="ci-1", environment="dev", status="success", version="2.0"
    )
    await report(
        client, keys, deployment_id="ci-2", environment="prod", status="success", version="1.0"
    )
    plan = await client.get(
        "/api/promotion-plan", params={"service": "api", "from_environment": "dev"}
    )
    assert plan.json() == {
        "service": "api",
        "from_environment": "dev",
        "to_environment": "prod",
        "version": "2.0",
        "policy": {
            "approvals_required": 0,
            "summary": "no approval required; runs with the fast driver",
        },
    }
    response = await client.post(
        "/api/promotions", json={"service": "api", "from_environment": "dev"}, headers=headers
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["environment"], body["version"]) == ("prod", "2.0")
    assert (await rows(client, body["deployment_id"]))[0]["parent_deployments"] == ["ci-1"]
    refused = assert_problem(
        await client.post(
            "/api/promotions", json={"service": "api", "from_environment": "prod"}, headers=headers
        ),
        409,
        "last-environment",
    )
    assert refused["title"] == "No environment to promote to"
    assert "prod is the last environment" in refused["detail"]
    assert_problem(
        await client.get(
            "/api/promotion-plan", params={"service": "api", "from_environment": "prod"}
        ),
        409,
        "last-environment",
    )


async def test_rollback_cancel_retry(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    headers = as_(keys, "deployer")
    await report(
        client, keys, deployment_id="gh/1", environment="prod", status="success", version="1.0"
    )
    later = (BASE + timedelta(minutes=1)).isoformat()
    await report(
        client,
        keys,
        deployment_id="gh/2",
        environment="prod",
        status="failure",
        version="1.1",
        happened_at=later,
    )
    plan = await client.get("/api/deployments/gh/2/rollback-plan")
    assert plan.json() == {
        "deployment_id": "gh/2",
        "service": "api",
        "environment": "prod",
        "from_version": "1.1",
        "version": "1.0",
    }
    assert_problem(
        await client.get("/api/deployments/gh/2/rollback-plan", params={"version": "5"}),
        409,
        "unknown-version",
    )
    # Ids with a slash stay one path parameter; the body is optional.
    response = await client.post("/api/deployments/gh/2/rollback", headers=headers)
    assert response.status_code == 202, response.text
    rolled = response.json()
    assert (rolled["version"], rolled["action"]) == ("1.0", "rollback")
    response = await client.post(
        "/api/deployments/gh/2/rollback", json={"version": "9.9"}, headers=headers
    )
    assert "never succeeded" in assert_problem(response, 409, "unknown-version")["detail"]
    response = await client.post("/api/deployments/gh/2/retry", headers=headers)
    assert response.status_code == 202
    retried = response.json()
    assert retried["version"] == "1.1" and retried["action"] == "retry"
    await finished(client, retried["deployment_id"])
    assert_problem(
        await client.post(f"/api/deployments/{retried['deployment_id']}/cancel", headers=headers),
        409,
        "already-finished",
    )
    assert_problem(
        await client.post("/api/deployments/gh/1/cancel", headers=headers), 409, "already-finished"
    )
    assert_problem(
        await client.post("/api/deployments/nope/retry", headers=headers), 404, "not-found"
    )


async def test_idempotency_key_over_http(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    headers = as_(keys, "deployer", **{"Idempotency-Key": "release-42"})
    body = {"service": "api", "environment": "prod", "version": "1"}
    first = await client.post("/api/deploys", json=body, headers=headers)
    again = await client.post("/api/deploys", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert (
        len({r["deployment_id"] for r in (await client.get("/api/deployments")).json()["items"]})
        == 1
    )
    other = await client.post("/api/deploys", json={**body, "version": "2"}, headers=headers)
    assert "already used" in assert_problem(other, 422, "idempotency-key-reused")["detail"]


async def test_openapi_documents_every_action(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path, method in [
        ("/api/deploys", "post"),
        ("/api/promotions", "post"),
        ("/api/deployments/{deployment_id}/rollback", "post"),
        ("/api/deployments/{deployment_id}/cancel", "post"),
        ("/api/deployments/{deployment_id}/retry", "post"),
    ]:
        operation = spec["paths"][path][method]
        assert "202" in operation["responses"] and "409" in operation["responses"]
        assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
        assert operation["summary"]
    assert "/api/whoami" in spec["paths"] and "/api/promotion-plan" in spec["paths"]
    assert json.dumps(spec)  # serialisable
