"""`GET /api/matrix/services` and the additive parameters of `GET /api/matrix`, on both backends.

The contract's `GET /api/matrix` (no parameters, or `?service=`) is byte for byte what it
was; the index and the windows say what the whole matrix says; every bad parameter is a
problem, never a `500`.
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from shipdeck.domain import SlotView, order_environments, view_slot
from shipdeck.engine import Engine

from ..engine.test_matrix_index import (
    BASE,
    estate,
    expected_index,
    full_rows,
    ingest,
    served_index,
)

PROBLEM = "https://deployment-dashboard/errors/"


def problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + "validation"
    assert body["status"] == status
    return body


def contract_body(engine: Engine, generated_at: str, service: str | None = None) -> bytes:
    """`GET /api/matrix` as it was built before the index existed, from the slot table."""

    def fragment(environment: str, view: SlotView[str]) -> str:
        parts = [f'"current":{view.current}']
        if view.last_successful is not None:
            parts.append(f'"last_successful":{view.last_successful}')
        if view.next is not None:
            parts.append(f'"next":{view.next}')
        if view.prev_failed:
            parts.append('"prev_failed":true')
        return f"{json.dumps(environment)}:{{{','.join(parts)}}}"

    store = engine.store
    order = order_environments(store.environments(), engine.config.environment_order)
    rank = {name: index for index, name in enumerate(order)}
    by_service: dict[str, dict[str, str]] = {}
    for record in store.slots():
        view = view_slot(record.state)
        if view is not None:
            by_service.setdefault(record.service, {})[record.environment] = fragment(
                record.environment, view
            )
    names = sorted(by_service) if service is None else [service]
    rows = [
        f'{{"service":{json.dumps(name)},"slots":{{'
        + ",".join(slots[env] for env in sorted(slots, key=lambda e: rank.get(e, len(rank))))
        + "}}"
        for name in names
        if (slots := by_service.get(name))
    ]
    return (
        f'{{"generated_at":{json.dumps(generated_at)},"environments":{json.dumps(order)},'
        f'"rows":[{",".join(rows)}]}}'
    ).encode()


@pytest.fixture
async def seeded(engine: Engine) -> list[str]:
    """An estate of 20 services with a few hundred rows."""
    services = estate(20)
    await ingest(engine, random.Random(21), services, 160)
    return services


async def test_the_contract_matrix_is_byte_for_byte_unchanged(
    client: httpx.AsyncClient, engine: Engine, seeded: list[str]
) -> None:
    engine.clock = lambda: BASE
    for params, service in [
        ({}, None),
        ({"service": "api-000"}, "api-000"),
        ({"service": "x"}, "x"),
    ]:
        response = await client.get("/api/matrix", params=params)
        assert response.status_code == 200
        assert response.content == contract_body(engine, "2026-03-01T00:00:00Z", service)
        assert response.headers["etag"] == f'W/"m-{engine.head}"'
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-type"] == "application/json"


async def test_the_index_is_what_the_whole_matrix_implies(
    client: httpx.AsyncClient, engine: Engine, seeded: list[str]
) -> None:
    for sort in ("name", "change"):
        for q in (None, "a", "EB-0", "zzz"):
            params = {"sort": sort, **({"q": q} if q is not None else {})}
            response = await client.get("/api/matrix/services", params=params)
            assert response.status_code == 200
            assert response.headers["etag"] == f'W/"s-{engine.head}"'
            assert served_index(response.content) == await expected_index(engine, sort, q)
            assert response.json()["next_cursor"] is None


async def test_paging_the_index_and_the_rows_gives_every_service_once(
    client: httpx.AsyncClient, engine: Engine, seeded: list[str]
) -> None:
    whole = full_rows((await client.get("/api/matrix")).content)
    for path in ("/api/matrix/services", "/api/matrix"):
        for sort, q, limit in [("name", None, 3), ("change", None, 7), ("change", "e", 2)]:
            expected = [name for name, _ in (await expected_index(engine, sort, q))["services"]]
            seen: list[str] = []
            params: dict[str, Any] = {"sort": sort, "limit": limit, **({"q": q} if q else {})}
            while True:
                doc = (await client.get(path, params=params)).json()
                assert doc["total"] == len(expected)
                if path == "/api/matrix":
                    seen += [row["service"] for row in doc["rows"]]
                    assert {row["service"]: row["slots"] for row in doc["rows"]} == {
                        row["service"]: whole[row["service"]] for row in doc["rows"]
                    }
                else:
                    seen += [item["service"] for item in doc["services"]]
                if doc["next_cursor"] is None:
                    break
                params["cursor"] = doc["next_cursor"]
            assert seen == expected, (path, sort, q, limit)


async def test_a_window_is_those_rows_of_the_whole_matrix(
    client: httpx.AsyncClient, engine: Engine, seeded: list[str]
) -> None:
    whole = full_rows((await client.get("/api/matrix")).content)
    wanted = [seeded[7], "unknown", seeded[2], seeded[7], seeded[15]]
    response = await client.get(f"/api/matrix?{urlencode([('services', n) for n in wanted])}")
    assert response.status_code == 200
    assert response.headers["etag"] == f'W/"m-{engine.head}"'
    doc = response.json()
    expected = sorted({name for name in wanted if name in whole})
    assert [row["service"] for row in doc["rows"]] == expected
    assert {row["service"]: row["slots"] for row in doc["rows"]} == {n: whole[n] for n in expected}
    assert doc["environments"] == (await client.get("/api/matrix")).json()["environments"]
    assert set(doc) == {"generated_at", "environments", "rows"}  # not paged: no extra fields
    # 500 names is the most a window takes.
    many = urlencode([("services", f"s-{i}") for i in range(500)])
    assert (await client.get(f"/api/matrix?{many}")).json()["rows"] == []
    body = problem(await client.get(f"/api/matrix?{many}&services=one-more"))
    assert body["errors"][0]["pointer"] == "/services"


async def test_unchanged_answers_are_304_until_a_row_arrives(
    client: httpx.AsyncClient, engine: Engine, seeded: list[str]
) -> None:
    for url in ("/api/matrix/services?sort=change", f"/api/matrix?services={seeded[0]}"):
        first = await client.get(url)
        etag = first.headers["etag"]
        for sent in (etag, etag.removeprefix("W/"), f'"x", {etag}', "*"):
            again = await client.get(url, headers={"If-None-Match": sent})
            assert again.status_code == 304
            assert again.content == b""
            assert again.headers["etag"] == etag
        await ingest(engine, random.Random(1), seeded, 1)
        moved = await client.get(url, headers={"If-None-Match": etag})
        assert moved.status_code == 200
        assert moved.headers["etag"] != etag


BAD = [
    "/api/matrix/services?sort=newest",
    "/api/matrix/services?limit=0",
    "/api/matrix/services?limit=100001",
    "/api/matrix/services?limit=ten",
    "/api/matrix/services?cursor=not-a-cursor",
    "/api/matrix/services?cursor=12.abc",
    "/api/matrix/services?q=" + "x" * 257,
    "/api/matrix/services?sort=name&sort=change",
    "/api/matrix?sort=oldest",
    "/api/matrix?limit=-1",
    "/api/matrix?cursor=%00",
    "/api/matrix?services=a&limit=1&limit=2",
    "/api/matrix/services?services=a&services=b",
]


async def test_bad_parameters_are_problems_never_500(
    client: httpx.AsyncClient, engine: Engine, seeded: list[str]
) -> None:
    for url in BAD:
        problem(await client.get(url))
    rnd = random.Random(2)
    values = ["", "0", "-1", "1", "name", "change", "\u00e9", "%ff", "1.", "-0.00", "9" * 30]
    values += ["1." + "ab" * 3, "x" * 300, "a&b", "\\", ".*", "[", "()"]
    for _ in range(120):
        path = rnd.choice(["/api/matrix", "/api/matrix/services"])
        names = ["sort", "q", "limit", "cursor", "services", "service", "other"]
        query = [(rnd.choice(names), rnd.choice(values)) for _ in range(rnd.randint(1, 4))]
        response = await client.get(f"{path}?{urlencode(query)}")
        assert response.status_code in (200, 422), (query, response.text)
        if response.status_code == 422:
            assert response.headers["content-type"] == "application/problem+json"


async def test_the_index_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    index = spec["paths"]["/api/matrix/services"]["get"]
    assert index["operationId"] == "getMatrixServices"
    assert index["tags"] == ["matrix"]
    assert {p["name"] for p in index["parameters"]} >= {"sort", "q", "limit", "cursor"}
    assert set(index["responses"]) >= {"200", "304", "401", "422"}
    schema = index["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/MatrixServices"}
    matrix = spec["paths"]["/api/matrix"]["get"]
    parameters = {p["name"]: p for p in matrix["parameters"]}
    assert parameters["services"]["schema"]["type"] == "array"
    assert parameters["services"]["schema"]["maxItems"] == 500
    answer = matrix["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Matrix"} in answer["anyOf"]
    page = spec["components"]["schemas"]["MatrixPage"]
    assert {"total", "next_cursor"} <= set(page["properties"])
