"""The deployment-dashboard contract over HTTP: status codes, headers and bodies.

Every path of `openapi.yaml` except `/api/control/*` (shipdeck does not serve the control
plane). The app runs in-process over the fixture engine; tests that need another engine
configuration open their own engine on the test's database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest

from shipdeck.domain import DeploymentEventIngest, Role
from shipdeck.engine import Engine, EngineConfig
from shipdeck.server import create_app

PROBLEM = "application/problem+json"
REPORTER = "dashboard-fetcher/github-actions"

BASE: dict[str, Any] = {
    "deployment_id": "gh-1",
    "service": "service-a",
    "environment": "dev",
    "status": "success",
    "happened_at": "2026-05-28T09:42:17Z",
}


def row(**fields: Any) -> dict[str, Any]:
    """A valid ingest body with some fields changed."""
    return {**BASE, **fields}


async def ingest(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    """POST one row, insist on `201`, return the stored row."""
    response = await client.post(
        "/api/deployments", json=body, headers={"X-Api-Key": key, **headers}
    )
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == status
    return body


def pointers(problem: dict[str, Any]) -> list[str]:
    return [error["pointer"] for error in problem.get("errors", [])]


@asynccontextmanager
async def app_client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client over an app serving `engine`."""
    app = create_app(engine)
    app.state.engine = engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shipdeck.test") as c:
        yield c


@asynccontextmanager
async def configured(db_url: str, config: EngineConfig) -> AsyncIterator[Engine]:
    """An engine with its own configuration on the test's database."""
    engine = await Engine.open(db_url, config)
    try:
        yield engine
    finally:
        await engine.close()


# -- POST /api/deployments -------------------------------------------------------------


