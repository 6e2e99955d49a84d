"""`POST /api/webhooks/github`: deliveries shaped like GitHub's documented `deployment` and
`deployment_status` payloads, signed with the configured secret (or not)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shipdeck.engine import Engine, EngineConfig
from shipdeck.server import create_app

SECRET = "It's a Secret to Everybody"  # GitHub's own example secret
URL = "/api/webhooks/github"


def deployment(deployment_id: int = 1234567890) -> dict[str, Any]:
    """A `deployment` object as GitHub's webhook documentation shows it (trimmed)."""
    return {
        "url": f"https://api.github.com/repos/acme/checkout-api/deployments/{deployment_id}",
        "id": deployment_id,
        "node_id": "DE_kwDOxyz",
        "task": "deploy",
        "original_environment": "production",
        "environment": "production",
        "description": "Deploy request from hubot",
        "created_at": "2026-05-28T09:59:00Z",
        "updated_at": "2026-05-28T09:59:00Z",
        "statuses_url": "https://api.github.com/repos/acme/checkout-api/deployments/1/statuses",
        "repository_url": "https://api.github.com/repos/acme/checkout-api",
        "creator": {"login": "octocat", "id": 1, "type": "User"},
        "sha": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
        "ref": "v1.4.3",
        "payload": {"version": "1.4.3"},
        "transient_environment": False,
        "production_environment": True,
    }


def status_payload(state: str, status_id: int = 42) -> dict[str, Any]:
    """A `deployment_status` event (action `created`)."""
    return {
        "action": "created",
        "deployment_status": {
            "url": "https://api.github.com/repos/acme/checkout-api/deployments/1/statuses/42",
            "id": status_id,
            "state": state,
            "creator": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "description": "Deployment finished" if state == "success" else "",
            "environment": "production",
            "target_url": "https://github.com/acme/checkout-api/actions/runs/9876543210",
            "log_url": "https://github.com/acme/checkout-api/actions/runs/9876543210",
            "created_at": "2026-05-28T10:02:00Z",
            "updated_at": "2026-05-28T10:02:00Z",
        },
        "deployment": deployment(),
        "repository": {"id": 35129377, "name": "checkout-api", "full_name": "acme/checkout-api"},
        "sender": {"login": "octocat", "id": 1},
    }


def created_payload() -> dict[str, Any]:
    """A `deployment` event (action `created`)."""
    return {
        "action": "created",
        "deployment": deployment(),
        "repository": {"id": 35129377, "name": "checkout-api", "full_name": "acme/checkout-api"},
        "sender": {"login": "octocat", "id": 1},
    }


def signed(
    event: str, payload: dict[str, Any], secret: str = SECRET, delivery: str | None = None
) -> dict[str, Any]:
    """`httpx` arguments for a delivery, signed as GitHub signs it."""
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    return {"content": body, "headers": headers}


@pytest.fixture
async def hooked(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Engine]]:
    """The app over an engine whose TOML sets `[webhooks.github] secret`."""
    engine = await Engine.open(db_url, EngineConfig(webhooks={"github": {"secret": SECRET}}))
    app = create_app(engine)
    app.state.engine = engine
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://shipdeck.test") as c:
            yield c, engine
    finally:
        await engine.close()


