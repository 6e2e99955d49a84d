"""Malformed requests: one table, each row the 4xx problem the contract promises.

Every answer is `application/problem+json` with `type`, `title` and a `status` equal to
the HTTP status; `422`s name the offending part with JSON Pointers in `errors[]` (`""`
for the body as a whole). Nothing a malformed request sends is stored, and nothing in the
table may make the server fail (5xx).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shipdeck.engine import Engine
from shipdeck.server import create_app

INGEST = "/api/deployments"
CURSOR_URL = "/api/fetcher/state/github-actions"

BASE: dict[str, Any] = {
    "deployment_id": "gh-1",
    "service": "service-a",
    "environment": "dev",
    "status": "success",
    "happened_at": "2026-05-28T09:42:17Z",
}


@dataclass(frozen=True)
class Bad:
    """One malformed request and the answer it must get."""

    method: str
    path: str
    status: int
    pointers: tuple[str, ...] | None = None
    """The exact `errors[].pointer`s of a `422` (None: not checked)."""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    with_key: bool = True
    """Send the reporter's key (most rows test validation, not authentication)."""
    streamed: bool = False
    """Send the body in chunks without a Content-Length."""


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in BASE.items() if k != name}


def ingest(
    body: Any, pointer: str | None, status: int = 422, *, raw: bool = False, **kw: Any
) -> Bad:
    """A POST /api/deployments row; `body` is JSON-encoded unless `raw`."""
    content = body if raw else json.dumps(body).encode()
    pointers = None if pointer is None else (pointer,)
    return Bad("POST", INGEST, status, pointers, content, **kw)


def listing(query: str, pointer: str) -> Bad:
    return Bad("GET", f"{INGEST}?{query}", 422, (pointer,))


def cursor_put(body: bytes, pointer: str | None, status: int = 422, path: str = CURSOR_URL) -> Bad:
    return Bad("PUT", path, status, None if pointer is None else (pointer,), body)


