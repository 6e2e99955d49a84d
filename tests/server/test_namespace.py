"""The optional `namespace` of a row: ingested, stored, returned, filtered (issue 15).

Upstream's suite (`namespace.spec.ts`) posts rows with and without a namespace and reads
them back through `GET /api/deployments`; these tests hold the same behaviour on both
backends.
"""

from __future__ import annotations

from typing import Any

import httpx

from .test_api import assert_problem, ingest, row


async def test_namespace_is_echoed_on_the_created_row_and_stored(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    created = await ingest(client, reporter_key, row(namespace="org-a"))
    assert created["namespace"] == "org-a"
    stored = (await client.get(f"/api/deployments/{created['id']}")).json()
    assert stored["namespace"] == "org-a"
    listed = (await client.get("/api/deployments", params={"service": "service-a"})).json()
    assert [item["namespace"] for item in listed["items"]] == ["org-a"]


async def test_a_row_without_namespace_has_none(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    created = await ingest(client, reporter_key, row())
    assert "namespace" not in created
    listed = (await client.get("/api/deployments")).json()
    assert "namespace" not in listed["items"][0]


async def test_namespace_longer_than_128_characters_is_a_422(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    response = await client.post(
        "/api/deployments",
        json=row(namespace="x" * 129),
        headers={"X-Api-Key": reporter_key},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["pointer"] == "/namespace"
    empty = await client.post(
        "/api/deployments", json=row(namespace=""), headers={"X-Api-Key": reporter_key}
    )
    assert_problem(empty, 422)
    assert (await client.get("/api/deployments")).json()["items"] == []


async def test_a_non_string_namespace_is_a_422(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    response = await client.post(
        "/api/deployments", json=row(namespace=7), headers={"X-Api-Key": reporter_key}
    )
    assert_problem(response, 422)


async def _seed(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    return [
        await ingest(client, key, row(deployment_id="a", namespace="org-a", environment="prod")),
        await ingest(client, key, row(deployment_id="b", namespace="org-b", environment="qa")),
        await ingest(client, key, row(deployment_id="c", environment="dev")),
        await ingest(client, key, row(deployment_id="d", service="other", namespace="org-a")),
    ]


async def test_service_filter_matches_the_service_in_every_namespace(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    await _seed(client, reporter_key)
    page = (await client.get("/api/deployments", params={"service": "service-a"})).json()
    assert sorted(item["deployment_id"] for item in page["items"]) == ["a", "b", "c"]


async def test_namespace_filter_keeps_only_that_namespace(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    await _seed(client, reporter_key)
    page = (await client.get("/api/deployments", params={"namespace": "org-a"})).json()
    assert sorted(item["deployment_id"] for item in page["items"]) == ["a", "d"]
    both = await client.get(
        "/api/deployments", params={"namespace": "org-a", "service": "service-a"}
    )
    assert [item["deployment_id"] for item in both.json()["items"]] == ["a"]
    none = (await client.get("/api/deployments", params={"namespace": "org-z"})).json()
    assert none == {"items": [], "next_cursor": None}


async def test_namespace_filter_pages_keep_the_filter(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    for n in range(3):
        await ingest(client, reporter_key, row(deployment_id=f"ns-{n}", namespace="org-a"))
        await ingest(client, reporter_key, row(deployment_id=f"plain-{n}"))
    first = (await client.get("/api/deployments", params={"namespace": "org-a", "limit": 2})).json()
    second = (
        await client.get(
            "/api/deployments",
            params={"namespace": "org-a", "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    seen = [item["deployment_id"] for item in first["items"] + second["items"]]
    assert sorted(seen) == ["ns-0", "ns-1", "ns-2"]
    assert second["next_cursor"] is None
