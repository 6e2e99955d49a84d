"""The OpenAPI document says what the server does, and the server does what it says.

Each case here was found by the API fuzzing of tests/reliability/test_fuzz.py: a request the
document allowed and the server refused, or the other way round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shipdeck.domain import Role
from shipdeck.engine import Engine

PROBLEM = "https://deployment-dashboard/errors/"
ROW = {
    "deployment_id": "d",
    "service": "api",
    "environment": "dev",
    "status": "success",
    "happened_at": "2026-05-28T09:00:00Z",
}


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


@pytest.fixture
async def admin(engine: Engine) -> AsyncIterator[dict[str, str]]:
    yield {"X-Api-Key": (await engine.keys.create("root", Role.ADMIN))[1]}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def problem(response: httpx.Response, status: int, kind: str = "validation") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + kind, body
    return body


# -- the document -------------------------------------------------------------------------


def test_every_problem_is_documented_as_problem_json(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, operation in operations(spec):
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(answer.get("content", {})) == ["application/problem+json"], (
                    method,
                    path,
                    status,
                )


SIGNED = {
    ("POST", "/api/webhooks/github"): [{"githubSignature": []}],
    ("POST", "/api/control/reset"): [{"controlApiKey": []}],
    ("POST", "/api/control/recover"): [{"controlApiKey": []}],
}
"""Mutations authenticated otherwise than by an API key (GitHub signs its deliveries; reset
and recover take the control key, a secret distinct from every API key)."""


def test_every_mutation_needs_a_key(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        if method in ("POST", "PUT"):
            expected = SIGNED.get((method, path), [{"apiKey": []}])
            assert operation.get("security") == expected, (method, path)
            assert "401" in operation["responses"], (method, path)


def test_optional_parameters_are_absent_not_null(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (method, path)


def test_bodies_that_may_be_left_out_say_so(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    assert not paths["/api/environments/{environment}/unlock"]["post"]["requestBody"]["required"]
    assert not paths["/api/deployments/{deployment_id}/rollback"]["post"]["requestBody"]["required"]
    assert paths["/api/environments/{environment}/lock"]["post"]["requestBody"]["required"]


def test_freeze_windows_are_one_of_two_kinds(spec: dict[str, Any]) -> None:
    window = spec["components"]["schemas"]["FreezeWindow"]
    one_off, weekly = window["oneOf"]
    assert one_off["required"] == ["name", "start", "end"]
    assert weekly["required"] == ["name", "from", "to"]
    assert "Europe/Berlin" in weekly["properties"]["timezone"]["enum"]


def test_event_streams_document_each_event(spec: dict[str, Any]) -> None:
    answer = spec["paths"]["/api/events/stream"]["get"]["responses"]["200"]
    kinds = answer["content"]["text/event-stream"]["schema"]["oneOf"]
    events = {kind["properties"]["event"]["const"]: kind for kind in kinds}
    assert set(events) == {"deployment", "promotion", "environment", "resync"}
    data = events["deployment"]["properties"]["data"]
    assert data["contentSchema"] == {"$ref": "#/components/schemas/DeploymentEvent"}


def test_actions_link_to_what_can_be_done_next(spec: dict[str, Any]) -> None:
    answer = spec["paths"]["/api/promotions"]["post"]["responses"]["202"]
    assert answer["links"]["approvePromotion"]["parameters"] == {
        "promotion_id": "$response.body#/promotion_id"
    }


# -- the server keeps to it -----------------------------------------------------------------


async def test_a_query_parameter_given_twice_is_refused(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/api/deployments?limit=1&limit=x"), 422)
    assert body["errors"] == [{"pointer": "/limit", "message": "given more than once"}]


async def test_json_integers_and_strict_types(
    client: httpx.AsyncClient, admin: dict[str, str], reporter_key: str
) -> None:
    # JSON Schema's `integer` takes 2.0 (and 9482.0), but no boolean stands for a number.
    put = await client.put(
        "/api/environments/qa/policy", json={"approvals_required": 2.0}, headers=admin
    )
    assert put.status_code == 200, put.text
    assert put.json()["policy"]["approvals_required"] == 2
    problem(
        await client.put("/api/environments/qa/policy", json={"self_approval": 0}, headers=admin),
        422,
    )
    row = await client.post(
        "/api/deployments", json={**ROW, "run_number": 9482.0}, headers={"X-Api-Key": reporter_key}
    )
    assert row.json()["run_number"] == "9482"


@pytest.mark.parametrize(
    "window",
    [
        {"name": "w", "from": "FRI 16:00", "to": "mon 08:00"},
        {"name": "w", "from": "fri 16:00\n", "to": "mon 08:00"},
        {"name": "w", "from": "fri 16:00", "to": "mon 08:00", "timezone": "posixrules"},
        {"name": "w", "start": "2026-01-01T00:00:00Z\n", "end": "2027-01-01T00:00:00Z"},
    ],
)
async def test_freeze_windows_outside_the_schema_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], window: dict[str, str]
) -> None:
    response = await client.put(
        "/api/environments/qa/policy", json={"freeze": [window]}, headers=admin
    )
    problem(response, 422)


async def test_a_policy_with_an_early_window_reads_back(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    window = {"name": "w", "start": "0005-01-01T00:00:00Z", "end": "0006-01-01T00:00:00Z"}
    put = await client.put("/api/environments/qa/policy", json={"freeze": [window]}, headers=admin)
    assert put.status_code == 200, put.text
    read = await client.get("/api/environments/qa/policy")
    assert read.json()["policy"]["freeze"][0]["start"] == "0005-01-01T00:00:00Z"


async def test_a_body_of_whitespace_is_no_empty_body(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    problem(await client.post("/api/environments/qa/unlock", content=b"\n", headers=headers), 422)
    no_body = await client.post("/api/environments/qa/unlock", headers=admin)
    problem(no_body, 409, "not-locked")


async def test_idempotency_keys_are_printable_ascii(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"service": "api", "environment": "dev", "version": "1"}
    # Latin-1 on the wire, as HTTP allows; the document asks for printable ASCII.
    headers = [(b"X-Api-Key", admin["X-Api-Key"].encode()), (b"Idempotency-Key", b"caf\xe9")]
    refused = await client.post("/api/deploys", json=body, headers=headers)
    assert problem(refused, 422)["errors"][0]["pointer"] == "/headers/Idempotency-Key"


async def test_a_deployment_id_with_a_newline_has_its_routes(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    headers = {"X-Api-Key": reporter_key}
    row = await client.post(
        "/api/deployments", json={**ROW, "deployment_id": "a\nb"}, headers=headers
    )
    assert row.status_code == 201, row.text
    logs = await client.post(
        "/api/deployments/a%0Ab/logs", json={"lines": [{"message": "hi"}]}, headers=headers
    )
    assert logs.status_code == 201, logs.text
    assert (await client.get("/api/deployments/a%0Ab/logs")).json()["items"][0]["message"] == "hi"
