"""Replay the contract's own examples and check every answer against its schemas.

The examples and the schemas are data in `tests/contract/`, transcribed from the documents
the API grew from (the deployment-dashboard `openapi.yaml` and seed 000's wire examples; see
the head of each file for its source):

- `openapi-facts.yaml`: the schemas, and per operation its key, parameters, request body
  and the responses it may give (status → headers and schema per media type);
- `ingest-examples.yaml`: the named request examples of `POST /api/deployments`;
- `seed-000.yaml`: seed 000's requests and expected answers, and its matrix snapshot.

Responses are checked against those schemas with a small validator for the subset of JSON
Schema the contract uses. Read responses are open (api-guidelines §3), so only request
bodies are checked as closed.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

DATA = Path(__file__).resolve().parents[1] / "contract"


def _load(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class Contract:
    """`openapi-facts.yaml`, with a validator for the JSON Schema subset it uses."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """Follow `$ref`s (siblings such as `description` are ignored, as in OAS 3.0)."""
        while "$ref" in node:
            ref: str = node["$ref"]
            assert ref.startswith("#/"), ref
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.document["schemas"][name]
        return schema

    def operation(self, path: str, method: str) -> dict[str, Any]:
        operation: dict[str, Any] = self.document["paths"][path][method]
        return operation

    def response(self, path: str, method: str, status: int) -> dict[str, Any]:
        response: dict[str, Any] = self.operation(path, method)["responses"][str(status)]
        return response

    def response_schema(
        self, path: str, method: str, status: int, media: str = "application/json"
    ) -> dict[str, Any]:
        """The schema the contract gives a response."""
        schema: dict[str, Any] = self.response(path, method, status)["content"][media]
        return schema

    def response_headers(self, path: str, method: str, status: int) -> list[str]:
        """The headers the contract names for a response."""
        headers: list[str] = self.response(path, method, status).get("headers", [])
        return headers

    def request_schema(
        self, path: str, method: str, media: str = "application/json"
    ) -> dict[str, Any]:
        schema: dict[str, Any] = self.operation(path, method)["request"][media]
        return schema

    def refs(self, node: Any) -> list[str]:
        """Every `$ref` under `node`."""
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [ref for value in node.values() for ref in self.refs(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in self.refs(value)]
        return []

    def violations(
        self, value: Any, schema: dict[str, Any], at: str = "", *, closed: bool = False
    ) -> list[str]:
        """Where `value` breaks `schema`; `closed` enforces `additionalProperties: false`."""
        schema = self.resolve(schema)
        found: list[str] = []
        for part in schema.get("allOf", []):
            found += self.violations(value, part, at)
        if value is None and schema.get("nullable"):
            return found
        kind = schema.get("type")
        if kind is not None:
            ok = isinstance(value, _TYPES[kind]) and not (
                isinstance(value, bool) and kind in ("integer", "number")
            )
            if not ok:
                return [*found, f"{at or '/'}: expected {kind}, got {json.dumps(value)[:40]}"]
        if "enum" in schema and value not in schema["enum"]:
            found.append(f"{at or '/'}: {value!r} is not one of {schema['enum']}")
        if isinstance(value, str):
            found += self._string(value, schema, at or "/")
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                found.append(f"{at}: more than {schema['maxItems']} items")
            if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) != len(value):
                found.append(f"{at}: items are not unique")
            for index, item in enumerate(value):
                found += self.violations(item, schema.get("items", {}), f"{at}/{index}")
        if isinstance(value, dict):
            found += self._object(value, schema, at, closed=closed)
        return found

    def _string(self, value: str, schema: dict[str, Any], at: str) -> list[str]:
        found = []
        if len(value) < schema.get("minLength", 0):
            found.append(f"{at}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{at}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{at}: does not match {schema['pattern']}")
        fmt = schema.get("format")
        if fmt == "date-time" and not _RFC3339.match(value):
            found.append(f"{at}: {value!r} is not an RFC 3339 date-time with an offset")
        if fmt == "uuid" and not _UUID.match(value):
            found.append(f"{at}: {value!r} is not a lower-case UUID")
        if fmt == "uri" and not re.fullmatch(r"\S+", value):
            found.append(f"{at}: {value!r} is not a URI reference")
        return found

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], at: str, *, closed: bool
    ) -> list[str]:
        found = [
            f"{at}/{name}: required" for name in schema.get("required", []) if name not in value
        ]
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                found += self.violations(item, properties[name], f"{at}/{name}")
            elif isinstance(extra, dict):
                found += self.violations(item, extra, f"{at}/{name}")
            elif extra is False and closed:
                found.append(f"{at}/{name}: not allowed (closed body)")
        return found


SEED = _load("seed-000.yaml")
CONTRACT = Contract(_load("openapi-facts.yaml"))
INGEST_EXAMPLES: dict[str, dict[str, Any]] = _load("ingest-examples.yaml")
SEED_INGESTS: list[tuple[dict[str, str], dict[str, Any]]] = [
    (ingest["request"]["headers"], ingest["request"]["body"]) for ingest in SEED["ingests"]
]
"""`(headers, body)` of every `POST /api/deployments` written out in seed 000."""


def assert_contract(value: Any, schema: dict[str, Any], *, closed: bool = False) -> None:
    assert CONTRACT.violations(value, schema, closed=closed) == []


async def post(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST a row as the contract shows it; insist on the contract's `201`."""
    response = await client.post(
        "/api/deployments",
        content=json.dumps(body),
        headers={"Content-Type": "application/json", **(headers or {}), "X-Api-Key": key},
    )
    assert response.status_code == 201, response.text
    for header in CONTRACT.response_headers("/api/deployments", "post", 201):
        assert header in response.headers, header
    stored: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/deployments/{stored['id']}"
    assert uuid.UUID(stored["id"]).version == 7
    assert_contract(stored, CONTRACT.response_schema("/api/deployments", "post", 201))
    return stored