def _huge_cursor() -> str:
    raw = json.dumps([10**30, "0197a3c2-0000-7000-8000-000000000000"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


TABLE: dict[str, Bad] = {
    # -- POST /api/deployments: the body's fields ------------------------------------
    "unknown-field": ingest({**BASE, "unknown_field": 1}, "/unknown_field"),
    "server-assigned-id-in-body": ingest({**BASE, "id": "x"}, "/id"),
    "progress-reporter-in-body": ingest({**BASE, "progress_reporter": "a/b"}, "/progress_reporter"),
    **{
        f"missing-{name}": ingest(without(name), f"/{name}")
        for name in ["deployment_id", "service", "environment", "status", "happened_at"]
    },
    "required-field-null": ingest({**BASE, "service": None}, "/service"),
    "status-not-in-enum": ingest({**BASE, "status": "done"}, "/status"),
    "status-wrong-case": ingest({**BASE, "status": "SUCCESS"}, "/status"),
    "happened-at-without-offset": ingest(
        {**BASE, "happened_at": "2026-05-28T09:42:17"}, "/happened_at"
    ),
    "happened-at-not-a-date": ingest({**BASE, "happened_at": "yesterday"}, "/happened_at"),
    "happened-at-date-only": ingest({**BASE, "happened_at": "2026-05-28"}, "/happened_at"),
    "happened-at-a-number": ingest({**BASE, "happened_at": 1779961337}, "/happened_at"),
    "happened-at-month-13": ingest({**BASE, "happened_at": "2026-13-28T09:42:17Z"}, "/happened_at"),
    "happened-at-beyond-year-9999-in-utc": ingest(
        {**BASE, "happened_at": "9999-12-31T23:59:59-23:59"}, "/happened_at"
    ),
    "happened-at-before-year-1-in-utc": ingest(
        {**BASE, "happened_at": "0001-01-01T00:00:00+01:00"}, "/happened_at"
    ),
    "service-a-number": ingest({**BASE, "service": 42}, "/service"),
    "status-a-number": ingest({**BASE, "status": 1}, "/status"),
    "parent-deployments-a-string": ingest(
        {**BASE, "parent_deployments": "gh-1"}, "/parent_deployments"
    ),
    "parent-deployments-item-a-number": ingest(
        {**BASE, "parent_deployments": ["gh-0", 5]}, "/parent_deployments/1"
    ),
    "parent-deployments-over-32": ingest(
        {**BASE, "parent_deployments": [f"gh-{n}" for n in range(33)]}, "/parent_deployments"
    ),
    "parent-deployments-duplicates": ingest(
        {**BASE, "parent_deployments": ["gh-0", "gh-0"]}, "/parent_deployments"
    ),
    "run-number-a-float": ingest({**BASE, "run_number": 9482.5}, "/run_number"),
    "run-number-a-bool": ingest({**BASE, "run_number": True}, "/run_number"),
    "run-number-an-object": ingest({**BASE, "run_number": {"n": 1}}, "/run_number"),
    "run-number-over-128-digits": ingest({**BASE, "run_number": 10**130}, "/run_number"),
    "version-over-50": ingest({**BASE, "version": "1" * 51}, "/version"),
    "deployment-id-over-200": ingest({**BASE, "deployment_id": "d" * 201}, "/deployment_id"),
    "service-over-128": ingest({**BASE, "service": "s" * 129}, "/service"),
    "environment-over-64": ingest({**BASE, "environment": "e" * 65}, "/environment"),
    "empty-deployment-id": ingest({**BASE, "deployment_id": ""}, "/deployment_id"),
    "empty-service": ingest({**BASE, "service": ""}, "/service"),
    "empty-environment": ingest({**BASE, "environment": ""}, "/environment"),
    "run-url-not-a-uri": ingest({**BASE, "run_url": "not a url"}, "/run_url"),
    # -- POST /api/deployments: the body as a whole ----------------------------------
    "invalid-json": ingest(b'{"service": "service-a",', "", raw=True),
    "json-array-body": ingest([BASE], ""),
    "json-string-body": ingest("hello", ""),
    "json-null-body": ingest(None, ""),
    "empty-body": ingest(b"", "", raw=True),
    "invalid-utf8-bytes": ingest(b'{"service": "\xff\xfe"}', "", raw=True),
    "body-over-64-kib": ingest({**BASE, "message": "x" * 70_000}, None, 413),
    "body-over-64-kib-streamed": ingest(
        {**BASE, "message": "x" * 70_000}, None, 413, streamed=True
    ),
    # -- POST /api/deployments: headers ---------------------------------------------
    "progress-reporter-not-kebab": ingest(
        BASE, "/X-Progress-Reporter", headers={"X-Progress-Reporter": "Dashboard Fetcher"}
    ),
    "progress-reporter-over-128": ingest(
        BASE, "/X-Progress-Reporter", headers={"X-Progress-Reporter": "a" * 129}
    ),
    "ingest-without-key": ingest(BASE, None, 401, with_key=False),
    "ingest-with-unknown-key": ingest(
        BASE, None, 401, with_key=False, headers={"X-Api-Key": "sdk_abc_def"}
    ),
    # -- GET /api/deployments -------------------------------------------------------
    "list-status-not-in-enum": listing("status=done", "/status"),
    "list-since-not-a-date": listing("since=yesterday", "/since"),
    "list-since-without-offset": listing("since=2026-05-28T09:42:17", "/since"),
    "list-until-not-a-date": listing("until=2026-99-99", "/until"),
    "list-since-out-of-range": listing("since=9999-12-31T23:59:59-23:59", "/since"),
    "list-cursor-garbage": listing("cursor=not-a-cursor", "/cursor"),
    "list-cursor-out-of-range": listing(f"cursor={_huge_cursor()}", "/cursor"),
    "list-limit-not-a-number": listing("limit=abc", "/limit"),
    "list-limit-zero": listing("limit=0", "/limit"),
    "list-limit-over-500": listing("limit=501", "/limit"),
    "get-id-not-a-uuid": Bad("GET", f"{INGEST}/gh-9482-1", 422, ("/id",)),
    # -- /api/fetcher/state/{adapter} -----------------------------------------------
    "cursor-not-json": cursor_put(b"cursor=abc", ""),
    "cursor-body-an-array": cursor_put(b'["abc"]', ""),
    "cursor-empty-body": cursor_put(b"", ""),
    "cursor-unknown-field": cursor_put(b'{"cursor": "abc", "since": 1}', "/since"),
    "cursor-not-a-string": cursor_put(b'{"cursor": 9482}', "/cursor"),
    "cursor-null": cursor_put(b'{"cursor": null}', "/cursor"),
    "cursor-missing": cursor_put(b"{}", "/cursor"),
    "cursor-over-8-kib": cursor_put(json.dumps({"cursor": "c" * 8193}).encode(), None, 413),
    "adapter-not-kebab": cursor_put(
        b'{"cursor": "abc"}', "/adapter", path="/api/fetcher/state/GitHub_Actions"
    ),
    "cursor-without-key": Bad("PUT", CURSOR_URL, 401, None, b'{"cursor": "abc"}', with_key=False),
    # -- anywhere -------------------------------------------------------------------
    "unknown-path": Bad("GET", "/api/deployment", 404),
    "wrong-method": Bad("DELETE", INGEST, 405),
}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


async def send(client: httpx.AsyncClient, key: str, case: Bad) -> httpx.Response:
    headers = {"Content-Type": "application/json", **case.headers}
    if case.with_key:
        headers["X-Api-Key"] = key
    content: bytes | AsyncIterator[bytes] | None = case.body
    if case.streamed and case.body is not None:
        content = _chunks(case.body)
    return await client.request(case.method, case.path, content=content, headers=headers)


@pytest.mark.parametrize("name", list(TABLE))
async def test_malformed_request_gets_its_problem(
    client: httpx.AsyncClient, reporter_key: str, name: str
) -> None:
    case = TABLE[name]
    response = await send(client, reporter_key, case)

    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert isinstance(problem["type"], str) and problem["type"]
    assert isinstance(problem["title"], str) and problem["title"]
    assert problem["status"] == case.status
    assert reporter_key not in response.text
    if case.pointers is not None:
        errors = problem["errors"]
        assert [error["pointer"] for error in errors] == list(case.pointers)
        assert all(isinstance(e["message"], str) and e["message"] for e in errors)

    # A refused request leaves nothing behind.
    assert (await client.get(INGEST)).json()["items"] == []
    stored = await client.get(CURSOR_URL, headers={"X-Api-Key": reporter_key})
    assert stored.status_code == 404


async def test_no_malformed_request_makes_the_server_fail(
    engine: Engine, reporter_key: str
) -> None:
    """Every row at once, with server errors answered rather than raised, to list them all."""
    app = create_app(engine)
    app.state.engine = engine
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    failures = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://shipdeck.test") as client:
        for name, case in TABLE.items():
            response = await send(client, reporter_key, case)
            if response.status_code >= 500:
                failures[name] = response.status_code
    assert failures == {}
    assert len(TABLE) >= 30


async def test_the_table_is_not_vacuous(client: httpx.AsyncClient, reporter_key: str) -> None:
    """The valid requests the table is built from are accepted, so each row fails for
    the one reason it names."""
    accepted = await send(client, reporter_key, ingest(BASE, None, 201))
    assert accepted.status_code == 201, accepted.text
    with_reporter = ingest(BASE, None, headers={"X-Progress-Reporter": "dashboard-fetcher/gh"})
    assert (await send(client, reporter_key, with_reporter)).status_code == 201
    big_but_fine = ingest({**BASE, "message": "x" * 4000}, None)
    assert (await send(client, reporter_key, big_but_fine)).status_code == 201
    put = cursor_put(json.dumps({"cursor": "c" * 8192}).encode(), None)
    assert (await send(client, reporter_key, put)).status_code == 204