async def rows(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return (await client.get("/api/deployments", params={"limit": 500})).json()["items"]


async def test_deployment_events_become_rows(hooked: tuple[httpx.AsyncClient, Engine]) -> None:
    client, _ = hooked
    created = await client.post(URL, **signed("deployment", created_payload()))
    assert created.status_code == 200, created.text
    assert created.json()["outcome"] == "stored"
    done = await client.post(URL, **signed("deployment_status", status_payload("success")))
    assert done.json() == {
        "outcome": "stored",
        "detail": done.json()["detail"],
        "deployment_id": "github-1234567890",
    }

    stored = sorted(await rows(client), key=lambda row: row["happened_at"])
    assert [row["status"] for row in stored] == ["pending", "success"]
    last = stored[-1]
    assert last["deployment_id"] == "github-1234567890"
    assert (last["service"], last["environment"], last["version"]) == (
        "checkout-api",
        "production",
        "1.4.3",
    )
    assert last["sha"] == "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d" and last["ref"] == "v1.4.3"
    assert last["run_url"] == "https://github.com/acme/checkout-api/actions/runs/9876543210"
    assert last["actor"] == "github-actions[bot]" and stored[0]["actor"] == "octocat"
    assert last["happened_at"] == "2026-05-28T10:02:00Z"
    assert last["progress_reporter"] == "github/webhook" and last["trigger"] == "ingest"
    matrix = (await client.get("/api/matrix")).json()
    (row,) = matrix["rows"]
    assert row["slots"]["production"]["current"]["status"] == "success"


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("queued", "queued"),
        ("in_progress", "in-progress"),
        ("error", "failure"),
        ("failure", "failure"),
        ("waiting", "waiting"),
    ],
)
async def test_states_map_to_the_contracts_statuses(
    hooked: tuple[httpx.AsyncClient, Engine], state: str, status: str
) -> None:
    client, _ = hooked
    answer = await client.post(URL, **signed("deployment_status", status_payload(state)))
    assert answer.json()["outcome"] == "stored"
    assert [row["status"] for row in await rows(client)] == [status]


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "wrong-secret"])
async def test_a_bad_signature_is_refused_and_nothing_is_stored(
    hooked: tuple[httpx.AsyncClient, Engine], signature: str | None
) -> None:
    client, engine = hooked
    request = signed("deployment_status", status_payload("success"))
    if signature == "wrong-secret":
        request = signed("deployment_status", status_payload("success"), secret="guess")
    elif signature is None:
        del request["headers"]["X-Hub-Signature-256"]
    else:
        request["headers"]["X-Hub-Signature-256"] = signature

    answer = await client.post(URL, **request)

    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/invalid-signature")
    assert SECRET not in answer.text
    assert await rows(client) == []
    audit = (await engine.audit.page(principal="github-webhook")).items
    assert [entry.outcome for entry in audit] == ["refused: invalid-signature"]


async def test_a_tampered_body_is_refused(hooked: tuple[httpx.AsyncClient, Engine]) -> None:
    client, _ = hooked
    request = signed("deployment_status", status_payload("success"))
    request["content"] = request["content"].replace(b"success", b"failure")
    assert (await client.post(URL, **request)).status_code == 401
    assert await rows(client) == []


async def test_a_redelivery_is_acknowledged_and_stored_once(
    hooked: tuple[httpx.AsyncClient, Engine],
) -> None:
    client, _ = hooked
    request = signed("deployment_status", status_payload("success"), delivery="72d3162e-cc78")
    first = await client.post(URL, **request)
    again = await client.post(URL, **request)

    assert first.json()["outcome"] == "stored"
    assert again.status_code == 200 and again.json()["outcome"] == "redelivery"
    assert len(await rows(client)) == 1


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}),
        ("push", {"ref": "refs/heads/main"}),
        ("deployment_status", status_payload("inactive")),
    ],
)
async def test_other_events_are_acknowledged_and_ignored(
    hooked: tuple[httpx.AsyncClient, Engine], event: str, payload: dict[str, Any]
) -> None:
    client, _ = hooked
    answer = await client.post(URL, **signed(event, payload))
    assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"
    assert await rows(client) == []


async def test_the_webhook_is_off_without_a_secret(client: httpx.AsyncClient) -> None:
    answer = await client.post(URL, **signed("deployment", created_payload()))
    assert answer.status_code == 404
    assert "[webhooks.github] secret" in answer.json()["detail"]
    # Unsigned, it is refused as on a server with the webhook on: the signature comes first.
    unsigned = await client.post(
        URL, json=created_payload(), headers={"X-GitHub-Event": "deployment"}
    )
    assert unsigned.status_code == 401
    assert await rows(client) == []


async def test_the_secret_is_never_shown() -> None:
    config = EngineConfig(webhooks={"github": {"secret": SECRET}})
    assert SECRET not in repr(config) and SECRET not in config.model_dump_json()