# -- the validator itself --------------------------------------------------------------


def test_the_examples_were_found() -> None:
    assert sorted(INGEST_EXAMPLES) == [
        "promotionWithParent",
        "standaloneInProgress",
        "terminalSuccess",
    ]
    assert len(SEED_INGESTS) == 2
    assert SEED_INGESTS[0][1]["run_number"] == 9482
    assert SEED_INGESTS[0][0]["X-Progress-Reporter"] == "dashboard-fetcher/github-actions"
    reporter = CONTRACT.operation("/api/deployments", "post")["parameters"]["header"]
    assert (
        CONTRACT.violations(
            SEED_INGESTS[0][0]["X-Progress-Reporter"], reporter["X-Progress-Reporter"]
        )
        == []
    )
    assert CONTRACT.violations("Dashboard Fetcher", reporter["X-Progress-Reporter"])


def test_the_contract_data_hangs_together() -> None:
    """Every `$ref` names a transcribed schema; each operation keeps its key and answers."""
    refs = CONTRACT.refs(CONTRACT.document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/schemas/"), ref
        assert ref.removeprefix("#/schemas/") in CONTRACT.document["schemas"], ref
    assert CONTRACT.schema("Status")["enum"] == [
        "pending",
        "queued",
        "waiting",
        "in-progress",
        "success",
        "failure",
        "cancelled",
        "rejected",
    ]
    assert CONTRACT.schema("DeploymentEventIngest")["required"] == [
        "deployment_id",
        "service",
        "environment",
        "status",
        "happened_at",
    ]
    ingest = CONTRACT.request_schema("/api/deployments", "post")
    assert ingest == {"$ref": "#/schemas/DeploymentEventIngest"}
    upsert = CONTRACT.request_schema("/api/fetcher/state/{adapter}", "put")
    assert upsert == {"$ref": "#/schemas/FetcherStateUpsert"}
    statuses = {
        (path, method): sorted(operation["responses"])
        for path, methods in CONTRACT.document["paths"].items()
        for method, operation in methods.items()
        if method != "parameters"
    }
    assert statuses[("/api/deployments", "post")] == ["201", "401", "422", "429", "503"]
    assert statuses[("/api/fetcher/state/{adapter}", "put")] == ["204", "401", "413"]
    assert statuses[("/readyz", "get")] == ["200", "503"]
    secured = sorted(
        f"{method.upper()} {path}"
        for path, methods in CONTRACT.document["paths"].items()
        for method, operation in methods.items()
        if method != "parameters" and operation.get("security") == ["apiKey"]
    )
    assert secured == [
        "GET /api/fetcher/state/{adapter}",
        "POST /api/deployments",
        "PUT /api/fetcher/state/{adapter}",
    ]


def test_the_validator_catches_what_breaks_the_contract() -> None:
    """A validator that passes everything would make every check below worthless."""
    event = CONTRACT.schema("DeploymentEvent")
    good = {**INGEST_EXAMPLES["terminalSuccess"], "id": str(uuid.uuid4())}
    assert CONTRACT.violations(good, event) == []
    assert CONTRACT.violations({**good, "status": "done"}, event)
    assert CONTRACT.violations({**good, "service": 7}, event)
    assert CONTRACT.violations({**good, "happened_at": "2026-05-28T09:42:17"}, event)
    assert CONTRACT.violations({**good, "parent_deployments": ["a", "a"]}, event)
    assert CONTRACT.violations({k: v for k, v in good.items() if k != "id"}, event)
    assert CONTRACT.violations({**good, "id": "not-a-uuid"}, event)
    ingest = CONTRACT.schema("DeploymentEventIngest")
    assert CONTRACT.violations({**good, "surprise": 1}, ingest, closed=True)
    slot = CONTRACT.schema("MatrixSlot")
    assert CONTRACT.violations({"current": good, "prev_failed": "yes"}, slot)
    assert CONTRACT.violations({"next": good}, slot)


@pytest.mark.parametrize("name", sorted(INGEST_EXAMPLES))
def test_openapi_examples_are_valid_ingest_bodies(name: str) -> None:
    ingest = CONTRACT.request_schema("/api/deployments", "post")
    assert_contract(INGEST_EXAMPLES[name], ingest, closed=True)


# -- replaying the openapi.yaml examples ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INGEST_EXAMPLES))
async def test_openapi_ingest_example_is_stored_as_sent(
    client: httpx.AsyncClient, reporter_key: str, name: str
) -> None:
    body = INGEST_EXAMPLES[name]
    stored = await post(client, reporter_key, body)
    assert {key: stored[key] for key in body} == body

    fetched = await client.get(f"/api/deployments/{stored['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == stored
    assert_contract(fetched.json(), CONTRACT.response_schema("/api/deployments/{id}", "get", 200))


async def test_openapi_examples_replayed_together_reduce_as_described(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    """gh-9482-1's in-progress and success rows both persist; the matrix shows the latest."""
    stored = {
        name: await post(client, reporter_key, INGEST_EXAMPLES[name])
        for name in ["promotionWithParent", "terminalSuccess", "standaloneInProgress"]
    }
    rows = (await client.get("/api/deployments", params={"deployment_id": "gh-9482-1"})).json()
    assert [row["status"] for row in rows["items"]] == ["success", "in-progress"]

    matrix = (await client.get("/api/matrix")).json()
    assert_contract(matrix, CONTRACT.response_schema("/api/matrix", "get", 200))
    slots = matrix["rows"][0]["slots"]
    assert slots == {
        "dev": {"current": stored["terminalSuccess"]},
        "prod": {"current": stored["promotionWithParent"]},
    }
    assert matrix["environments"] == ["dev", "prod"]


# -- replaying seed 000 ----------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(SEED_INGESTS)))
async def test_seed_ingest_example_is_accepted(
    client: httpx.AsyncClient, reporter_key: str, index: int
) -> None:
    headers, body = SEED_INGESTS[index]
    stored = await post(client, reporter_key, body, headers)
    answer = SEED["ingests"][index].get("response")
    if answer is not None:
        # What seed 000 shows of the answer: the status, the Location and some fields.
        assert answer["status"] == 201
        assert answer["headers"]["Location"].format(id=stored["id"]) == (
            f"/api/deployments/{stored['id']}"
        )
        assert {key: stored[key] for key in answer["body"]} == answer["body"]
    expected = dict(body)
    if isinstance(body.get("run_number"), int):
        # seed 000 sends an integer; the schema says string: its digits are kept.
        expected["run_number"] = str(body["run_number"])
    assert {key: stored[key] for key in body} == expected
    reporter = headers.get("X-Progress-Reporter")
    assert stored.get("progress_reporter") == reporter
    listed = (await client.get("/api/deployments")).json()
    assert listed["items"] == [stored]
    assert_contract(listed, CONTRACT.response_schema("/api/deployments", "get", 200))


async def test_seed_terminal_row_appends_to_the_in_progress_one(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    """seed 000: a later success for gh-9491-1 is a second row; the matrix shows it."""
    _, in_progress = SEED_INGESTS[1]
    later = SEED["ingests"][1]["followed_by"]
    assert later == {"deployment_id": "gh-9491-1", "status": "success"}
    first = await post(client, reporter_key, in_progress)
    success = {**in_progress, **later, "happened_at": "2026-05-28T10:20:00Z"}
    second = await post(client, reporter_key, success)

    rows = (await client.get("/api/deployments", params={"deployment_id": "gh-9491-1"})).json()
    assert [row["id"] for row in rows["items"]] == [second["id"], first["id"]]
    prod = (await client.get("/api/matrix")).json()["rows"][0]["slots"]["prod"]
    assert prod == {"current": second}


def _seed_body(deployment_id: str) -> dict[str, Any]:
    return next(body for _, body in SEED_INGESTS if body["deployment_id"] == deployment_id)


def _slot_row(environment: str, version: str, status: str, at: str, run: int) -> dict[str, Any]:
    return {
        "deployment_id": f"gh-{run}-1",
        "service": "service-a",
        "environment": environment,
        "version": version,
        "status": status,
        "happened_at": f"2026-05-28T{at}Z",
        "run_number": str(run),
        "actor": "alice",
    }


async def test_seed_matrix_snapshot_is_reproduced(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    """The snapshot of seed 000, from rows posted out of `happened_at` order."""
    rows = {
        "prod-failure": _slot_row("prod", "1.4.3", "failure", "10:40:00", 9495),
        "qa-queued": _slot_row("qa", "1.4.4", "queued", "10:05:00", 9490),
        "dev-success": _seed_body("gh-9482-1"),
        "prod-in-progress-1.4.2": _seed_body("gh-9491-1"),
        "qa-success": _slot_row("qa", "1.4.3", "success", "10:02:00", 9485),
        "uat-success": _slot_row("uat", "1.4.3", "success", "10:03:00", 9486),
        "prod-success": {
            **_seed_body("gh-9491-1"),
            "status": "success",
            "happened_at": "2026-05-28T10:20:00Z",
        },
        "qa-in-progress": _slot_row("qa", "1.4.3", "in-progress", "10:00:00", 9485),
        "prod-in-progress-1.4.3": _slot_row("prod", "1.4.3", "in-progress", "10:30:00", 9495),
    }
    stored = {name: await post(client, reporter_key, body) for name, body in rows.items()}

    response = await client.get("/api/matrix")
    snapshot = SEED["matrix_snapshot"]
    assert response.status_code == snapshot["response"]["status"] == 200
    assert snapshot["response"]["headers"]["ETag"].startswith('W/"')
    assert response.headers["etag"].startswith('W/"')
    assert response.headers["content-type"].startswith(
        snapshot["response"]["headers"]["Content-Type"]
    )
    matrix = response.json()
    assert_contract(matrix, CONTRACT.response_schema("/api/matrix", "get", 200))
    assert matrix["environments"] == ["dev", "qa", "uat", "prod"]
    assert [row["service"] for row in matrix["rows"]] == ["service-a"]
    slots = matrix["rows"][0]["slots"]
    assert slots == {
        "dev": {"current": stored["dev-success"]},
        "qa": {"current": stored["qa-success"], "next": stored["qa-queued"]},
        "uat": {"current": stored["uat-success"]},
        "prod": {"current": stored["prod-failure"], "last_successful": stored["prod-success"]},
    }
    # What seed 000 spells out, as transcribed ...
    assert matrix["environments"] == snapshot["body"]["environments"]
    assert [row["service"] for row in matrix["rows"]] == [
        row["service"] for row in snapshot["body"]["rows"]
    ]
    seed_slots = snapshot["body"]["rows"][0]["slots"]
    assert {env: set(slot) for env, slot in slots.items() if env in seed_slots} == {
        env: set(slot) for env, slot in seed_slots.items()
    }
    for env, slot in seed_slots.items():
        for key, fields in slot.items():
            assert {name: slots[env][key][name] for name in fields} == fields, (env, key)
    # ... and as written out.
    assert slots["dev"]["current"]["status"] == "success"
    assert (slots["qa"]["current"]["status"], slots["qa"]["current"]["version"]) == (
        "success",
        "1.4.3",
    )
    assert (slots["qa"]["next"]["status"], slots["qa"]["next"]["version"]) == ("queued", "1.4.4")
    assert (slots["prod"]["current"]["status"], slots["prod"]["current"]["version"]) == (
        "failure",
        "1.4.3",
    )
    last = slots["prod"]["last_successful"]
    assert (last["status"], last["version"]) == ("success", "1.4.2")

    # The discovery examples of openapi.yaml describe this same data set.
    environments = await client.get("/api/environments")
    example = CONTRACT.response_schema("/api/environments", "get", 200)["examples"][0]
    assert environments.json() == example == {"items": ["dev", "qa", "uat", "prod"]}
    assert (await client.get("/api/services")).json() == {"items": ["service-a"]}


# (history of one slot in happened_at order, expected slot: key → status of that row)
SLOT_CASES = {
    "in-progress-after-failure": (
        ["failure", "in-progress"],
        {"current": "in-progress", "prev_failed": True},
    ),
    "in-progress-after-success": (
        ["success", "in-progress"],
        {"current": "in-progress", "last_successful": "success"},
    ),
    "in-progress-after-success-then-failure": (
        ["success", "failure", "in-progress"],
        {"current": "in-progress", "last_successful": "success", "prev_failed": True},
    ),
    "in-progress-after-failure-then-success": (
        ["failure", "success", "in-progress"],
        {"current": "in-progress", "last_successful": "success"},
    ),
    "in-progress-with-no-history": (["in-progress"], {"current": "in-progress"}),
    "failure-after-in-progress-after-failure": (
        ["failure", "in-progress", "failure"],
        {"current": "failure"},
    ),
    "next-older-than-current-is-omitted": (["queued", "success"], {"current": "success"}),
    "rejected-after-success-is-next": (
        ["success", "rejected"],
        {"current": "success", "next": "rejected"},
    ),
    "latest-non-effective-is-next": (
        ["success", "waiting", "cancelled"],
        {"current": "success", "next": "cancelled"},
    ),
}


@pytest.mark.parametrize("case", list(SLOT_CASES))
async def test_slot_shape(client: httpx.AsyncClient, reporter_key: str, case: str) -> None:
    history, expected = SLOT_CASES[case]
    stored = [
        await post(
            client,
            reporter_key,
            _slot_row("prod", f"1.0.{n}", status, f"10:{n:02d}:00", 9000 + n),
        )
        for n, status in enumerate(history)
    ]
    matrix = (await client.get("/api/matrix")).json()
    assert_contract(matrix, CONTRACT.response_schema("/api/matrix", "get", 200))
    slot = matrix["rows"][0]["slots"]["prod"]
    assert set(slot) == set(expected)
    for key, want in expected.items():
        if key == "prev_failed":
            assert slot[key] is True
            continue
        assert slot[key]["status"] == want
        # The slot carries the whole row, the latest one with that status.
        latest = max(
            (row for row in stored if row["status"] == want), key=lambda r: r["happened_at"]
        )
        assert slot[key] == latest


async def test_seed_fetcher_cursor_is_stored_and_read_back(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    """seed 000's `PUT /api/fetcher/state/github-actions`, then the contract's read of it."""
    request = SEED["fetcher_cursor"]["request"]
    path = "/api/fetcher/state/{adapter}"
    adapter = request["path"].removeprefix("/api/fetcher/state/")
    assert (
        CONTRACT.violations(
            adapter, CONTRACT.document["paths"][path]["parameters"]["path"]["adapter"]
        )
        == []
    )
    assert_contract(request["body"], CONTRACT.request_schema(path, "put"), closed=True)
    headers = {**request["headers"], "X-Api-Key": reporter_key}
    put = await client.put(request["path"], content=json.dumps(request["body"]), headers=headers)
    assert put.status_code == 204, put.text
    assert "204" in CONTRACT.operation(path, "put")["responses"]
    got = await client.get(request["path"], headers={"X-Api-Key": reporter_key})
    assert got.status_code == 200
    assert_contract(got.json(), CONTRACT.response_schema(path, "get", 200))
    assert (got.json()["adapter"], got.json()["cursor"]) == (adapter, request["body"]["cursor"])


async def test_a_slot_with_only_non_effective_rows_is_not_shown(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    """`current` is required: a slot where nothing ran yet has no entry."""
    await post(client, reporter_key, _slot_row("qa", "1.0.0", "success", "10:00:00", 1))
    await post(client, reporter_key, _slot_row("prod", "1.0.0", "waiting", "10:01:00", 2))
    matrix = (await client.get("/api/matrix")).json()
    assert_contract(matrix, CONTRACT.response_schema("/api/matrix", "get", 200))
    assert list(matrix["rows"][0]["slots"]) == ["qa"]


# -- every other answer against its schema ---------------------------------------------


async def test_every_answer_matches_its_contract_schema(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    auth = {"X-Api-Key": reporter_key}
    headers, body = SEED_INGESTS[0]
    stored = await post(client, reporter_key, body, headers)

    checks: list[tuple[httpx.Response, int, dict[str, Any], str]] = []

    def expect(response: httpx.Response, status: int, schema: dict[str, Any], media: str) -> None:
        checks.append((response, status, schema, media))

    json_media, problem_media = "application/json", "application/problem+json"
    expect(
        await client.get("/api/deployments", params={"limit": 1}),
        200,
        CONTRACT.response_schema("/api/deployments", "get", 200),
        json_media,
    )
    expect(
        await client.get(f"/api/deployments/{stored['id']}"),
        200,
        CONTRACT.response_schema("/api/deployments/{id}", "get", 200),
        json_media,
    )
    expect(
        await client.get(f"/api/deployments/{uuid.uuid4()}"),
        404,
        CONTRACT.response_schema("/api/deployments/{id}", "get", 404, problem_media),
        problem_media,
    )
    expect(
        await client.get("/api/matrix", params={"service": "service-a"}),
        200,
        CONTRACT.response_schema("/api/matrix", "get", 200),
        json_media,
    )
    for path in ["/api/services", "/api/environments", "/healthz", "/readyz"]:
        expect(await client.get(path), 200, CONTRACT.response_schema(path, "get", 200), json_media)

    fetcher = "/api/fetcher/state/{adapter}"
    url = "/api/fetcher/state/github-actions"
    expect(
        await client.get(url, headers=auth),
        404,
        CONTRACT.response_schema(fetcher, "get", 404, problem_media),
        problem_media,
    )
    put = await client.put(url, json={"cursor": "eyJyZXBvIjoiYWNtZS9hcGkifQ=="}, headers=auth)
    assert put.status_code == 204
    expect(
        await client.get(url, headers=auth),
        200,
        CONTRACT.response_schema(fetcher, "get", 200),
        json_media,
    )
    expect(
        await client.put(url, json={"cursor": "x" * 9000}, headers=auth),
        413,
        CONTRACT.response_schema(fetcher, "put", 413, problem_media),
        problem_media,
    )
    expect(
        await client.put(url, json={"cursor": "x"}),
        401,
        CONTRACT.response_schema(fetcher, "put", 401, problem_media),
        problem_media,
    )
    expect(
        await client.post("/api/deployments", json=body),
        401,
        CONTRACT.response_schema("/api/deployments", "post", 401, problem_media),
        problem_media,
    )
    expect(
        await client.post("/api/deployments", json={**body, "status": "done"}, headers=auth),
        422,
        CONTRACT.response_schema("/api/deployments", "post", 422, problem_media),
        problem_media,
    )

    for response, status, schema, media in checks:
        where = f"{response.request.method} {response.request.url.path}"
        assert response.status_code == status, where
        assert CONTRACT.response_schema(*_operation_of(response), status, media) is schema, where
        for header in CONTRACT.response_headers(*_operation_of(response), status):
            assert header in response.headers, (where, header)
        assert response.headers["content-type"].startswith(media), where
        assert CONTRACT.violations(response.json(), schema) == [], where
    refused = checks[-1][0].json()
    assert [error["pointer"] for error in refused["errors"]] == ["/status"]


def _operation_of(response: httpx.Response) -> tuple[str, str]:
    """The contract's `(path template, method)` of a request made above."""
    path = response.request.url.path
    for template in CONTRACT.document["paths"]:
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template, response.request.method.lower()
    raise AssertionError(f"{path} is not in the contract")
