"""The lean ingest path (`POST /api/deployments`): what it skips must not change what it
answers.

The route is a `LeanRoute` (FastAPI solves no parameters for it), the stored document is
serialised once from the validated body, and concurrent ingests share a transaction; a
`201` still means the row, its event and its audit entry are committed, and the app-wide
query check, problems and headers are the same as for any route.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from shipdeck.domain import DeploymentEvent, DeploymentEventIngest
from shipdeck.engine import Engine
from shipdeck.engine.ingest import ingest_document
from shipdeck.server import create_app
from shipdeck.server.deps import single_query_values
from shipdeck.server.routes import deployments
from shipdeck.server.routes.deployments import LeanRoute
from tests.rawdb import RawDB

PROBLEM = "application/problem+json"


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "deployment_id": "gh-1",
        "service": "api",
        "environment": "prod",
        "status": "success",
        "happened_at": "2026-05-28T10:14:02Z",
        **overrides,
    }


ODD_BODIES = [
    body(),
    body(happened_at="2026-05-28T12:14:02.123456+02:00", run_number=9491, parent_deployments=[]),
    body(
        deployment_id='gh-"1"\\\u00e9',
        version="1.0.0-\u03b2",
        run_url="https://ci.example.com/runs/1?x=1&y=%20",
        run_number="  42 ",
        actor="\u00e1lice \U0001f680",
        ref="refs/heads/main",
        sha="3f2c1a9",
        parent_deployments=["a", "b\u2028c"],
        phase="validating",
        message="line\nnext\ttab \x01\x1b[2J \u2029 </script>",
        status="in-progress",
    ),
]


@pytest.mark.parametrize("fields", ODD_BODIES)
@pytest.mark.parametrize(
    ("reporter", "trigger"), [(None, "ingest"), ("gh/actions", "ingest"), ('\u00e9\n"', None)]
)
def test_the_stored_document_is_what_the_row_model_would_write(
    fields: dict[str, Any], reporter: str | None, trigger: str | None
) -> None:
    ingest = DeploymentEventIngest.model_validate_json(json.dumps(fields))
    row_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000"
    model = DeploymentEvent.model_construct(
        id=row_id,
        progress_reporter=reporter,
        trigger=trigger,
        **{k: v for k, v in ingest if v is not None},
    )
    assert ingest_document(row_id, ingest, reporter, trigger) == model.model_dump_json()


def test_the_ingest_route_is_lean_and_every_app_wide_dependency_is_one_it_calls() -> None:
    """The lean route skips FastAPI's dependency solving: an app-wide dependency added
    later would not run for it unless `ingest_deployment` calls it too (as it calls
    `single_query_values`). This test fails first, so that it is not forgotten."""
    app = create_app(database_url="sqlite:///unused.db")
    assert [d.dependency for d in app.router.dependencies] == [single_query_values]
    [ingest] = [
        route
        for route in deployments.router.routes
        if isinstance(route, APIRoute) and route.path == "/api/deployments"
        if "POST" in route.methods
    ]
    assert isinstance(ingest, LeanRoute)
    operation = app.openapi()["paths"]["/api/deployments"]["post"]
    assert operation["operationId"] == "ingestDeployment"
    assert "requestBody" in operation and "Location" in operation["responses"]["201"]["headers"]
    assert [p["name"] for p in operation["parameters"]] == ["X-Progress-Reporter"]


async def test_a_201_is_the_row_as_stored_and_committed(
    client: httpx.AsyncClient, reporter_key: str, db_url: str
) -> None:
    response = await client.post(
        "/api/deployments",
        json=body(message="caf\u00e9"),
        headers={"X-Api-Key": reporter_key, "X-Progress-Reporter": "gh/actions"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    stored = response.json()
    assert response.headers["location"] == f"/api/deployments/{stored['id']}"
    assert stored["progress_reporter"] == "gh/actions" and stored["trigger"] == "ingest"
    fetched = await client.get(response.headers["location"])
    assert fetched.content == response.content  # byte for byte what the log holds
    with RawDB(db_url) as raw:  # another connection: committed, not just in a transaction
        assert raw.rows("SELECT doc FROM deployments WHERE id = ?", (stored["id"],)) == [
            (response.text,)
        ]
        assert raw.rows("SELECT COUNT(*) FROM events WHERE row_id = ?", (stored["id"],)) == [(1,)]
        [(action, target, outcome)] = raw.rows("SELECT action, target, outcome FROM audit")
        assert (action, target, outcome) == ("ingest", "gh-1", "ok")


async def test_concurrent_ingests_over_http_share_transactions_and_all_are_stored(
    client: httpx.AsyncClient, reporter_key: str, engine: Engine, db_url: str
) -> None:
    batches: list[int] = []
    real = engine.store.append_deployments

    def counted(items: Any) -> Any:
        batches.append(len(items))
        return real(items)

    engine.store.append_deployments = counted  # type: ignore[method-assign]
    headers = {"X-Api-Key": reporter_key}
    answers = await asyncio.gather(
        *(
            client.post("/api/deployments", json=body(deployment_id=f"d-{n}"), headers=headers)
            for n in range(40)
        )
    )
    assert [a.status_code for a in answers] == [201] * 40
    assert sum(batches) == 40 and len(batches) < 40
    ids = {a.json()["id"] for a in answers}
    with RawDB(db_url) as raw:
        assert {row_id for (row_id,) in raw.rows("SELECT id FROM deployments")} == ids


async def test_the_app_wide_query_check_still_applies(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    repeated = await client.post("/api/deployments?x=1&x=2", json=body())
    assert repeated.status_code == 422  # before the key is looked at, as for any route
    assert repeated.headers["content-type"].startswith(PROBLEM)
    assert repeated.json()["errors"] == [{"pointer": "/x", "message": "given more than once"}]
    once = await client.post(
        "/api/deployments?x=1", json=body(), headers={"X-Api-Key": reporter_key}
    )
    assert once.status_code == 201


async def test_refusals_are_problems_and_store_nothing(
    client: httpx.AsyncClient, reporter_key: str, db_url: str
) -> None:
    key = {"X-Api-Key": reporter_key}
    cases = [
        (await client.post("/api/deployments", json=body()), 401),
        (await client.post("/api/deployments", json=body(status="nope"), headers=key), 422),
        (await client.post("/api/deployments", content=b"{", headers=key), 422),
        (
            await client.post(
                "/api/deployments", json=body(), headers={**key, "X-Progress-Reporter": "Bad!"}
            ),
            422,
        ),
        (
            await client.post("/api/deployments", json=body(message="x" * 70_000), headers=key),
            413,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["status"] == status
        assert response.headers["x-request-id"]
    with RawDB(db_url) as raw:
        assert raw.rows("SELECT COUNT(*) FROM deployments") == [(0,)]