async def test_ingest_answers_201_with_location_and_the_stored_row(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    body = row(
        deployment_id="gh-9491-1",
        environment="prod",
        version="1.4.2",
        status="in-progress",
        happened_at="2026-05-28T10:14:02Z",
        run_url="https://github.com/acme/repo/actions/runs/9491",
        run_number="9491",
        actor="alice",
        ref="refs/heads/main",
        sha="3f2c1a9",
        parent_deployments=["gh-9482-1"],
    )
    response = await client.post(
        "/api/deployments",
        json=body,
        headers={"X-Api-Key": reporter_key, "X-Progress-Reporter": REPORTER},
    )

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    stored = response.json()
    row_id = uuid.UUID(stored["id"])
    assert row_id.version == 7
    assert str(row_id) == stored["id"]
    assert response.headers["location"] == f"/api/deployments/{stored['id']}"
    assert {key: stored[key] for key in body} == body
    assert stored["progress_reporter"] == REPORTER

    fetched = await client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == stored
    listed = (await client.get("/api/deployments")).json()["items"]
    assert listed == [stored]


async def test_progress_reporter_is_absent_without_the_header(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    stored = await ingest(client, reporter_key, row())
    assert "progress_reporter" not in stored
    assert "progress_reporter" not in (await client.get(f"/api/deployments/{stored['id']}")).json()
    assert "progress_reporter" not in (await client.get("/api/deployments")).json()["items"][0]


async def test_every_post_appends_a_row_even_a_retried_identical_one(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    """No dedup: the same body twice is two rows with distinct, time-ordered ids."""
    first = await ingest(client, reporter_key, row())
    second = await ingest(client, reporter_key, row())
    assert first["id"] != second["id"]
    assert uuid.UUID(second["id"]).bytes > uuid.UUID(first["id"]).bytes
    items = (await client.get("/api/deployments", params={"deployment_id": "gh-1"})).json()
    assert [item["id"] for item in items["items"]] == [second["id"], first["id"]]


async def test_happened_at_with_an_offset_is_stored_as_the_same_instant_in_utc(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    stored = await ingest(client, reporter_key, row(happened_at="2026-05-28T12:14:02+02:00"))
    assert stored["happened_at"] == "2026-05-28T10:14:02Z"


async def test_integer_run_number_is_kept_as_its_digits(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    stored = await ingest(client, reporter_key, row(run_number=9482))
    assert stored["run_number"] == "9482"
    fetched = (await client.get(f"/api/deployments/{stored['id']}")).json()
    assert fetched["run_number"] == "9482"


# -- GET /api/deployments --------------------------------------------------------------

# (label, fields) in arrival order; "d5" shares d4's happened_at and arrives after it.
DATASET: list[tuple[str, dict[str, Any]]] = [
    ("r1", row(deployment_id="d-1", actor="alice", happened_at="2026-05-28T10:00:00Z")),
    (
        "r2",
        row(
            deployment_id="d-2",
            environment="prod",
            status="failure",
            actor="bob",
            happened_at="2026-05-28T10:05:00Z",
        ),
    ),
    (
        "r3",
        row(
            deployment_id="d-3",
            service="service-b",
            status="in-progress",
            actor="alice",
            ref="refs/heads/Hotfix-42",
            happened_at="2026-05-28T10:10:00Z",
        ),
    ),
    (
        "r4",
        row(
            deployment_id="d-3",
            service="service-b",
            actor="alice",
            ref="refs/heads/Hotfix-42",
            happened_at="2026-05-28T10:15:00Z",
        ),
    ),
    (
        "r5",
        row(
            deployment_id="d-4",
            service="service-b",
            environment="qa",
            status="queued",
            actor="carol",
            happened_at="2026-05-28T10:15:00Z",
        ),
    ),
    (
        "r6",
        row(
            deployment_id="d-5",
            service="service-c",
            environment="prod",
            status="waiting",
            actor="bob",
            happened_at="2026-05-28T09:00:00Z",
        ),
    ),
]
NEWEST_FIRST = ["r5", "r4", "r3", "r2", "r1", "r6"]


@pytest.fixture
async def dataset(client: httpx.AsyncClient, reporter_key: str) -> dict[str, str]:
    """The rows of DATASET ingested over HTTP: label → row id."""
    return {label: (await ingest(client, reporter_key, body))["id"] for label, body in DATASET}


async def listed_labels(
    client: httpx.AsyncClient, dataset: dict[str, str], params: dict[str, Any]
) -> list[str]:
    response = await client.get("/api/deployments", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    by_id = {row_id: label for label, row_id in dataset.items()}
    return [by_id[item["id"]] for item in page["items"]]


async def test_listing_is_newest_first_then_by_id(
    client: httpx.AsyncClient, dataset: dict[str, str]
) -> None:
    """happened_at DESC; r4 and r5 tie on happened_at, so the larger id (r5) comes first."""
    assert dataset["r5"] > dataset["r4"]
    assert await listed_labels(client, dataset, {}) == NEWEST_FIRST


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"service": "service-b"}, ["r5", "r4", "r3"]),
        ({"environment": "prod"}, ["r2", "r6"]),
        ({"status": "success"}, ["r4", "r1"]),
        ({"status": "in-progress"}, ["r3"]),
        ({"deployment_id": "d-3"}, ["r4", "r3"]),
        ({"actor": "alice"}, ["r4", "r3", "r1"]),
        ({"q": "hotfix"}, ["r4", "r3"]),
        ({"q": "carol"}, ["r5"]),
        ({"since": "2026-05-28T10:10:00Z"}, ["r5", "r4", "r3"]),
        ({"since": "2026-05-28T12:10:00+02:00"}, ["r5", "r4", "r3"]),
        ({"until": "2026-05-28T10:05:00Z"}, ["r1", "r6"]),
        ({"since": "2026-05-28T10:05:00Z", "until": "2026-05-28T10:15:00Z"}, ["r3", "r2"]),
        ({"service": "service-b", "status": "success"}, ["r4"]),
        ({"service": "nobody"}, []),
    ],
    ids=lambda value: (
        "&".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None
    ),
)
async def test_listing_filters(
    client: httpx.AsyncClient,
    dataset: dict[str, str],
    params: dict[str, str],
    expected: list[str],
) -> None:
    """since is inclusive, until exclusive; filters combine with AND."""
    assert await listed_labels(client, dataset, params) == expected


async def test_pages_walk_the_whole_listing_and_end_with_a_null_cursor(
    client: httpx.AsyncClient, reporter_key: str, dataset: dict[str, str]
) -> None:
    pages: list[list[str]] = []
    cursor: str | None = None
    by_id = {row_id: label for label, row_id in dataset.items()}
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await client.get("/api/deployments", params=params)).json()
        pages.append([by_id.get(item["id"], "new") for item in page["items"]])
        cursor = page["next_cursor"]
        if len(pages) == 1:
            # A row arriving between pages does not shift the pages already walked into.
            await ingest(client, reporter_key, row(happened_at="2026-05-28T11:00:00Z"))
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert len(pages) < 10
    assert pages == [["r5", "r4"], ["r3", "r2"], ["r1", "r6"]]


async def test_cursor_pages_keep_their_filters(
    client: httpx.AsyncClient, dataset: dict[str, str]
) -> None:
    first = (await client.get("/api/deployments", params={"actor": "alice", "limit": 2})).json()
    assert [item["id"] for item in first["items"]] == [dataset["r4"], dataset["r3"]]
    second = (
        await client.get(
            "/api/deployments",
            params={"actor": "alice", "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    assert [item["id"] for item in second["items"]] == [dataset["r1"]]
    assert second["next_cursor"] is None


async def test_default_limit_is_100(client: httpx.AsyncClient, engine: Engine) -> None:
    for n in range(101):
        moment = f"2026-05-28T10:{n // 60:02d}:{n % 60:02d}Z"
        body = row(deployment_id=f"d-{n}", happened_at=moment)
        await engine.ingest(DeploymentEventIngest.model_validate_json(json.dumps(body)))
    first = (await client.get("/api/deployments")).json()
    assert len(first["items"]) == 100
    assert first["items"][0]["deployment_id"] == "d-100"
    second = (await client.get("/api/deployments", params={"cursor": first["next_cursor"]})).json()
    assert [item["deployment_id"] for item in second["items"]] == ["d-0"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, -1, 501])
async def test_limit_out_of_range_is_422(
    client: httpx.AsyncClient, dataset: dict[str, str], limit: int
) -> None:
    problem = assert_problem(await client.get("/api/deployments", params={"limit": limit}), 422)
    assert pointers(problem) == ["/limit"]


@pytest.mark.parametrize("limit", [1, 500])
async def test_limit_bounds_are_accepted(
    client: httpx.AsyncClient, dataset: dict[str, str], limit: int
) -> None:
    response = await client.get("/api/deployments", params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["items"]) == min(limit, len(DATASET))


async def test_empty_listing(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/deployments")
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


# -- GET /api/deployments/{id} ---------------------------------------------------------


async def test_get_one_row(client: httpx.AsyncClient, reporter_key: str) -> None:
    stored = await ingest(client, reporter_key, row(version="1.4.2"))
    response = await client.get(f"/api/deployments/{stored['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == stored
    # The id is a UUID: its upper-case spelling names the same row.
    upper = await client.get(f"/api/deployments/{stored['id'].upper()}")
    assert upper.status_code == 200
    assert upper.json()["id"] == stored["id"]


async def test_unknown_row_is_a_404_problem(client: httpx.AsyncClient) -> None:
    missing = "0197a3c2-0000-7000-8000-000000000000"
    problem = assert_problem(await client.get(f"/api/deployments/{missing}"), 404)
    assert problem["instance"] == f"/api/deployments/{missing}"


async def test_non_uuid_row_id_is_a_422_problem(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get("/api/deployments/gh-9482-1"), 422)
    assert pointers(problem) == ["/id"]


# -- GET /api/matrix -------------------------------------------------------------------


async def test_matrix_etag_is_weak_and_answers_304_until_the_log_moves(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    await ingest(client, reporter_key, row())
    first = await client.get("/api/matrix")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"') and len(etag) > 4

    unchanged = await client.get("/api/matrix", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    other = await client.get("/api/matrix", headers={"If-None-Match": 'W/"something-else"'})
    assert other.status_code == 200

    await ingest(client, reporter_key, row(environment="prod", version="2.0.0"))
    changed = await client.get("/api/matrix", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    slots = changed.json()["rows"][0]["slots"]
    assert slots["prod"]["current"]["version"] == "2.0.0"
    again = await client.get("/api/matrix", headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


async def test_matrix_service_filter_returns_only_that_row(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    await ingest(client, reporter_key, row(service="service-a"))
    await ingest(client, reporter_key, row(service="service-b", environment="prod"))
    await ingest(client, reporter_key, row(service="service-c"))

    everything = (await client.get("/api/matrix")).json()
    assert [r["service"] for r in everything["rows"]] == ["service-a", "service-b", "service-c"]

    only_b = await client.get("/api/matrix", params={"service": "service-b"})
    assert only_b.status_code == 200
    rows = only_b.json()["rows"]
    assert [r["service"] for r in rows] == ["service-b"]
    assert list(rows[0]["slots"]) == ["prod"]
    assert rows[0]["slots"]["prod"]["current"]["service"] == "service-b"

    nobody = (await client.get("/api/matrix", params={"service": "nobody"})).json()
    assert nobody["rows"] == []


async def test_empty_matrix(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/matrix")
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == [] and body["environments"] == []
    assert datetime.fromisoformat(body["generated_at"].replace("Z", "+00:00")).tzinfo


# -- discovery -------------------------------------------------------------------------


async def test_services_are_distinct_and_sorted(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    for service in ["svc-z", "checkout-api", "svc-a", "checkout-api"]:
        await ingest(client, reporter_key, row(service=service))
    response = await client.get("/api/services")
    assert response.status_code == 200
    assert response.json() == {"items": ["checkout-api", "svc-a", "svc-z"]}


async def test_environments_follow_the_conventional_order_then_the_alphabet(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    names = ["prod", "zeta", "dev", "alpha", "uat", "qa", "production", "staging"]
    names += ["test", "preprod", "dev"]
    for name in names:
        await ingest(client, reporter_key, row(environment=name))
    expected = ["dev", "test", "qa", "staging", "uat", "preprod", "prod", "production"]
    expected += ["alpha", "zeta"]
    response = await client.get("/api/environments")
    assert response.status_code == 200
    assert response.json() == {"items": expected}
    assert (await client.get("/api/matrix")).json()["environments"] == expected


async def test_configured_environments_come_first_in_their_order(db_url: str) -> None:
    config = EngineConfig(environments=[{"name": "staging"}, {"name": "canary"}, {"name": "dev"}])
    async with configured(db_url, config) as engine, app_client(engine) as client:
        _, key = await engine.keys.create("ci", Role.REPORTER)
        for name in ["prod", "dev", "zeta", "qa", "staging"]:
            await ingest(client, key, row(environment=name))
        # `canary` has no rows yet, but it is configured, so it is a column.
        expected = ["staging", "canary", "dev", "qa", "prod", "zeta"]
        assert (await client.get("/api/environments")).json() == {"items": expected}
        matrix = (await client.get("/api/matrix")).json()
        assert matrix["environments"] == expected
        assert list(matrix["rows"][0]["slots"]) == ["staging", "dev", "qa", "prod", "zeta"]


# -- /api/fetcher/state/{adapter} ------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_fetcher_state_needs_a_key(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(
        method, "/api/fetcher/state/github-actions", json={"cursor": "abc"}
    )
    assert_problem(response, 401)


async def test_fetcher_state_lifecycle(client: httpx.AsyncClient, reporter_key: str) -> None:
    url = "/api/fetcher/state/github-actions"
    auth = {"X-Api-Key": reporter_key}
    assert_problem(await client.get(url, headers=auth), 404)

    cursor = "eyJyZXBvIjoiYWNtZS9hcGkiLCJzaW5jZSI6Ijk0ODIifQ=="
    put = await client.put(url, json={"cursor": cursor}, headers=auth)
    assert put.status_code == 204
    assert put.content == b""

    got = await client.get(url, headers=auth)
    assert got.status_code == 200
    first = got.json()
    assert first["adapter"] == "github-actions"
    assert first["cursor"] == cursor
    first_at = datetime.fromisoformat(first["updated_at"].replace("Z", "+00:00"))
    assert first_at.utcoffset() is not None

    assert (await client.put(url, json={"cursor": "second"}, headers=auth)).status_code == 204
    latest = (await client.get(url, headers=auth)).json()
    assert latest["cursor"] == "second"
    assert datetime.fromisoformat(latest["updated_at"].replace("Z", "+00:00")) >= first_at

    # Adapters are independent.
    assert_problem(await client.get("/api/fetcher/state/azure-devops", headers=auth), 404)


async def test_fetcher_cursor_is_opaque_and_stored_verbatim(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    url = "/api/fetcher/state/jenkins"
    auth = {"X-Api-Key": reporter_key}
    cursor = '{"not": "parsed"} \u00e9\u2603 \\n <script>'
    assert (await client.put(url, json={"cursor": cursor}, headers=auth)).status_code == 204
    assert (await client.get(url, headers=auth)).json()["cursor"] == cursor


async def test_fetcher_cursor_of_exactly_8_kib_is_stored_and_one_byte_more_is_413(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    url = "/api/fetcher/state/github-actions"
    auth = {"X-Api-Key": reporter_key}
    exact = "c" * 8192
    assert (await client.put(url, json={"cursor": exact}, headers=auth)).status_code == 204
    assert (await client.get(url, headers=auth)).json()["cursor"] == exact

    assert_problem(await client.put(url, json={"cursor": exact + "c"}, headers=auth), 413)
    # The refused write did not replace the stored cursor.
    assert (await client.get(url, headers=auth)).json()["cursor"] == exact


@pytest.mark.parametrize("adapter", ["GitHub", "-github", "git_hub", "a" * 65, "gh.actions"])
async def test_fetcher_adapter_must_be_lowercase_kebab(
    client: httpx.AsyncClient, reporter_key: str, adapter: str
) -> None:
    auth = {"X-Api-Key": reporter_key}
    url = f"/api/fetcher/state/{adapter}"
    assert pointers(assert_problem(await client.get(url, headers=auth), 422)) == ["/adapter"]
    put = await client.put(url, json={"cursor": "x"}, headers=auth)
    assert pointers(assert_problem(put, 422)) == ["/adapter"]


async def test_fetcher_adapter_of_64_characters_is_accepted(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    url = f"/api/fetcher/state/{'a' * 64}"
    put = await client.put(url, json={"cursor": "x"}, headers={"X-Api-Key": reporter_key})
    assert put.status_code == 204


# -- ops -------------------------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_the_store_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] and set(body["checks"].values()) == {"ok"}


async def test_readyz_is_a_503_problem_when_the_store_fails(
    client: httpx.AsyncClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(engine.store, "ping", broken)
    response = await client.get("/readyz")
    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()
    assert (await client.get("/healthz")).status_code == 200


# -- authentication and errors ---------------------------------------------------------

WRITES = [
    ("POST", "/api/deployments", BASE),
    ("PUT", "/api/fetcher/state/github-actions", {"cursor": "abc"}),
    ("GET", "/api/fetcher/state/github-actions", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), WRITES, ids=["ingest", "put-cursor", "get-cursor"]
)
@pytest.mark.parametrize(
    "key",
    [None, "", "not-a-key", "sdk_000000000000_wrong-secret", "tamper"],
    ids=["missing", "empty", "garbage", "unknown", "tampered"],
)
async def test_writes_without_a_valid_key_are_401_and_never_echo_it(
    client: httpx.AsyncClient,
    reporter_key: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    key: str | None,
) -> None:
    if key == "tamper":
        key = reporter_key[:-1] + ("A" if reporter_key[-1] != "A" else "B")
    headers = {} if key is None else {"X-Api-Key": key}
    response = await client.request(method, path, json=body, headers=headers)
    assert_problem(response, 401)
    if key:
        assert key not in response.text
    assert reporter_key not in response.text
    # Nothing was written.
    assert (await client.get("/api/deployments")).json()["items"] == []
    stored = await client.get(WRITES[1][1], headers={"X-Api-Key": reporter_key})
    assert stored.status_code == 404


async def test_a_valid_key_never_appears_in_any_response(
    client: httpx.AsyncClient, reporter_key: str
) -> None:
    auth = {"X-Api-Key": reporter_key}
    responses = [
        await client.post("/api/deployments", json=BASE, headers=auth),
        await client.post("/api/deployments", json={"bad": 1}, headers=auth),
        await client.put("/api/fetcher/state/gh", json={"cursor": "x"}, headers=auth),
        await client.get("/api/fetcher/state/gh", headers=auth),
        await client.get("/api/fetcher/state/nothing-yet", headers=auth),
        await client.get("/api/deployments", headers=auth),
        await client.get("/api/matrix", headers=auth),
        await client.get("/api/no-such-thing", headers=auth),
    ]
    assert [r.status_code for r in responses] == [201, 422, 204, 200, 404, 200, 200, 404]
    for response in responses:
        assert reporter_key not in response.text
        assert reporter_key not in str(response.headers)


@pytest.mark.parametrize("path", ["/api/nope", "/api/deployments/x/y", "/", "/api/control/nope"])
async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/deployments", {"GET", "POST"}),
        ("PUT", "/api/deployments", {"GET", "POST"}),
        ("POST", "/api/matrix", {"GET"}),
        ("PATCH", "/api/fetcher/state/github-actions", {"GET", "PUT"}),
        ("DELETE", "/api/fetcher/state/github-actions", {"GET", "PUT"}),
        ("POST", "/healthz", {"GET"}),
        ("GET", "/api/control/reset", {"POST"}),
    ],
)
async def test_wrong_method_is_a_405_problem(
    client: httpx.AsyncClient, reporter_key: str, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path, headers={"X-Api-Key": reporter_key})
    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


async def test_reads_can_be_closed_to_callers_without_a_key(db_url: str) -> None:
    config = EngineConfig(auth={"read": "key"})
    async with configured(db_url, config) as engine, app_client(engine) as client:
        _, viewer = await engine.keys.create("dashboard", Role.VIEWER)
        _, reporter = await engine.keys.create("ci", Role.REPORTER)
        stored = await ingest(client, reporter, row())
        reads = [
            "/api/matrix",
            "/api/deployments",
            f"/api/deployments/{stored['id']}",
            "/api/services",
            "/api/environments",
        ]
        for path in reads:
            assert_problem(await client.get(path), 401)
            assert_problem(await client.get(path, headers={"X-Api-Key": "sdk_x_y"}), 401)
            allowed = await client.get(path, headers={"X-Api-Key": viewer})
            assert allowed.status_code == 200, path
        matrix = await client.get("/api/matrix", headers={"X-Api-Key": viewer})
        assert matrix.json()["rows"][0]["slots"]["dev"]["current"]["id"] == stored["id"]
        # Probes stay open: orchestrators hold no key.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


async def test_open_reads_need_no_key(client: httpx.AsyncClient) -> None:
    for path in ["/api/matrix", "/api/deployments", "/api/services", "/api/environments"]:
        assert (await client.get(path)).status_code == 200, path


async def test_a_viewer_key_may_not_write(client: httpx.AsyncClient, engine: Engine) -> None:
    _, viewer = await engine.keys.create("dashboard", Role.VIEWER)
    auth = {"X-Api-Key": viewer}
    response = await client.post("/api/deployments", json=BASE, headers=auth)
    problem = assert_problem(response, 403)
    assert viewer not in response.text
    assert "viewer" in problem["detail"]
    put = await client.put("/api/fetcher/state/gh", json={"cursor": "x"}, headers=auth)
    assert_problem(put, 403)
    assert (await client.get("/api/deployments")).json()["items"] == []


async def test_metrics_in_prometheus_text(client: httpx.AsyncClient, engine: Engine) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert f"shipdeck_event_head {float(engine.head)}" in lines
    for name in (
        "shipdeck_stream_subscribers",
        "shipdeck_log_followers",
        "shipdeck_executor_running",
        "shipdeck_asyncio_tasks",
        "shipdeck_python_heap_blocks",
        "process_resident_memory_bytes",
    ):
        assert any(line.startswith(name + " ") for line in lines), name
